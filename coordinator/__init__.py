"""AgentCom's coordinator: the hub that is the only writer of the coordination repo.

Pure modules (no I/O, no clock, no randomness of their own; a test scans their imports):
layout, times, plain, task, audit, seal, receive, transitions, view, scheduler, retry, agents,
protocol, sweeper, ledger, state, prs, forge.files, jsonbody (the one reader of JSON request bodies).
Everything else is an edge: gitrepo and branches (the only code that runs git), store (the only writer),
errors, lock, auth, historykey, config, intake, hub (with its fleet and overview mixins), metrics,
registry, watcher, service, web, client, hooks, repoinit, cli, prbook, forge (a protocol and two
forges: github, local).
The gatekeeper/ package lists its own pure modules. task reads its JSON Schema file once at
import; it does no other I/O.
"""
