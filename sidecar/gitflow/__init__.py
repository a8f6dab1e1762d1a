"""The git workflow on a target repo: branch names, `start_task`, `submit`, `status` (`flow`), and a
clone per target repo with a worktree per task (`workspace`). Git runs through argv lists. It
imports only the coordinator's wire and forges.
"""
