"""Forges: where pull requests live. `base` holds the `Forge` protocol and its data; `github`
talks to GitHub's REST API; `local` keeps PRs on a bare repo on the hub's machine, through the
hub's API only (it never opens a repo); `changedfiles` turns a git diff into GitHub's
changed-files items [pure]. Nothing here imports `repo/` or `hub/`: a sidecar loads this package.
"""
from __future__ import annotations

KINDS = ("local", "github")


def connect(kind: str, remote: str, *, hub: str | None = None, token: str | None = None,
            github_api: str | None = None, github_token: str | None = None, task: str | None = None):
    """The forge of `kind` for the target repo `remote` (its clone URL or path); the local
    forge tells the hub which `task` a pull request is for."""
    from coordinator.forge.base import ForgeError

    if kind == "local":
        from coordinator.forge.local import LocalForge
        from coordinator.wire.client import HttpBackend

        if not hub:
            raise ForgeError("the local forge records pull requests through the hub: give its address")
        return LocalForge(HttpBackend(hub, token), remote, task)
    if kind == "github":
        from coordinator.forge.github import API, GitHubForge, repo_of

        return GitHubForge(repo_of(remote), github_token or "", github_api or API)
    raise ForgeError(f"unknown forge {kind!r}; use one of {', '.join(KINDS)}")
