"""The handle for one batch of the hub's loop (`Batch`), and the record of what the batch under
way has changed so far (`Journal`), which lets a broken call or a lost race be undone.

Only the loop makes a Batch (or `Hub.call` itself, in the calling thread, when no loop runs) and
hands it to each function given to `Hub.call`. Every operation that writes is a method of it, and
the journal refuses a write unless the batch it belongs to is open and this is its thread: a web
thread holding a hub cannot change live state except by asking the loop.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from coordinator.core.agent import Agent
from coordinator.core.layout import FINISHED, Location, State
from coordinator.core.view import Record, Rejection, View
from coordinator.repo.store import Edit, Store


class OutsideBatch(RuntimeError):
    """A loop-only operation was called without its batch: after the batch ended, or from a
    thread other than the one running it (a bug in the caller, never in the request)."""

    def __init__(self, operation: str, why: str):
        self.operation, self.why = operation, why
        super().__init__(f"{operation} runs only inside the hub's loop ({why}); "
                         "pass a function to hub.call() and use the batch it is given")


class Batch:
    """The work of one batch. Methods are the loop-only operations; each refuses use once the
    batch has ended or from another thread (OutsideBatch)."""

    def __init__(self, hub):
        self._hub = hub
        self._thread = threading.get_ident()
        self._open = True

    def check(self, operation: str = "this operation") -> None:
        if not self._open:
            raise OutsideBatch(operation, "its batch has ended")
        if threading.get_ident() != self._thread:
            raise OutsideBatch(operation, f"called from thread {threading.current_thread().name}")

    def end(self) -> None:
        self._open = False

    # --- tasks -----------------------------------------------------------------------------

    def submit(self, doc: dict, source: str, **how) -> dict:
        self.check("submit")
        return self._hub.tasks.submit(doc, source, **how)

    def submit_files(self, files: list[tuple[str, dict]], source: str) -> list[dict]:
        """The task files of a push to refs/for/main, (path, document) each: all queued, or none."""
        self.check("submit_files")
        return self._hub.tasks.submit_files(files, source)

    def transition(self, task_id: str, to: State, **how) -> dict:
        self.check("transition")
        return self._hub.tasks.transition(task_id, to, **how)

    def retry(self, task_id: str, by: str, lane: str | None = None) -> dict:
        self.check("retry")
        return self._hub.tasks.retry(task_id, by, lane)

    def reprioritise(self, task_id: str, lane: str, by: str) -> dict:
        self.check("reprioritise")
        return self._hub.tasks.reprioritise(task_id, lane, by)

    def cancel(self, task_id: str, by: str) -> dict:
        self.check("cancel")
        return self._hub.fleet.cancel(task_id, by)

    # --- agents ----------------------------------------------------------------------------

    def register_agent(self, fields: dict, by: str) -> tuple[dict, bool]:
        self.check("register_agent")
        return self._hub.fleet.register_agent(fields, by)

    def remove_agent(self, name: str, by: str) -> None:
        self.check("remove_agent")
        return self._hub.fleet.remove_agent(name, by)

    def connect(self, name: str) -> None:
        """A heartbeat from an agent that was not online: bring it online."""
        self.check("connect")
        return self._hub.fleet.connect(name)

    def report(self, name: str, task_id: str, r) -> dict:
        self.check("report")
        return self._hub.fleet.report(name, task_id, r)

    # --- pull request and review records -----------------------------------------------------

    def open_pr(self, request: dict, author: str, role: str = "operator", checked: str | None = None) -> dict:
        self.check("open_pr")
        return self._hub.prs.open(request, author, role, checked)

    def label_pr(self, number: int, labels: list, by: str, role: str = "operator") -> dict:
        self.check("label_pr")
        return self._hub.prs.add_labels(number, labels, by, role)

    def comment_pr(self, number: int, body: str, by: str, role: str = "operator") -> dict:
        self.check("comment_pr")
        return self._hub.prs.comment(number, body, by, role)

    def set_pr_status(self, number: int, status: dict, by: str) -> dict:
        self.check("set_pr_status")
        return self._hub.prs.set_status(number, status, by)

    def request_pr_reviewers(self, number: int, reviewers: list, teams: list, by: str) -> dict:
        self.check("request_pr_reviewers")
        return self._hub.prs.request_reviewers(number, reviewers, teams, by)

    def record_pr_merge(self, number: int, head_sha: str, merge_sha: str, by: str) -> dict:
        """The local forge merged PR `number`: its record closed, and its task (in review) done."""
        self.check("record_pr_merge")
        record = self._hub.prs.record_merge(number, head_sha, merge_sha, by)
        if record.get("task"):
            self._hub.prloop.settle(record["task"], record.get("url") or f"/api/prs/{number}", merged=True,
                                    by=by, merge_sha=merge_sha)
        return record

    def close_pr(self, number: int, by: str, why: str = "") -> dict:
        """Close a local forge PR unmerged: its record closed, and its task (in review) cancelled."""
        self.check("close_pr")
        was_open = self._hub.prs.get(number)["state"] == "open"
        record = self._hub.prs.close(number, by, why)
        if was_open and record.get("task"):
            self._hub.prloop.settle(record["task"], record.get("url") or f"/api/prs/{number}", merged=False,
                                    by=by, why=why)
        return record

    def unlabel_pr(self, number: int, label: str, by: str) -> dict:
        self.check("unlabel_pr")
        return self._hub.prs.remove_label(number, label, by)

    def record_pr_head_deleted(self, number: int, sha: str, by: str) -> dict:
        self.check("record_pr_head_deleted")
        return self._hub.prs.record_head_deleted(number, sha, by)

    def settle_pr(self, task_id: str, pr_url: str, *, merged: bool, by: str, merge_sha: str | None = None,
                  why: str = "") -> dict | None:
        self.check("settle_pr")
        return self._hub.prloop.settle(task_id, pr_url, merged=merged, by=by, merge_sha=merge_sha, why=why)

    def send_back(self, task_id: str, pr_url: str, rework: dict, by: str) -> dict | None:
        self.check("send_back")
        return self._hub.prloop.send_back(task_id, pr_url, rework, by)

    def record_review(self, doc: dict) -> dict:
        self.check("record_review")
        return self._hub.reviews.record(doc)


class Journal:
    """What the batch under way has changed: commits staged in the store, view edits to undo,
    agents to poke once it lands, task moves for the ledger. Every write of a component goes
    through `stage` and `track*`, which refuse outside an open batch of this thread."""

    def __init__(self, store: Store, view: View):
        self.store, self.view = store, view
        self.batch: Batch | None = None
        self.undo: list[Callable[[], None]] = []
        self.pokes: set[str] = set()     # agents whose held tasks this batch changed
        self.moves: list[tuple] = []     # this batch's task moves, for the ledger once published
        self.decisions: list[str] = []   # the gatekeeper's new decisions (actions), likewise

    def begin(self, batch: Batch) -> None:
        self.batch, self.pokes, self.moves, self.decisions = batch, set(), [], []

    def end(self) -> None:
        if self.batch is not None:
            self.batch.end()
        self.batch = None

    def require(self, operation: str) -> None:
        if self.batch is None:
            raise OutsideBatch(operation, "no batch is running")
        self.batch.check(operation)

    # --- writes ----------------------------------------------------------------------------

    def stage(self, edits: dict[str, Edit], message: str) -> None:
        self.require("a commit")
        self.store.stage(edits, message)

    def track(self, loc: Location, task: dict | None, oid=None) -> None:
        self.require("a change to the view")
        oid = oid if oid is not None else self.store.blob_at(loc.path).oid
        old = self.view.put(Record(loc, oid, None if loc.state in FINISHED else task))
        self.undo.append(lambda: self.view.restore(loc.task_id, old))

    def track_rejection(self, path: str, reason: dict) -> None:
        self.require("a change to the view")
        self.view.rejected[path] = Rejection(path, reason)
        self.undo.append(lambda: self.view.rejected.pop(path, None))

    def track_agent(self, agent: Agent | None, name: str) -> None:
        self.require("a change to the view")
        old = self.view.put_agent(agent, name)
        self.undo.append(lambda: self.view.put_agent(old, name))

    def observe(self, before: dict, after: dict, was: State, now: State, when) -> None:
        self.moves.append((before, after, was, now, when))

    def decided(self, action: str) -> None:
        self.decisions.append(action)

    def poke(self, name: str) -> None:
        self.pokes.add(name)

    # --- undo ------------------------------------------------------------------------------

    def savepoint(self) -> tuple:
        return self.store.savepoint(), len(self.undo), set(self.pokes), len(self.moves), len(self.decisions)

    def rewind(self, mark: tuple) -> None:
        """Undo what was done after `mark` (one call, or one file, that broke)."""
        point, undone, pokes, moves, decisions = mark
        while len(self.undo) > undone:
            self.undo.pop()()
        self.store.rewind(point)
        self.pokes, self.moves, self.decisions = pokes, self.moves[:moves], self.decisions[:decisions]

    def rollback(self, start) -> None:
        """Undo the whole batch and build on `start` again."""
        for undo in reversed(self.undo):
            undo()
        self.undo.clear()
        self.store.reset(start)

    def settled(self) -> None:
        """The batch landed (or staged nothing): nothing of it is undone any more."""
        self.undo.clear()
