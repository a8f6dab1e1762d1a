"""[pure] What is overdue: agents silent past their grace, assignments never accepted, runs
with no progress, live tasks past their deadline. And when the next of those falls due.

The caller passes the clocks it keeps (last heartbeat, last sign of life per task) already
clamped to the hub's start, and the start itself: a clock that has not moved since the start
falls due no sooner than `restart` seconds after it, whatever the limit, so a restart never
reclaims work that was fine a moment before (its sidecar gets a fair chance to reach the new
hub). A clock that jumps backwards only delays what is due; one that jumps forward makes it due.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from coordinator.core.layout import State

RESTART = 60  # seconds after a start before silence counts: a sidecar's heartbeat (30 s by default) twice
OFFLINE = "offline"
ACCEPT = "accept_timeout"
PROGRESS = "progress_timeout"
DEADLINE = "deadline"


@dataclass(frozen=True)
class Held:
    """A task an agent holds (assigned or working)."""

    task_id: str
    agent: str
    state: State
    since: datetime          # assigned, accepted or last progress: its last sign of life
    paused: bool = False     # its agent is blocked on it (waiting on a human): no progress clock


@dataclass(frozen=True)
class Limits:
    accept: int              # seconds, from config timeouts.*
    progress: int
    grace: int
    restart: int = RESTART   # the least time after a start before a clock unmoved since then falls due


@dataclass(frozen=True)
class Overdue:
    kind: str                # OFFLINE (subject is an agent) or ACCEPT/PROGRESS/DEADLINE (a task)
    subject: str
    reason: str


def overdue(held: Iterable[Held], seen: dict[str, datetime], deadlines: dict[str, datetime],
            now: datetime, limits: Limits, started: datetime | None = None) -> list[Overdue]:
    """Everything due at `now`: agents gone offline first, then tasks, each task at most once.

    `seen` maps each online agent to its last heartbeat; `deadlines` maps live tasks to their
    deadline; `started` is when the hub started (None: no start to allow for). A task whose
    agent goes offline is left to the caller's offline handling.
    """
    found: list[Overdue] = []
    gone = set()
    for agent, last in sorted(seen.items()):
        if _after(last, limits.grace, limits, started) < now:
            gone.add(agent)
            if _unmoved(last, started):
                why = (f"no heartbeat since the hub started {_ago(now - last)} ago (grace {limits.grace}s, "
                       f"at least {limits.restart}s after a start)")
            else:
                why = f"no heartbeat for {_ago(now - last)} (grace {limits.grace}s)"
            found.append(Overdue(OFFLINE, agent, why))
    taken = set()
    for task_id, deadline in sorted(deadlines.items()):
        if deadline <= now:
            taken.add(task_id)
            found.append(Overdue(DEADLINE, task_id, f"its deadline passed ({_ago(now - deadline)} ago)"))
    for h in sorted(held, key=lambda h: h.task_id):
        if h.agent in gone or h.task_id in taken:
            continue
        due = _due(h, limits, started)
        if due is not None and due <= now:
            if h.state is State.ASSIGNED:
                why = f"assigned to {h.agent} and not accepted within {limits.accept}s"
            else:
                why = f"no progress from {h.agent} for {_ago(now - h.since)} (limit {limits.progress}s)"
            found.append(Overdue(ACCEPT if h.state is State.ASSIGNED else PROGRESS, h.task_id, why))
    return found


def next_due(held: Iterable[Held], seen: dict[str, datetime], deadlines: dict[str, datetime],
             limits: Limits, started: datetime | None = None) -> datetime | None:
    """The earliest moment something becomes overdue, or None if nothing can."""
    times = [_after(last, limits.grace, limits, started) for last in seen.values()]
    times += deadlines.values()
    times += [d for d in (_due(h, limits, started) for h in held) if d is not None]
    return min(times, default=None)


def _due(h: Held, limits: Limits, started: datetime | None) -> datetime | None:
    if h.state is State.ASSIGNED:
        return _after(h.since, limits.accept, limits, started)
    if h.paused:
        return None
    return _after(h.since, limits.progress, limits, started)


def _after(since: datetime, limit: int, limits: Limits, started: datetime | None) -> datetime:
    """When a clock last moved at `since` runs out: `limit` seconds on, and for a clock that has
    not moved since the start, no sooner than `restart` seconds after the start."""
    due = since + timedelta(seconds=limit)
    if _unmoved(since, started):
        due = max(due, started + timedelta(seconds=max(limit, limits.restart)))
    return due


def _unmoved(since: datetime, started: datetime | None) -> bool:
    return started is not None and since <= started


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
