"""[pure] The in-memory read model of the coordination repo: every task's location and document.

Reads (status, show, the API) are served from here, never by walking the repo per request.
Finished tasks keep only their location; their documents are read from git on demand.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from coordinator.core.agent import Agent
from coordinator.core.layout import FINISHED, LANES, PER_AGENT, Location, State

TIMED = ("deadline", "not_before", "retry_at")


@dataclass
class Record:
    loc: Location
    oid: object              # blob id of the task file on main
    task: dict | None        # None for finished tasks until someone asks
    cache: object = None     # what the scheduler made of it (rebuilt when the record is replaced)

    @property
    def timed(self) -> bool:
        """Live, with a time that matters: a deadline, or (queued) a not-before or retry time."""
        t = self.task
        return t is not None and self.loc.state not in (State.DEAD, State.REVIEW) and any(t.get(k) for k in TIMED)


@dataclass
class Rejection:
    path: str                # rejected/STAMP-NAME
    reason: dict             # what the .reason.yaml says


@dataclass
class View:
    tasks: dict[str, Record] = field(default_factory=dict)
    rejected: dict[str, Rejection] = field(default_factory=dict)
    by_path: dict[str, str] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)
    # indexes kept by put/restore, so the scheduler and sweeper never walk every task
    queued: dict[str, Record] = field(default_factory=dict)
    held: dict[str, dict[str, Record]] = field(default_factory=dict)   # agent → its tasks
    timed: dict[str, Record] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    dead: dict[str, Record] = field(default_factory=dict)
    review: dict[str, Record] = field(default_factory=dict)   # tasks whose pull request is open
    # per lane, (queued_at, id) of its queued tasks in queue order; and the queued tasks that
    # wait on a pin or on other tasks: so the state snapshot never walks the whole queue
    lanes: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: {lane: [] for lane in LANES})
    waiting: dict[str, Record] = field(default_factory=dict)
    # tasks in flight with a repo and a scope (assigned, working, in review, queued with a rework):
    # what a new assignment may collide with, kept so a pass never walks the queue for them
    claims: dict[str, Record] = field(default_factory=dict)

    def clear(self) -> None:
        for index in (self.tasks, self.rejected, self.by_path, self.agents, self.queued, self.held,
                      self.timed, self.done, self.dead, self.review, self.waiting, self.claims,
                      *self.lanes.values()):
            index.clear()

    def put(self, record: Record) -> Record | None:
        """Record a task's new place; returns what it replaced (for undo)."""
        old = self.tasks.get(record.loc.task_id)
        if old is not None:
            self._unindex(old)
        self.tasks[record.loc.task_id] = record
        self.by_path[record.loc.path] = record.loc.task_id
        loc = record.loc
        if loc.state is State.QUEUED:
            self.queued[loc.task_id] = record
            bisect.insort(self.lanes[loc.lane], _queue_key(record))
            if "pin" in record.task or "depends_on" in record.task:
                self.waiting[loc.task_id] = record
        elif loc.state in PER_AGENT:
            self.held.setdefault(loc.agent, {})[loc.task_id] = record
        elif loc.state is State.DONE:
            self.done.add(loc.task_id)
        elif loc.state is State.DEAD:
            self.dead[loc.task_id] = record
        elif loc.state is State.REVIEW:
            self.review[loc.task_id] = record
        if record.timed:
            self.timed[loc.task_id] = record
        if _claims(record):
            self.claims[loc.task_id] = record
        return old

    def _unindex(self, record: Record) -> None:
        loc = record.loc
        self.by_path.pop(loc.path, None)
        self.queued.pop(loc.task_id, None)
        self.timed.pop(loc.task_id, None)
        self.done.discard(loc.task_id)
        self.dead.pop(loc.task_id, None)
        self.review.pop(loc.task_id, None)
        self.claims.pop(loc.task_id, None)
        if loc.state is State.QUEUED:
            order, key = self.lanes[loc.lane], _queue_key(record)
            at = bisect.bisect_left(order, key)
            if at < len(order) and order[at] == key:
                del order[at]
            self.waiting.pop(loc.task_id, None)
        if loc.state in PER_AGENT:
            mine = self.held.get(loc.agent, {})
            mine.pop(loc.task_id, None)
            if not mine:
                self.held.pop(loc.agent, None)

    def restore(self, task_id: str, old: Record | None) -> None:
        current = self.tasks.pop(task_id, None)
        if current is not None:
            self._unindex(current)
        if old is not None:
            self.put(old)

    def put_agent(self, agent: Agent | None, name: str) -> Agent | None:
        """Set (or with None, drop) an agent; returns what it replaced (for undo)."""
        old = self.agents.pop(name, None)
        if agent is not None:
            self.agents[name] = agent
        return old

    def get(self, task_id: str) -> Record | None:
        return self.tasks.get(task_id)

    def at(self, path: str) -> Record | None:
        task_id = self.by_path.get(path)
        return self.tasks.get(task_id) if task_id else None

    def counts(self) -> dict[str, int]:
        out = {s.label: 0 for s in State if s not in (State.INBOX, State.REJECTED)}
        for r in self.tasks.values():
            out[r.loc.state.label] += 1
        out["rejected"] = len(self.rejected)
        return out

    def lane_depths(self) -> dict[str, int]:
        return {lane: len(self.lanes[lane]) for lane in LANES}

    def first_queued(self, lane: str, n: int) -> list[Record]:
        """The first n queued tasks of a lane, by queued_at (then id)."""
        return [self.queued[task_id] for _, task_id in self.lanes[lane][:n]]

    def summary(self, record: Record) -> dict:
        """A task's row for lists: id, state, where, and the main fields when loaded."""
        row = {"id": record.loc.task_id, "state": record.loc.state.label, "path": record.loc.path,
               "lane": record.loc.lane, "agent": record.loc.agent}
        if record.task is not None:
            for key in ("title", "priority", "attempt", "updated_at", "last_error"):
                row[key] = record.task.get(key)
        return row

    def live(self) -> list[Record]:
        """Every task not finished (queued, assigned, working, in review, dead), in a stable order."""
        rank = {s: i for i, s in enumerate(State)}
        found = [r for r in self.tasks.values() if r.loc.state not in FINISHED]
        return sorted(found, key=lambda r: (rank[r.loc.state], LANES.index(r.loc.lane) if r.loc.lane else 0,
                                            (r.task or {}).get("queued_at", ""), r.loc.task_id))


def _claims(record: Record) -> bool:
    """In flight, with files of a target it may change."""
    t, state = record.task, record.loc.state
    if t is None or not t.get("repo") or not t.get("scope"):
        return False
    return state in PER_AGENT or state is State.REVIEW or (state is State.QUEUED and bool(t.get("rework")))


def _queue_key(record: Record) -> tuple[str, str]:
    return (record.task.get("queued_at") or "", record.loc.task_id)
