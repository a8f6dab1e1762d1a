"""The sidecar itself: one reconcile pass (`reconcile`) run by the daemon or by `sidecar poll`,
the notification endpoint (`server`), the runs and the outbox it keeps on disk, the wrapper that
runs the agent command, and its verbs (`cli`: `sidecar`; `gitcli`: `git start-task|submit|status`).
Imports only `coordinator.wire`, `coordinator.forge` and `sidecar.gitflow`: never pygit2, the repo,
the onboarding or the local fleet.
"""
