"""The sidecar: one always-on process beside each agent. It takes the hub's notifications,
pulls its work, runs the configured agent command, watches it, and reports back.

One folder per layer, each importing only those before it (tests/test_layers.py checks):

  gitflow   the git workflow on a target repo: branches, worktrees, submit through a forge
  runtime   the sidecar itself: the reconcile pass, the notification endpoint, runs, outbox
  onboard   `add-agent` and `remove-agent`: an agent set up on its machine, or taken away
  fleet     a development harness: a whole local fleet for `agentcom demo` and `agentcom smoke`

From the coordinator it imports only the wire and the forges, never the repo or the hub, and the
coordinator never imports it. Every fact it needs after a crash is on disk under its state
directory (`runs`, `outbox`).
"""
