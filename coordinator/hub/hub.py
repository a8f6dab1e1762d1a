"""The coordinator: owns the store and the view, and runs every change through one serial loop.

HTTP handlers and watchers never touch the repo: they `call()` into the loop and wait. The loop
takes a batch of calls, gives each its own commit, publishes the batch with one compare-and-swap
(group commit), and only then answers the callers, so nobody is told "done" before git holds it.
"""
from __future__ import annotations

import logging
import queue
import random
import threading
from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Callable

from coordinator.core.trailers import Transition, message, parse as parse_trailers
from coordinator.core.config import Config
from coordinator.wire.errors import (AgentcomError, IllegalTransition, InvalidTask, RefMoved, TaskNotFound, UsageError)
from coordinator.hub.fleet import Fleet
from coordinator.repo.gitrepo import GitRepo
from coordinator.repo.historykey import ensure as ensure_history_key
from coordinator.repo.repoinit import set_push_safety
from coordinator.hub.intake import STORED_MAX, Intake
from coordinator.core.layout import FINISHED, MODE_FILE, PER_AGENT, Entry, Location, State, location
from coordinator.repo.lock import WriterLock
from coordinator.hub.overview import Overview
from coordinator.repo.store import Store
from coordinator.core.task import Defaults, admit, dump, load, new_id
from coordinator.core.transitions import move
from coordinator.core.view import Record, Rejection, View

