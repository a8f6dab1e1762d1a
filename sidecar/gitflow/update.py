"""Bringing a task's branch up to date with its base: a rebase when it applies cleanly, else a
merge left in progress with its conflict markers in the tree, for the agent to resolve. Git runs
by argv only; nothing of the task's text reaches it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sidecar.gitflow.gitrun import GitflowError, git, run_git

CONFLICTS_MAX = 200   # conflicted paths kept for the prompt


@dataclass(frozen=True)
class Updated:
    how: str                           # "up to date", "rebased", "merged" or "conflicts"
    conflicts: tuple[str, ...] = ()    # with "conflicts": the files the merge left unresolved

    @property
    def clean(self) -> bool:
        return self.how != "conflicts"


def merging(work: Path) -> bool:
    """Whether a merge is in progress in this checkout (MERGE_HEAD is set)."""
    return run_git(work, "rev-parse", "-q", "--verify", "MERGE_HEAD").returncode == 0


def unmerged(work: Path) -> tuple[str, ...]:
    """The paths git holds as conflicted, at most CONFLICTS_MAX."""
    out = git(work, "diff", "--name-only", "--diff-filter=U", "-z")
    return tuple(sorted({p for p in out.split("\0") if p}))[:CONFLICTS_MAX]


def update(work: Path, onto: str) -> Updated:
    """Bring HEAD (a branch, checked out clean) up to date with the commit `onto` (a full ref
    such as refs/remotes/origin/main). A rebase first; if it conflicts it is aborted and a merge
    (--no-ff --no-commit) is started instead: committed here when clean (an earlier merge already
    resolved what the rebase tripped over), left in progress with its conflicts otherwise."""
    if run_git(work, "merge-base", "--is-ancestor", onto, "HEAD").returncode == 0:
        return Updated("up to date")
    rebased = run_git(work, "rebase", "--quiet", "--no-autosquash", onto)
    if rebased.returncode == 0:
        return Updated("rebased")
    conflicted = bool(unmerged(work))
    run_git(work, "rebase", "--abort")
    if not conflicted:
        raise GitflowError(f"git rebase failed in {work}: {(rebased.stderr or rebased.stdout).strip()[:1000]}")
    merged = run_git(work, "merge", "--quiet", "--no-ff", "--no-commit", onto)
    conflicts = unmerged(work)
    if conflicts:
        return Updated("conflicts", conflicts)
    if merged.returncode != 0:
        run_git(work, "merge", "--abort")
        raise GitflowError(f"git merge failed in {work}: {(merged.stderr or merged.stdout).strip()[:1000]}")
    git(work, "commit", "--quiet", "--no-edit")
    return Updated("merged")
