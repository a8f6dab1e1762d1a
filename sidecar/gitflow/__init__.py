"""The git workflow in a target repo's clone: a task branch, a pushed branch with its pull request,
where a clone stands (`flow`), git run bounded and by argv (`gitrun`), and an agent's clone per
target (`workspace`). Its verbs live in `sidecar.runtime.gitcli`, since they read the sidecar's
config; nothing here imports the runtime.
"""