log = logging.getLogger("agentcom.hub")
MAX_BATCH = 256
MAX_RACES = 20  # pushes that may land during one batch before it gives up
GC_EVERY = 2000  # commits between `git gc --auto` runs (packs loose objects; cheap when not due)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Hub(Intake, Fleet, Overview):
    """With `fleet` (the default for role "hub") every batch ends with a sweep and a scheduling
    pass; a one-shot CLI command (role "cli") only does what it was asked."""

    def __init__(self, repo_path, *, clock: Callable[[], datetime] = utcnow,
                 rng: random.Random | None = None, role: str = "hub", fleet: bool | None = None):
        self.repo_path = str(repo_path)
        self.git = GitRepo(repo_path)
        self.lock = WriterLock(repo_path)
        self.lock.acquire(role)
        # under the writer lock, and before anything is read: a repo from before history keys gets
        # one now, anchored at main as it is, so its past stays trusted and nothing later can join it
        set_push_safety(self.git)
        _, made = ensure_history_key(repo_path, str(self.git.head()) if self.git.head() else None)
        if made:
            log.warning("made a history key for %s (agentcom/history.key): back it up with the repo's "
                        "agentcom/ folder", repo_path)
        self.clock, self.rng = clock, rng or random.Random()
        self.active = role == "hub" if fleet is None else fleet
        self.config, self.config_error = Config(), None
        self.view = View()
        self.store = Store(self.git)
        self.state_lock = threading.RLock()   # guards view reads from other threads
        self._undo: list[Callable[[], None]] = []
        self._calls: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since_gc = 0
        self._gc: threading.Thread | None = None
        self.notifier = None                  # tells sidecars their work changed (service.py sets it)
        self._pokes: set[str] = set()         # agents whose held tasks this batch changed
        self._fleet_init()
        self._overview_init()
        with self.state_lock:
            self._batch([self._start])[0].result()  # repo content never fails this; a bug does
            if self.active:
                self.seed_completions()

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        self.stop()
        if self._gc:
            self._gc.join(timeout=600)
        self.lock.release()
        self.git.close()

    # --- the serial loop -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="agentcom-hub", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._calls.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def call(self, fn: Callable, *args, timeout: float = 30.0, **kwargs):
        """Run fn(*args) in the loop (or right here if no loop runs) and return its result."""
        if self._thread is None:
            with self.state_lock:
                return self._batch([lambda: fn(*args, **kwargs)])[0].result()
        future: Future = Future()
        self._calls.put((future, lambda: fn(*args, **kwargs)))
        return future.result(timeout=timeout)

    def notify(self) -> None:
        """A push landed (or may have): look at main soon. Never blocks."""
        self._calls.put((None, _nothing))  # every batch starts by catching up with main

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self.config.hub.rescan
            due = self.wake_in() if self.active else None
            try:
                item = self._calls.get(timeout=wait if due is None else min(wait, due + 0.001))
            except queue.Empty:
                # a timer fell due, or the safety net for a lost push notification: a batch
                # catches up with main, sweeps and schedules
                item = (None, _nothing)
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._calls.get_nowait())
                except queue.Empty:
                    break
            batch = [b for b in batch if b is not None]
            if not batch:
                continue
            try:
                with self.state_lock:
                    outcomes = self._batch([fn for _, fn in batch])
            except Exception as e:  # loop boundary: report to every caller, keep looping
                log.exception("batch failed")
                outcomes = [_failed(e)] * len(batch)
            for (future, _), outcome in zip(batch, outcomes):
                if future is not None:
                    _settle(future, outcome)

    def _batch(self, fns: list[Callable]) -> list[Future]:
        """Run fns, one after another, then publish; on a racing push, undo, catch up, rerun."""
        for _ in range(MAX_RACES):
            start = self.store.base
            self._pokes = set()
            self._moves = []
            try:
                self.catch_up()
                outcomes = [self._isolated(fn) for fn in fns]
                if self.active:
                    reacted = self._isolated(self._react)  # every event may free or need an agent
                    if isinstance(reacted.exception(), AgentcomError):  # a bug was logged already
                        log.error("the sweep and scheduling pass failed: %s", reacted.exception())
                published = self.store.publish()
            except RefMoved:
                self._rollback(start)
                continue
            except BaseException:
                self._rollback(start)  # a bug must not leave half a batch staged
                raise
            self._undo.clear()
            self._published()
            if published:
                self._maintain(published)
                if self._pokes and self.notifier is not None:
                    # notify only after the commit lands, so a sidecar never pulls a task that
                    # git does not hold yet
                    self.notifier.poke(self._pokes, str(self.store.base))
            return outcomes
        raise AgentcomError(f"gave up after {MAX_RACES} pushes raced with this change; try again")

    def _isolated(self, fn: Callable) -> Future:
        """Run one call of a batch; if it breaks (a bug, not a refusal), only its own commits and
        view changes are undone, so it can neither fail nor roll back the others' calls."""
        mark = self._savepoint()
        try:
            return _done(fn())
        except AgentcomError as e:
            return _failed(e)
        except Exception as e:  # a call's boundary: log it, undo only this call, go on
            log.exception("a call failed inside the loop; its changes were undone")
            self._rewind(mark)
            return _failed(e)

    def _savepoint(self) -> tuple:
        return self.store.savepoint(), len(self._undo), set(self._pokes), len(self._moves)

    def _rewind(self, mark: tuple) -> None:
        point, undone, pokes, moves = mark
        while len(self._undo) > undone:
            self._undo.pop()()
        self.store.rewind(point)
        self._pokes, self._moves = pokes, self._moves[:moves]

    def _rollback(self, start) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        self.store.reset(start)

    def _start(self) -> None:
        """Load the view from the coordinator's own last commit, then take in what came after it
        exactly as if it had been pushed while we ran (so start-up and pushes obey one rule set)."""
        head = self.git.head()
        ours = self.git.last_commit_by_coordinator(head)
        self.store.reset(ours if ours is not None else head)
        self.scan()
        if self.store.staged and ours != head:  # our own tree needed repairs: redo it on main itself
            self.store.reset(head)
            self.scan()
        self.catch_up()

    def _maintain(self, published: int) -> None:
        """Every GC_EVERY commits, let git pack loose objects, off the loop's thread."""
        self._since_gc += published
        if self._since_gc < GC_EVERY or (self._gc and self._gc.is_alive()):
            return
        self._since_gc = 0

        def gc():
            try:
                self.git.run_git("gc", "--auto", "--quiet", timeout=3600)
            except AgentcomError:
                log.exception("git gc --auto failed; will try again later")

        self._gc = threading.Thread(target=gc, name="agentcom-gc", daemon=True)
        self._gc.start()

    def catch_up(self) -> None:
        """Take in whatever was pushed since the last head we saw."""
        head = self.git.head()
        if head == self.store.base or self.store.staged:
            return  # nothing new, or a batch is under way: the next batch catches up
        base = self.store.base
        if base is not None and not self.git.is_ancestor(base, head):
            log.error("main was rewritten (not a descendant of %s); rescanning", base)
            lost = dict(self.view.tasks)
            self.store.reset(head)
            self.scan()
            self._restore_lost(lost)
            return
        changes = self.git.diff(base, head)
        self.store.reset(head)
        author = self.git.repo[head].author
        self.ingest(changes, f"push by {author.name} <{author.email}> ({str(head)[:10]})")

    def _restore_lost(self, lost: dict[str, Record]) -> None:
        for task_id, record in lost.items():
            if task_id not in self.view.tasks:
                self.store.stage({record.loc.path: self.git.read(record.oid)},
                                 message(Transition(task_id, record.loc.state.label, record.loc.state.label,
                                                    None, 0, "restored after main was rewritten")))
                self._track(record.loc, record.task)

    # --- view bookkeeping (undone if the batch loses a race) --------------------------------

    def _track(self, loc: Location, task: dict | None, oid=None) -> None:
        oid = oid if oid is not None else self.store.blob_at(loc.path).oid
        old = self.view.put(Record(loc, oid, None if loc.state in FINISHED else task))
        self._undo.append(lambda: self.view.restore(loc.task_id, old))

    def _track_rejection(self, path: str, reason: dict) -> None:
        self.view.rejected[path] = Rejection(path, reason)
        self._undo.append(lambda: self.view.rejected.pop(path, None))

    # --- operations (run inside the loop) --------------------------------------------------

    def submit(self, doc: dict, source: str, *, where: str = "submission", lane: str | None = None,
               remove: str | None = None, marks: dict | None = None) -> dict:
        """Queue a new task; returns it. `remove` is the submitted file to take away (push intake);
        `marks` are coordinator fields set after intake (a submission itself may never hold them)."""
        now = self.now()
        task_id = doc.get("id") if isinstance(doc.get("id"), str) else None
        if task_id and task_id in self.view.tasks:
            other = self.view.tasks[task_id].loc
            raise InvalidTask(where, [f"id '{task_id}' is already used by a {other.state.label} task "
                                      f"({other.path}); pick another id or leave it out"])
        task, data = admit(doc, where, lane=lane, now=now, task_id=task_id or self._fresh_id(now),
                           defaults=self.defaults(), source=source, marks=marks)
        loc = location(State.QUEUED, task["id"], lane=task["priority"])
        edits = {remove: None} if remove else {}
        edits[loc.path] = data
        origin = "inbox" if remove and remove.startswith("inbox/") else "new"
        self.store.stage(edits, message(Transition(task["id"], origin, "queued", None, 0,
                                                   f"submitted by {source}")))
        self._track(loc, task)
        return task

    def defaults(self) -> Defaults:
        return Defaults(self.config.retry.max_retries, self.config.limits.task_bytes)

    def _fresh_id(self, now: datetime) -> str:
        while True:
            candidate = new_id(now, self.rng)
            if candidate not in self.view.tasks:
                return candidate

    def transition(self, task_id: str, to: State, *, reason: str, agent: str | None = None,
                   lane: str | None = None, updates: dict | None = None) -> dict:
        """Move a task to another state: one commit, which also rewrites the files of the agents
        whose state the move changes. Raises IllegalTransition if the move is not allowed."""
        record = self._record(task_id)
        before = self.load_task(record)
        m = move(before, record.loc, to, self.now(), reason=reason, agent=agent, lane=lane, updates=updates)
        self._observe(before, m.task, record.loc.state, to)
        oid = self.git.write_blob(dump(m.task))
        self._track(m.new, m.task, oid)
        edits = {record.loc.path: None, m.new.path: Entry(m.new.path, oid, MODE_FILE)}
        agents, trailers = self._agents_follow({record.loc.agent, m.new.agent},
                                               m.new.agent if to is State.ASSIGNED else None)
        if to is State.ASSIGNED:
            self._pokes.add(m.new.agent)
        if record.loc.agent and m.new.agent != record.loc.agent:
            self._pokes.add(record.loc.agent)  # taken away (cancel, reclaim): stop it now
        self.store.stage({**edits, **agents}, message(m.transition, trailers))
        return m.task

    def retry(self, task_id: str, by: str, lane: str | None = None) -> dict:
        """Queue a dead or cancelled task again (a human's decision)."""
        state = self._record(task_id).loc.state
        if state not in (State.DEAD, State.CANCELLED):
            raise IllegalTransition(task_id, state.label, "retry it",
                                    "only dead or cancelled tasks are retried; cancel it first")
        return self.transition(task_id, State.QUEUED, lane=lane, reason=f"retried by {by}")

    def reprioritise(self, task_id: str, lane: str, by: str) -> dict:
        """Move a queued task to another lane: the same move as a pushed `git mv` between lanes."""
        record = self._record(task_id)
        if record.loc.state is not State.QUEUED:
            raise IllegalTransition(task_id, record.loc.state.label, f"move it to lane {lane}",
                                    "only queued tasks change lanes; retry a dead or cancelled one with a lane")
        if record.loc.lane == lane:
            raise IllegalTransition(task_id, "queued", f"move it to lane {lane}", f"it is in {lane} already")
        return self.transition(task_id, State.QUEUED, lane=lane,
                               reason=f"re-prioritised by {by}: {record.loc.lane} → {lane}")

    def cancel(self, task_id: str, by: str) -> dict:
        """Cancel a task that is not done; a running attempt is told to stop at its next call."""
        record = self._record(task_id)
        updates = None
        if record.loc.state in PER_AGENT:
            updates = {"outcome": self._outcome(self.load_task(record), record.loc.agent, "cancelled")}
        self.activity.pop(task_id, None)
        return self.transition(task_id, State.CANCELLED, reason=f"cancelled by {by}", updates=updates)

    # --- reads (any thread) ----------------------------------------------------------------

    def _record(self, task_id: str) -> Record:
        record = self.view.get(task_id)
        if record is None:
            raise TaskNotFound(task_id)
        return record

    def load_task(self, record: Record) -> dict:
        if record.task is not None:
            return record.task
        return load(self.git.read(record.oid), record.loc.path, STORED_MAX)

    def show(self, task_id: str) -> dict:
        with self.state_lock:
            record = self._record(task_id)
            return {"task": self.load_task(record), "path": record.loc.path, "state": record.loc.state.label}

    def status(self) -> dict:
        with self.state_lock:
            return {
                "repo": self.repo_path,
                "head": str(self.store.base),
                "counts": self.view.counts(),
                "lanes": self.view.lane_depths(),
                "tasks": [{**self.view.summary(r), **self.last_note(r)} for r in self.view.live()],
                "rejected": [{"path": r.path, **r.reason} for r in sorted(self.view.rejected.values(),
                                                                          key=lambda r: r.path)],
                "agents": [self._agent_row(a) for _, a in sorted(self.view.agents.items())],
                "config_error": self.config_error,
            }

    def history(self, task_id: str) -> list[dict]:
        """A task's transitions and the gatekeeper's decisions on its PRs, oldest first, read from
        git (commit trailers)."""
        from coordinator.gatekeeper.record import parse as parse_decision

        if not task_id or "\n" in task_id:
            raise UsageError("a task id is one line of text")
        out = []
        for entry in reversed(self.git.log(grep=f"Task: {task_id}", limit=10000)):
            if not self.git.made_by_hub(entry.commit):
                continue  # anyone can write these trailers; only the hub's sealed commits count
            t = parse_trailers(entry.message)
            if t is not None and t.task_id == task_id:
                out.append({"commit": entry.commit, "time": entry.time, "from": t.from_state,
                            "to": t.to_state, "agent": t.agent, "attempt": t.attempt, "reason": t.reason})
                continue
            d = parse_decision(entry.message)
            if d is not None and d.task_id == task_id:
                out.append({"commit": entry.commit, "time": entry.time, "from": "pr", "to": f"review {d.action}",
                            "agent": d.agent, "attempt": 0, "reason": f"{d.repo}#{d.pull} head {d.head_sha[:12]}, "
                            f"score {d.score}, rules {', '.join(d.rules) or '-'}"
                            + (f", merged by {d.merged_by}" if d.merged_by else ""),
                            "decision": {"repo": d.repo, "pull": d.pull, "head_sha": d.head_sha,
                                         "action": d.action, "score": d.score, "rules": list(d.rules),
                                         "merged_by": d.merged_by}})
        if not out and task_id not in self.view.tasks:
            raise TaskNotFound(task_id)
        return out


def _nothing() -> None:
    return None


def _done(value) -> Future:
    f: Future = Future()
    f.set_result(value)
    return f


def _failed(error: BaseException) -> Future:
    f: Future = Future()
    f.set_exception(error)
    return f


def _settle(future: Future, outcome: Future) -> None:
    if outcome.exception() is not None:
        future.set_exception(outcome.exception())
    else:
        future.set_result(outcome.result())


