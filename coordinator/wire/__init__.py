"""The wire: what a sidecar, or any client of the hub, may use. Errors, times, the plain-data
model, the protocol's JSON shapes, the one JSON body reader, the bounded HTTP server and the
HTTP client. It imports nothing else of ours, and never pygit2, Flask or anything that writes
the coordination repo.
"""
