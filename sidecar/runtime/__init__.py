"""The sidecar at run time: the reconcile pass (`reconcile`), the loop and `sidecar poll`
(`daemon`), the notification endpoint (`server`), its config, the run folders, the outbox, the
launch of the wrapper (`wrap`, standard library only) and `agentcom-report` (`report`, the same).
It may use the git workflow, the coordinator's wire and its forges; never pygit2, the repo, the
onboarding or the local fleet.
"""
