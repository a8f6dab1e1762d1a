"""A task's pull request, after its agent is done: the task waits in review/ while the PR is
open, goes to done/ when it is merged (whoever merged it), to cancelled/ when it is closed
unmerged, and back to the queue, on the same branch and the same PR, when the PR must change
(a conflict, a branch behind its base, a failed check, requested changes).

Writes run in a batch of the hub's loop (through `Batch`); `follows` and `reviewing` read.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from coordinator.core.layout import LIVE, State
from coordinator.core.prrecord import number_in_url, same_pr
from coordinator.core.view import View
from coordinator.forge.base import PrNotFound
from coordinator.hub.prbook import PrBook
from coordinator.hub.tasks import Tasks
from coordinator.wire.times import format_time

DETAIL_MAX = 8000     # a failing check's log or the review comments, as the prompt shows them
REWORK_KINDS = ("conflict", "behind", "check", "changes")


class PrLoop:
    """Owns the moves of tasks in review. `watched` is the repos whose pull requests the hub's
    gatekeeper follows (set when it starts); a local forge's PRs are followed always."""

    def __init__(self, view: View, tasks: Tasks, prs: PrBook, clock: Callable[[], datetime]):
        self.view, self.tasks, self.prs, self.clock = view, tasks, prs, clock
        self.watched: set[str] = set()

    def follows(self, task: dict, pr_url: str) -> bool:
        """Whether the hub will learn what becomes of this PR, so the task may wait in review:
        the gatekeeper watches the task's repo, or the PR is a local forge record of this task."""
        number = number_in_url(pr_url)
        if number is None:
            return False
        if "/api/prs/" not in pr_url:
            # a pull request of that very repo, which the gatekeeper watches (an agent's report names
            # it; another repo's PR is not one the hub would ever see settled)
            return bool(task.get("repo")) and task["repo"] in self.watched and _of_repo(pr_url, task["repo"])
        try:
            record = self.prs.get(number)
        except PrNotFound:
            return False
        return record.get("task") == task["id"] and record["repo"] == task.get("repo")

    def reviewing(self, repo: str | None = None) -> list[dict]:
        """Tasks in review (of `repo`): id, agent, repo, pr_url, oldest first."""
        rows = []
        for task_id, record in self.view.review.items():
            t = record.task or {}
            if repo is None or t.get("repo") == repo:
                rows.append({"id": task_id, "agent": t.get("agent"), "repo": t.get("repo"),
                             "pr_url": (t.get("result") or {}).get("pr_url"), "created_at": t.get("created_at")})
        return sorted(rows, key=lambda r: (r["created_at"] or "", r["id"]))

    def _in_review(self, task_id: str, pr_url: str, *, reworking: bool = False) -> dict | None:
        """The task if it waits in review on this very PR (or, with `reworking`, is back at work
        on it), else None (already settled, or it moved on: a repeat of the same news is harmless)."""
        record = self.view.review.get(task_id)
        if record is not None:
            task = self.tasks.load_task(record)
            return task if same_pr((task.get("result") or {}).get("pr_url"), pr_url) else None
        record = self.view.get(task_id)
        if not reworking or record is None or record.loc.state not in LIVE:
            return None
        task = self.tasks.load_task(record)
        return task if same_pr((task.get("rework") or {}).get("url"), pr_url) else None

    # --- writes (inside a batch) ---------------------------------------------------------

    def settle(self, task_id: str, pr_url: str, *, merged: bool, by: str, merge_sha: str | None = None,
               why: str = "") -> dict | None:
        """The PR was merged (task → done) or closed unmerged (task → cancelled, with the reason);
        so it is when its task is back at work on it (a human merged or closed it meanwhile)."""
        task = self._in_review(task_id, pr_url, reworking=True)
        if task is None:
            return None
        result = dict(task.get("result") or {})
        if merged:
            result.update(merged=True, merged_by=by, **({"merge_sha": merge_sha} if merge_sha else {}))
            return self.tasks.transition(task_id, State.DONE, reason=f"pull request merged by {by}",
                                         updates={"result": result})
        note = f"its pull request {pr_url} was closed without merging ({by}){': ' + why if why else ''}"
        result["merged"] = False
        return self.tasks.transition(task_id, State.CANCELLED, reason=note[:500],
                                     updates={"result": result, "last_error": note[:2000]})

    def send_back(self, task_id: str, pr_url: str, rework: dict, by: str) -> dict | None:
        """Back to the queue as a new attempt on the same branch and PR, with what to fix; the
        agent that ran it takes it while it is online. None if it is not in review on
        this PR (settled already, or sent back before)."""
        task = self._in_review(task_id, pr_url)
        if task is None:
            return None
        if rework.get("kind") not in REWORK_KINDS:
            raise ValueError(f"rework kind must be one of {', '.join(REWORK_KINDS)}")
        prior = task.get("rework") or {}
        count = int(prior.get("count", 0)) if same_pr(prior.get("url"), pr_url) else 0
        count += rework["kind"] != "behind"   # main moving on is nobody's fault: it does not use up the cap
        doc = {"kind": rework["kind"], "pr": number_in_url(pr_url), "url": pr_url,
               "branch": str(rework.get("branch") or ""), "base": str(rework.get("base") or "main"),
               "head_sha": str(rework.get("head_sha") or ""), "detail": str(rework.get("detail") or "")[:DETAIL_MAX],
               "count": count, "agent": task.get("agent"), "by": by, "at": format_time(self.clock())}
        first = doc["detail"].strip().splitlines()[0][:160] if doc["detail"].strip() else doc["kind"]
        return self.tasks.transition(task_id, State.QUEUED, reason=f"pull request sent back by {by} "
                                     f"({doc['kind']}, #{count}): {first}", updates={"rework": doc})


def _of_repo(pr_url: str, repo: str) -> bool:
    """Whether a forge's PR address is one of `repo`'s (GitHub: .../OWNER/NAME/pull/N)."""
    name = re.sub(r"\.git$", "", repo.rstrip("/"))
    name = "/".join(re.split(r"[/:]", name)[-2:])
    return f"/{name}/pull/" in pr_url
