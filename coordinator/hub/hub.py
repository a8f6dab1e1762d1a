"""The coordinator: builds the components (tasks, fleet, intake, overview, the PR and review
books), owns the store and the view, and runs every change through one serial loop.

HTTP handlers and watchers never touch the repo: they `call(fn)` into the loop and wait; `fn` is
given the batch's `Batch`, the only way to the operations that write. The loop takes a batch of
calls, gives each its own commit, publishes the batch with one compare-and-swap (group commit),
and only then answers the callers, so nobody is told "done" before git holds it. Reads (show,
status, history, state, files at the published tip) are safe from any thread.
"""
from __future__ import annotations

import logging
import queue
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import nullcontext
from datetime import UTC, datetime

from coordinator.core.config import Config
from coordinator.core.trailers import parse as parse_trailers
from coordinator.core.view import Record, View
from coordinator.hub.batch import Batch, Journal
from coordinator.hub.fleet import Fleet
from coordinator.hub.gatehealth import GateHealth
from coordinator.hub.intake import Intake
from coordinator.hub.overview import Overview
from coordinator.hub.prbook import PrBook
from coordinator.hub.prloop import PrLoop
from coordinator.hub.pushgate import PushGate
from coordinator.hub.pushsubmit import take as take_for_main
from coordinator.hub.reviewbook import ReviewBook
from coordinator.hub.tasks import Applied, Tasks
from coordinator.repo.addresses import Addresses
from coordinator.repo.gitrepo import MAIN, GitRepo
from coordinator.repo.historykey import ensure as ensure_history_key
from coordinator.repo.lock import WriterLock
from coordinator.repo.pushcheck import ZERO, check_quarantined, parse_updates
from coordinator.repo.repoinit import refresh_hooks, set_push_safety
from coordinator.repo.store import Store
from coordinator.wire.errors import AgentcomError, RefMoved, TaskNotFound, UsageError
from coordinator.wire.protocol import Heartbeat

