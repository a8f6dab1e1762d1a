"""The hub's side of the local forge: opens, labels and comments on pull request records
(`prs/N.yaml`), each change one commit made in the hub's loop (through `Batch`), and reads them
back (from any thread).

Records are read from `prs/` once, into an index kept with the tree id it was read from; the
hub's own writes carry it over, so neither a request nor a new PR walks every record.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from coordinator.core.prrecord import (
    COMMENT_MAX,
    PRS_DIR,
    label_problems,
    new_record,
    number_of,
    path_of,
    record_problems,
    request_problems,
    text_problems,
    with_close,
    with_comment,
    with_head_deleted,
    with_labels,
    with_merge,
    with_reviewers,
    with_status,
    without_label,
)
from coordinator.core.task import dump_any, load
from coordinator.core.trailers import event_message
from coordinator.forge.base import ForgeError, PrExists, PrNotFound
from coordinator.hub import prtarget
from coordinator.hub.batch import Journal
from coordinator.hub.tasks import Tasks
from coordinator.repo.gitrepo import GitRepo
from coordinator.repo.store import Store
from coordinator.wire.errors import InvalidTask, TaskNotFound, UsageError
from coordinator.wire.times import format_time

RECORD_MAX = 16 << 20  # 200 comments at their limit fit; anything bigger was not written by the hub


class NotYours(ForgeError):
    """An agent asked for a change to a pull request that is not its own to make (403)."""

    def __init__(self, agent: str, problem: str):
        self.agent = agent
        super().__init__(f"agent {agent}: {problem}", 403)


class _Index:
    """Every record under prs/ as of one tree of that directory, and the highest number used
    there (by any file, so a number is never given twice)."""

    def __init__(self, tree_id, records: dict[int, dict], top: int):
        self.tree_id, self.records, self.top = tree_id, records, top


class PrBook:
    """Owns the pull request records and their index (`_Index`, kept with the tree id of prs/
    it was read from)."""

    def __init__(self, git: GitRepo, store: Store, journal: Journal, tasks: Tasks,
                 clock: Callable[[], datetime], lock: threading.RLock):
        self.git, self.store, self.journal, self.tasks = git, store, journal, tasks
        self.clock, self.lock = clock, lock
        self._cached: _Index | None = None

    def _index(self) -> _Index:
        entry = self.git.get(self.store.tree, PRS_DIR)
        tree_id = entry.oid if entry else None
        if self._cached is not None and self._cached.tree_id == tree_id:
            return self._cached
        records, top = {}, 0
        for e in self.git.files(self.store.tree, PRS_DIR):
            number = number_of(e.path)
            if number is None:
                continue
            top = max(top, number)
            try:
                doc = load(self.git.read(e.oid), e.path, RECORD_MAX)
            except InvalidTask:
                continue
            if not record_problems(doc, number):
                records[number] = doc
        self._cached = _Index(tree_id, records, top)
        return self._cached

    def _now(self) -> str:
        return format_time(self.clock())

    # --- changes (inside a batch of the hub's loop) ---------------------------------------

    def check_target(self, request: dict, author: str, role: str = "operator") -> str:
        """The head branch's commit, if `author` may open this pull request and the target allows
        it. From any thread: the target's reads (which may walk its history) run here, outside the
        loop, and `open` then only confirms the head has not moved."""
        problems = request_problems(request)
        if problems:
            raise InvalidTask("pull request", problems)
        if role != "operator":
            with self.lock:
                self._check_task(request, author)
        return self._check_branches(request, author, role)

    def open(self, request: dict, author: str, role: str = "operator", checked: str | None = None) -> dict:
        """Record a new pull request; PrExists if one from the same head is open on that repo, and
        NoCommits or a ForgeError if the target lacks a branch or the head holds nothing new. An
        agent opens one only for a task it holds (or ran last), on that task's repo, from a branch
        of its own; the operator may open any. `checked` is the head `check_target` found."""
        self.journal.require("open_pr")
        problems = request_problems(request)
        if problems:
            raise InvalidTask("pull request", problems)
        if role != "operator":
            self._check_task(request, author)  # again: the task may have moved since the check
        if checked is None or prtarget.head_of(request["repo"], request["head"]) != checked:
            checked = self._check_branches(request, author, role)
        request = {**request, "head_sha": request.get("head_sha") or checked}
        index = self._index()
        for r in index.records.values():
            if r["state"] == "open" and r["repo"] == request["repo"] and r["head"] == request["head"]:
                raise PrExists(request["head"], r["number"])
        number = index.top + 1
        record = new_record(request, number, author, self._now())
        self._stage(record, f"pr #{number}: opened {request['head']} → {request['base']}", f"opened by {author}")
        return record

    def _check_task(self, request: dict, agent: str) -> None:
        """An agent opens a pull request only for a task it holds (or ran last), on that task's repo."""
        task_id = request.get("task")
        if not task_id:
            raise NotYours(agent, "a pull request opened with an agent token must name its task ('task')")
        try:
            task = self.tasks.load_task(self.tasks.record(task_id))
        except TaskNotFound:
            raise NotYours(agent, f"there is no task {task_id}") from None
        if task.get("agent") != agent:
            raise NotYours(agent, f"task {task_id} is not held by this agent, nor was it run by it last")
        if task.get("repo") != request["repo"]:
            raise NotYours(agent, f"repo {request['repo'][:100]!r} is not the repo of task {task_id}")

    def _check_branches(self, request: dict, author: str, role: str) -> str:
        """The head branch's commit, if the target has both branches and the head holds something
        new; an agent's head must be one of its own branches, and a head_sha it names the branch's."""
        # for an agent, the repo is its task's (the operator's choice), so the hub may look into it
        at = prtarget.check_open(request["repo"], request["head"], request["base"])
        if role != "operator":
            if not request["head"].startswith(f"agent/{author}/"):
                raise NotYours(author, f"head {request['head']} is not one of this agent's branches "
                                       f"(agent/{author}/...)")
            if request.get("head_sha", at) != at:
                raise InvalidTask("pull request", [f"head_sha is not the commit {request['head']} is at in the repo"])
        return at

    def _check_own(self, number: int, by: str, role: str) -> None:
        """An agent labels and comments only on pull requests it opened; the operator on any."""
        if role != "operator" and self.get(number)["author"] != by:
            raise NotYours(by, f"pull request #{number} was opened by someone else")

    def add_labels(self, number: int, labels: list, by: str, role: str = "operator") -> dict:
        self.journal.require("label_pr")
        problems = label_problems(labels)
        if problems:
            raise UsageError("; ".join(problems))
        self._check_own(number, by, role)
        try:
            record = with_labels(self.get(number), labels, self._now())
        except ValueError as e:
            raise UsageError(str(e)) from None
        self._stage(record, f"pr #{number}: labels {', '.join(record['labels'])}", f"labelled by {by}")
        return record

    def comment(self, number: int, body: str, by: str, role: str = "operator") -> dict:
        self.journal.require("comment_pr")
        problems = text_problems(body, "body", COMMENT_MAX, required=True)
        if problems:
            raise UsageError("; ".join(problems))
        self._check_own(number, by, role)
        try:
            record = with_comment(self.get(number), by, body, self._now())
        except ValueError as e:
            raise UsageError(str(e)) from None
        self._stage(record, f"pr #{number}: comment by {by}", f"commented by {by}")
        return record["comments"][-1]

    def set_status(self, number: int, status: dict, by: str) -> dict:
        """Record a commit status on the PR (statuses of the local forge live in its record)."""
        self.journal.require("set_pr_status")
        record = with_status(self.get(number), {**status, "by": by}, self._now())
        self._stage(record, f"pr #{number}: status {status['context']} {status['state']} on {status['sha'][:12]}",
                    f"status set by {by}")
        return record["statuses"][0]

    def request_reviewers(self, number: int, reviewers: list, teams: list, by: str) -> dict:
        self.journal.require("request_pr_reviewers")
        problems = label_problems(list(reviewers)) + label_problems(list(teams))
        if problems:
            raise UsageError("; ".join(problems))
        try:
            record = with_reviewers(self.get(number), list(reviewers), list(teams), self._now())
        except ValueError as e:
            raise UsageError(str(e)) from None
        self._stage(record, f"pr #{number}: reviewers {', '.join(record['reviewers'] + record['team_reviewers'])}",
                    f"requested by {by}")
        return record

    def record_merge(self, number: int, head_sha: str, merge_sha: str, by: str) -> dict:
        """The PR merged (the target repo already holds the merge): closed, with who and which head."""
        self.journal.require("record_pr_merge")
        record = self.get(number)
        if record.get("merged"):
            return record
        record = with_merge(record, head_sha, merge_sha, by, self._now())
        self._stage(record, f"pr #{number}: merged {head_sha[:12]} into {record['base']}", f"merged by {by}")
        return record

    def close(self, number: int, by: str, why: str = "") -> dict:
        """Close an open PR unmerged (one already closed is returned as it is)."""
        self.journal.require("close_pr")
        record = self.get(number)
        if record["state"] != "open":
            return record
        record = with_close(record, by, why[:500], self._now())
        self._stage(record, f"pr #{number}: closed by {by}", f"closed by {by}" + (f": {why}" if why else ""))
        return record

    def remove_label(self, number: int, label: str, by: str) -> dict:
        """Take `label` off (a label the PR does not carry changes nothing and makes no commit)."""
        self.journal.require("unlabel_pr")
        record = self.get(number)
        if label not in record["labels"]:
            return record
        record = without_label(record, label, self._now())
        self._stage(record, f"pr #{number}: label {label} removed", f"removed by {by}")
        return record

    def record_head_deleted(self, number: int, sha: str, by: str) -> dict:
        """The head branch of a closed PR was deleted from the target."""
        self.journal.require("record_pr_head_deleted")
        record = with_head_deleted(self.get(number), sha, by, self._now())
        self._stage(record, f"pr #{number}: branch {record['head']} deleted", f"deleted by {by}")
        return record

    def _stage(self, record: dict, subject: str, reason: str) -> None:
        index = self._index()
        self.journal.stage({path_of(record["number"]): dump_any(record)}, event_message(subject, reason))
        # our own write: carry the index over instead of reading every record again (if the batch
        # is rolled back, prs/ no longer matches this tree id and the index is rebuilt)
        self._cached = _Index(self.git.get(self.store.tree, PRS_DIR).oid,
                              {**index.records, record["number"]: record}, max(index.top, record["number"]))

    # --- reads (any thread) ---------------------------------------------------------------

    def get(self, number: int) -> dict:
        with self.lock:
            found = self._index().records.get(number)
        if found is None:
            raise PrNotFound(number)
        return found

    def find(self, *, repo: str | None = None, head: str | None = None, state: str | None = None,
             limit: int = 100) -> list[dict]:
        """Records matching every filter given, newest first."""
        with self.lock:
            records = list(self._index().records.values())
        found = [r for r in records if (repo is None or r["repo"] == repo) and (head is None or r["head"] == head)
                 and (state is None or r["state"] == state)]
        return sorted(found, key=lambda r: -r["number"])[:limit]
