"""The top: the click verbs (`commands`), the hub process (`serve`: the hub, the watcher, the
HTTP server and the review thread in one process) and `agentcom gatekeeper`. It may import any
layer of the coordinator, never the sidecar.
"""
