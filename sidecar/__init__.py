"""The sidecar: one always-on process beside each agent. It takes the hub's notifications,
pulls its work, runs the configured agent command, watches it, and reports back.

Pure modules (no I/O): `result`, `prompt` and `smokereport`. The sidecar imports only a small, named part of
the coordinator (errors, times, protocol, client, auth, lock, forge); the coordinator never imports it.
Every fact it needs after a crash is on disk under its state directory (`runs`, `outbox`).
`add-agent` and `remove-agent` (`onboard`) set an agent up on its machine, or take it away.
"""
