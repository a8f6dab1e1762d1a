"""The `agentcom` verbs, the top layer: `commands` (the root click group and the coordinator's
verbs), `serve` (`agentcom hub`), `gatekeeper` (`agentcom gatekeeper`), `target` (`agentcom
target`: a target repo's protection) and `local` (how a verb reaches the coordinator: a running
hub over HTTP, or the repo itself for one call). The sidecar's verbs are added to the root group
by agentcom.py; nothing here imports the sidecar.
"""
