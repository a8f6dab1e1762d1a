"""A target's base branch, found rather than configured: the branch the remote's HEAD names,
asked of the remote on each start and submit and kept in refs/remotes/REMOTE/HEAD (as
`git remote set-head --auto` would), unless a base is given as an override. A base the remote
lacks is a permanent failure whose message names the remote's branches and the setting to change.
"""
from __future__ import annotations

import re
from pathlib import Path

from sidecar.gitflow.gitrun import GitflowError, git, run_git

BRANCHES_SHOWN = 10
BASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")   # the sidecar config's rule for base_branch
TASK_BRANCHES = "agent/"   # the workflow's own branches (flow.PREFIX): never a base, left out of a listing


class MissingBase(GitflowError):
    """The base branch is not on the remote (or the remote's HEAD names none): every run would
    fail alike until the setting or the remote changes."""

    permanent = True

    def __init__(self, remote: str, base: str | None, head: str | None, branches: list[str]):
        self.remote, self.base, self.head, self.branches = remote, base, head, branches
        what = (f"the remote '{remote}' has no branch {base}" if base else
                f"the remote '{remote}' names no usable default branch (its HEAD leads "
                + (f"to {head[:200]!r}, which it lacks or which is no branch name taken here)" if head else
                   "to no branch)"))
        more = len(branches) - BRANCHES_SHOWN
        has = ", ".join(branches[:BRANCHES_SHOWN]) + (f" and {more} more" if more > 0 else "")
        super().__init__(f"{what}; it has {'branches ' + has if branches else 'no branches besides task branches'}"
                         + (f" and its HEAD is {head}" if base and head else "")
                         + "; name the base: `base_branch: BRANCH` in the sidecar config (or `agentcom add-agent "
                         "NAME --base BRANCH`), or --base BRANCH for `agentcom git`")


def _sha(work: Path, ref: str) -> str | None:
    return git(work, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False).strip() or None


def _asked_head(work: Path, remote: str) -> str | None:
    """The branch the remote's HEAD names, asked of the remote now; None when it names none or
    does not say (some servers do not)."""
    done = run_git(work, "ls-remote", "--symref", remote, "HEAD")
    if done.returncode != 0:
        raise GitflowError(f"cannot ask the remote '{remote}' for its HEAD: {done.stderr.strip()[:300]}")
    for line in done.stdout.splitlines():
        m = re.fullmatch(r"ref: refs/heads/(\S+)\tHEAD", line)
        if m:
            return m.group(1)
    return None


def recorded_head(work: Path, remote: str) -> str | None:
    """The remote's HEAD as last recorded here (by a clone, or by `find_base`)."""
    ref = git(work, "symbolic-ref", "-q", f"refs/remotes/{remote}/HEAD", check=False).strip()
    prefix = f"refs/remotes/{remote}/"
    return ref[len(prefix):] if ref.startswith(prefix) else None


def remote_branches(work: Path, remote: str) -> list[str]:
    """The remote's branches as last fetched, task branches (agent/...) left out."""
    prefix = f"refs/remotes/{remote}/"
    refs = git(work, "for-each-ref", "--format=%(refname)", prefix).split()
    names = (ref[len(prefix):] for ref in refs)
    return [name for name in names if name != "HEAD" and not name.startswith(TASK_BRANCHES)]


def find_base(work: Path, remote: str, base: str | None, *, ask: bool = True) -> str:
    """The base branch: `base` when given, else the branch the remote's HEAD names (asked of the
    remote, and kept in refs/remotes/REMOTE/HEAD; without `ask`, as last kept). MissingBase
    (permanent) when the remote, as last fetched, has no such branch."""
    if base is not None:
        if _sha(work, f"refs/remotes/{remote}/{base}") is not None:
            return base
        raise MissingBase(remote, base, recorded_head(work, remote), remote_branches(work, remote))
    head = (_asked_head(work, remote) if ask else None) or recorded_head(work, remote)
    usable = head is not None and BASE_NAME.fullmatch(head) is not None and ".." not in head
    if usable and _sha(work, f"refs/remotes/{remote}/{head}") is not None:
        if ask and recorded_head(work, remote) != head:  # what `git remote set-head --auto` does
            git(work, "symbolic-ref", f"refs/remotes/{remote}/HEAD", f"refs/remotes/{remote}/{head}")
        return head
    raise MissingBase(remote, None, head, remote_branches(work, remote))
