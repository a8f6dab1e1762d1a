"""A pull request the hub sent back (the task's `rework` field): the sidecar takes it up on the
PR's own branch when the rework names this agent and the branch is still on the remote. A
conflict or a branch behind its base is brought up to date here (`update`); a failed check or
requested changes leave the branch as the remote has it, for the agent to fix.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sidecar.gitflow.basebranch import BASE_NAME, find_base
from sidecar.gitflow.flow import DirtyTree, TaskInfo, belongs, branch_name, branch_prefix, uncommitted
from sidecar.gitflow.gitrun import git, run_git
from sidecar.gitflow.update import Updated, merging, unmerged, update

KINDS = ("conflict", "behind", "check", "changes")
UPDATES = ("conflict", "behind")   # kinds the sidecar tries to settle itself
DETAIL_MAX = 8000
URL_MAX = 2000


@dataclass(frozen=True)
class Rework:
    kind: str
    pr: int | None
    url: str
    branch: str
    base: str
    detail: str
    count: int

    @classmethod
    def of(cls, task: dict, agent: str) -> Rework | None:
        """The task's rework if it names this agent and this task's own branch, else None (the
        task then runs as any other: on a fresh branch, with a new pull request)."""
        doc = task.get("rework") if isinstance(task, dict) else None
        if not isinstance(doc, dict) or doc.get("agent") != agent or doc.get("kind") not in KINDS:
            return None
        branch, base = str(doc.get("branch") or ""), str(doc.get("base") or "")
        if base and (not BASE_NAME.fullmatch(base) or ".." in base):  # none given: the run's own base
            return None
        info = TaskInfo.of(task)
        # only a branch named as this agent names this task's: the sidecar pushes to it
        if branch not in (branch_prefix(agent, info.id), branch_name(agent, info)):
            return None
        pr = doc.get("pr")
        count = doc.get("count")
        return cls(doc["kind"], pr if isinstance(pr, int) and not isinstance(pr, bool) else None,
                   str(doc.get("url") or "")[:URL_MAX], branch, base, str(doc.get("detail") or "")[:DETAIL_MAX],
                   count if isinstance(count, int) and not isinstance(count, bool) else 1)


@dataclass(frozen=True)
class Plan:
    """What a rework run does once its branch is checked out: `wake` the agent (with the
    conflicts to resolve, if any), or not (the branch was brought up to date here)."""
    rework: Rework
    wake: bool
    how: str = ""                      # for conflict and behind: what `update` did
    conflicts: tuple[str, ...] = ()

    def notes(self) -> dict:
        r = self.rework
        return {"kind": r.kind, "pr": r.pr, "url": r.url, "base": r.base, "detail": r.detail, "count": r.count,
                "wake": self.wake, "how": self.how, "conflicts": list(self.conflicts)}


def take_up(work: Path, rework: Rework, branch: str, task: TaskInfo, agent: str, *,
            remote: str = "origin", base: str = "") -> Plan | None:
    """On the branch start-task checked out: None unless it is the rework's branch and the
    remote still has it (deleted after a close: the run starts afresh as any other). Else the
    plan: for a conflict or a behind branch, the branch brought up to date with the remote's
    base (fetched just now), or a merge left in progress for the agent; for a failed check or
    requested changes, the branch as it is."""
    if branch != rework.branch or not belongs(work, branch, agent, task):
        return None
    if run_git(work, "rev-parse", "-q", "--verify", f"refs/remotes/{remote}/{branch}^{{commit}}").returncode != 0:
        return None
    if not rework.base:  # the hub names the PR's base; else the one this run's branch was found on
        rework = replace(rework, base=base or find_base(work, remote, None, ask=False))
    if rework.kind not in UPDATES:
        return Plan(rework, wake=True)
    if merging(work):  # a run of this rework lost mid-merge: the agent carries on with it
        return Plan(rework, wake=True, how="conflicts", conflicts=unmerged(work))
    dirty = uncommitted(work)
    if dirty:
        raise DirtyTree(work, dirty)
    git(work, "fetch", "--quiet", remote, f"+refs/heads/{rework.base}:refs/remotes/{remote}/{rework.base}")
    done: Updated = update(work, f"refs/remotes/{remote}/{rework.base}")
    return Plan(rework, wake=not done.clean, how=done.how, conflicts=done.conflicts)
