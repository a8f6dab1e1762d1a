"""What a sidecar or any client may import: errors, times, plain data, the protocol's shapes, the
JSON body reader, the bounded web server (waitress) and the hub's HTTP client. Nothing here loads
git, the repo or the hub (a test checks the client).
"""