log = logging.getLogger("agentcom.hub")
MAX_BATCH = 256
MAX_RACES = 20  # pushes that may land during one batch before it gives up
GC_EVERY = 2000  # commits between `git gc --auto` runs (packs loose objects; cheap when not due)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Hub:
    """With `fleet` (the default for role "hub") every batch ends with a sweep and a scheduling
    pass; a one-shot CLI command (role "cli") only does what it was asked, running its one batch
    in the calling thread. A one-shot command holding the lock is waited for up to `wait`
    seconds (`say` is told once); `command` names this one in the lock's record."""

    def __init__(self, repo_path, *, clock: Callable[[], datetime] = utcnow,
                 rng: random.Random | None = None, role: str = "hub", fleet: bool | None = None,
                 wait: float = 0.0, say: Callable[[str], None] | None = None, command: str | None = None):
        self.repo_path = str(repo_path)
        self.git = GitRepo(repo_path)
        self.lock = WriterLock(repo_path)
        try:
            self.lock.acquire(role, wait=wait, say=say, **({"command": command} if command else {}))
        except BaseException:
            self.git.close()
            raise
        # under the writer lock, and before anything is read: a repo from before history keys gets
        # one now, anchored at main as it is, so its past stays trusted and nothing later can join it
        if role == "hub":  # a repo made by an older version gets today's hooks, pointed at this checkout
            refresh_hooks(self.git)
        else:
            set_push_safety(self.git)
        _, made = ensure_history_key(repo_path, str(self.git.head()) if self.git.head() else None)
        if made:
            log.warning("made a history key for %s (agentcom/history.key): back it up with the repo's "
                        "agentcom/ folder", repo_path)
        self.clock = clock
        rng = rng or random.Random()
        self.active = role == "hub" if fleet is None else fleet
        self.view = View()
        self.store = Store(self.git)
        self.state_lock = threading.RLock()   # guards view reads from other threads
        self.gate = PushGate(self.repo_path)   # pushes to main in flight: no publish under them
        self.applied = Applied(Config())
        self.journal = Journal(self.store, self.view)
        self.tasks = Tasks(self.git, self.view, self.journal, self.applied, clock, rng)
        self.fleet = Fleet(self.view, self.journal, self.tasks, self.applied, clock, rng, self.state_lock)
        self.intake = Intake(self.git, self.store, self.view, self.journal, self.tasks, self.applied, clock)
        self.prs = PrBook(self.git, self.store, self.journal, self.tasks, clock, self.state_lock)
        self.reviews = ReviewBook(self.git, self.store, self.journal, self.state_lock)
        self.prloop = PrLoop(self.view, self.tasks, self.prs, clock)
        self.fleet.follows = self.prloop.follows
        self.gatehealth = GateHealth(self.read_file)   # the gatekeeper's conditions (cli/serve.py starts it)
        self.overview = Overview(self.view, self.store, self.tasks, self.fleet, self.reviews, self.applied,
                                 clock, self.state_lock, self.gatehealth)
        self._calls: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since_gc = 0
        self._gc: threading.Thread | None = None
        self.notifier = None                  # tells sidecars their work changed (cli/serve.py sets it)
        with self.state_lock:
            self._batch([lambda batch: self.intake.start()])[0].result()  # repo content never fails this; a bug does
            if self.active:
                self.overview.seed_completions()
        if self.active:
            addresses = Addresses(repo_path)
            self.fleet.recall(addresses.load())
            self.fleet.remember = lambda: addresses.save(self.fleet.known_urls)
            # the clocks start now, not before the start-up scan: however long that took, every
            # sidecar gets its full chance to reach this hub (core/sweeper.py)
            self.fleet.started = clock()

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        self.stop()
        if self._gc:
            self._gc.join(timeout=600)
        self.lock.release()
        self.gate.close()
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
        """Run fn(batch, *args) in the loop (or right here if no loop runs) and return its result;
        `batch` is the Batch whose methods write, e.g. `hub.call(Batch.submit, doc, source)`."""
        if self._thread is None:
            with self.state_lock:
                return self._batch([lambda batch: fn(batch, *args, **kwargs)])[0].result()
        future: Future = Future()
        self._calls.put((future, lambda batch: fn(batch, *args, **kwargs)))
        return future.result(timeout=timeout)

    def notify(self) -> None:
        """A push landed (or may have): look at main soon. Never blocks."""
        self._calls.put((None, _nothing))  # every batch starts by catching up with main

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self.applied.config.hub.rescan
            due = self.fleet.wake_in() if self.active else None
            try:
                item = self._calls.get(timeout=wait if due is None else min(wait, due + 0.001))
            except queue.Empty:
                # a timer fell due, or the safety net for a lost push notification: a batch
                # catches up with main, sweeps and schedules
                item = (None, _nothing)
            items = [item]
            while len(items) < MAX_BATCH:
                try:
                    items.append(self._calls.get_nowait())
                except queue.Empty:
                    break
            items = [i for i in items if i is not None]
            if not items:
                continue
            try:
                with self.state_lock:
                    outcomes = self._batch([fn for _, fn in items])
            except Exception as e:  # loop boundary: report to every caller, keep looping
                log.exception("batch failed")
                outcomes = [_failed(e)] * len(items)
            for (future, _), outcome in zip(items, outcomes, strict=True):
                if future is not None:
                    _settle(future, outcome)

    def _batch(self, fns: list[Callable]) -> list[Future]:
        """Run fns, one after another, then publish; on a racing push, undo, catch up, rerun.
        Each run has its own Batch, ended when the run ends, so a handle kept by a call is dead."""
        for _ in range(MAX_RACES):
            start = self.store.base
            batch = Batch(self)
            self.journal.begin(batch)
            try:
                self.intake.catch_up()
                outcomes = [self._isolated(fn, batch) for fn in fns]
                if self.active:
                    # every event may free or need an agent
                    reacted = self._isolated(lambda _: self.fleet.react(), batch)
                    if isinstance(reacted.exception(), AgentcomError):  # a bug was logged already
                        log.error("the sweep and scheduling pass failed: %s", reacted.exception())
                with self.gate.publishing() if self.store.staged else nullcontext():
                    published = self.store.publish()
            except RefMoved:
                self.journal.rollback(start)
                continue
            except BaseException:
                self.journal.rollback(start)  # a bug must not leave half a batch staged
                raise
            finally:
                self.journal.end()
            self.journal.settled()
            self.overview.published(self.journal.moves, self.journal.decisions)
            if published:
                self._maintain(published)
                if self.journal.pokes and self.notifier is not None:
                    # notify only after the commit lands, so a sidecar never pulls a task that
                    # git does not hold yet
                    self.notifier.poke(self.journal.pokes, str(self.store.base))
            return outcomes
        raise AgentcomError(f"gave up after {MAX_RACES} pushes raced with this change; try again")

    def _isolated(self, fn: Callable, batch: Batch) -> Future:
        """Run one call of a batch; if it breaks (a bug, not a refusal), only its own commits and
        view changes are undone, so it can neither fail nor roll back the others' calls."""
        mark = self.journal.savepoint()
        try:
            return _done(fn(batch))
        except AgentcomError as e:
            return _failed(e)
        except Exception as e:  # a call's boundary: log it, undo only this call, go on
            log.exception("a call failed inside the loop; its changes were undone")
            self.journal.rewind(mark)
            return _failed(e)

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

    # --- reads (any thread) ----------------------------------------------------------------

    def load_task(self, record: Record) -> dict:
        return self.tasks.load_task(record)

    def show(self, task_id: str) -> dict:
        with self.state_lock:
            record = self.tasks.record(task_id)
            waiting_on, collides_with = self.fleet.waits(record)
            return {"task": self.tasks.load_task(record), "path": record.loc.path, "state": record.loc.state.label,
                    "waiting_on": waiting_on, "collides_with": collides_with}

    def head(self) -> str:
        """The commit main was at when last published or read."""
        return str(self.store.base)

    def read_file(self, path: str) -> bytes | None:
        """A file of the coordination repo as of the published tip (None if there is none)."""
        with self.state_lock:
            entry = self.git.get(self.store.tree, path)
            return self.git.read(entry.oid) if entry else None

    def check_push(self, updates: list[str], objects: str | None) -> tuple[int, list[str]]:
        """The pre-receive check of a push whose objects wait in git's quarantine (`objects`): the
        hook's exit code and its lines. Reads only, on a handle of its own, from any thread. From
        the check's start, and once it let the push through until git has moved main, the loop
        does not publish (pushgate.py): git must find main where the push found it."""
        old = next((o for o, n, ref in parse_updates(updates) if ref == MAIN and ZERO not in (o, n)), None)
        key = self.gate.begin(old) if old else None
        code = 1
        try:
            code, lines = check_quarantined(self.repo_path, updates, objects)
            refused = self.gate.approve(key, old) if code == 0 and old else None
            if refused:
                code, lines = 1, [f"push refused: {refused}", *lines]
            return code, lines
        finally:
            if code != 0:
                self.gate.release(key)

    def submit_push(self, updates: list[str]) -> dict:
        """The proc-receive hook's refs (refs/for/...): each answered ok or ng for git, its task
        files queued through the loop, all or none (pushsubmit.py). From any thread."""
        return take_for_main(self, updates)

    @property
    def config(self) -> Config:
        return self.applied.config

    @property
    def ledger(self):
        return self.overview.ledger

    @property
    def urls(self) -> dict[str, str]:
        return self.fleet.urls

    def heartbeat(self, name: str, beat: Heartbeat) -> dict:
        """Note the agent is alive (bringing it online, through the loop, if it was not) and tell
        it what it holds."""
        if not self.fleet.beat(name, beat):
            self.call(Batch.connect, name)
        return self.fleet.assignments(name, beat.holding)

    def assignments(self, name: str, holding: tuple[tuple[str, int], ...] = ()) -> dict:
        return self.fleet.assignments(name, holding)

    def agent_list(self) -> list[dict]:
        return self.fleet.agent_list()

    def wake_in(self) -> float | None:
        return self.fleet.wake_in()

    def state(self) -> dict:
        return self.overview.state()

    def state_version(self) -> str:
        return self.overview.state_version()

    def state_body(self, clock) -> tuple[str, bytes]:
        return self.overview.state_body(clock)

    def metrics_view(self) -> dict:
        return self.overview.metrics_view()

    def status(self) -> dict:
        with self.state_lock:
            return {
                "repo": self.repo_path,
                "head": str(self.store.base),
                "counts": self.view.counts(),
                "lanes": self.view.lane_depths(),
                "tasks": [{**self.view.summary(r), **self.fleet.last_note(r)} for r in self.view.live()],
                "rejected": [{"path": r.path, **r.reason} for r in sorted(self.view.rejected.values(),
                                                                          key=lambda r: r.path)],
                "agents": [self.fleet.agent_row(a) for _, a in sorted(self.view.agents.items())],
                "config_error": self.applied.error,
            }

    def history(self, task_id: str) -> list[dict]:
        """A task's transitions, the records of its re-runs and the gatekeeper's decisions on its
        PRs, oldest first, read from git (commit trailers). Each entry's `run` is the run of its
        attempt (1 unless the attempt was run again): the runs of attempt A are the largest `run`
        among the entries of attempt A."""
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
                            "to": t.to_state, "agent": t.agent, "attempt": t.attempt, "run": t.run,
                            "reason": t.reason})
                continue
            d = parse_decision(entry.message)
            if d is not None and d.task_id == task_id:
                out.append({"commit": entry.commit, "time": entry.time, "from": "gatekeeper", "to": d.action,
                            "agent": d.agent, "attempt": 0, "run": 1,
                            "reason": f"{d.repo}#{d.pull} head {d.head_sha[:12]}, score {d.score}, "
                            f"rules {', '.join(d.rules) or '-'}"
                            + (f", merged by {d.merged_by}" if d.merged_by else ""),
                            "decision": {"repo": d.repo, "pull": d.pull, "head_sha": d.head_sha,
                                         "action": d.action, "score": d.score, "rules": list(d.rules),
                                         "merged_by": d.merged_by}})
        if not out and task_id not in self.view.tasks:
            raise TaskNotFound(task_id)
        return out


def _nothing(batch: Batch) -> None:
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


