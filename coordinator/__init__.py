"""AgentCom's coordinator: the hub that is the only writer of the coordination repo.

Pure modules (no I/O, no clock, no randomness of their own; a test scans their imports):
layout, times, task, audit, receive, transitions, view.
Everything else is an edge: gitrepo (the only module that runs git), store (the only writer),
lock, auth, config, intake, hub, web, client, hooks, cli.
"""
