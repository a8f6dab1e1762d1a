"""The sidecar: one always-on process beside each agent. It takes the hub's notifications,
pulls its work, runs the configured agent command, watches it, and reports back.

Folders, importing only downward: `gitflow` (the git workflow inside a target repo's clone) <
`runtime` (the sidecar itself, and the `sidecar`, `sidecar poll` and `git` verbs) < `onboard`
(`add-agent`, `remove-agent`: an agent set up on its machine, or taken away) < `fleet` (the local
demo and smoke fleet, a harness). Each folder's `cli` adds its verbs to the root command in
agentcom.py. Pure modules (no I/O): `runtime.result`, `runtime.prompt` and `fleet.smokereport`.

The runtime imports only `coordinator.wire` and `coordinator.forge`; the coordinator never imports
the sidecar. Every fact it needs after a crash is on disk under its state directory (`runs`, `outbox`).
"""
