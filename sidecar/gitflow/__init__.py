"""The git workflow in a target repo's clone: a task branch, a pushed branch with its pull request,
where a clone stands (`flow`), git run bounded and by argv (`gitrun`), an agent's clone per
target (`workspace`), a pull request sent back taken up on its own branch (`rework`) and a branch
brought up to date with its base by a rebase, else a merge left for the agent (`update`). Its
verbs live in `sidecar.runtime.gitcli`, since they read the sidecar's config; nothing here
imports the runtime.
"""
