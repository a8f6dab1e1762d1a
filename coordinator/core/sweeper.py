"""[pure] What is overdue: agents silent past their grace, assignments never accepted, runs
with no progress, live tasks past their deadline. And when the next of those falls due.

The caller passes the clocks it keeps (last heartbeat, last sign of life per task) already
clamped to the hub's start, so a restart never reclaims work that was fine a moment before.
A clock that jumps backwards only delays what is due; one that jumps forward makes it due.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from coordinator.core.layout import State

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


@dataclass(frozen=True)
class Overdue:
    kind: str                # OFFLINE (subject is an agent) or ACCEPT/PROGRESS/DEADLINE (a task)
    subject: str
    reason: str


def overdue(held: Iterable[Held], seen: dict[str, datetime], deadlines: dict[str, datetime],
            now: datetime, limits: Limits) -> list[Overdue]:
    """Everything due at `now`: agents gone offline first, then tasks, each task at most once.

    `seen` maps each online agent to its last heartbeat; `deadlines` maps live tasks to their
    deadline. A task whose agent goes offline is left to the caller's offline handling.
    """
    found: list[Overdue] = []
    gone = set()
    grace = timedelta(seconds=limits.grace)
    for agent, last in sorted(seen.items()):
        if now - last > grace:
            gone.add(agent)
            found.append(Overdue(OFFLINE, agent, f"no heartbeat for {_ago(now - last)} "
                                                 f"(grace {limits.grace}s)"))
    taken = set()
    for task_id, deadline in sorted(deadlines.items()):
        if deadline <= now:
            taken.add(task_id)
            found.append(Overdue(DEADLINE, task_id, f"its deadline passed ({_ago(now - deadline)} ago)"))
    for h in sorted(held, key=lambda h: h.task_id):
        if h.agent in gone or h.task_id in taken:
            continue
        due = _due(h, limits)
        if due is not None and due <= now:
            if h.state is State.ASSIGNED:
                why = f"assigned to {h.agent} and not accepted within {limits.accept}s"
            else:
                why = f"no progress from {h.agent} for {_ago(now - h.since)} (limit {limits.progress}s)"
            found.append(Overdue(ACCEPT if h.state is State.ASSIGNED else PROGRESS, h.task_id, why))
    return found


def next_due(held: Iterable[Held], seen: dict[str, datetime], deadlines: dict[str, datetime],
             limits: Limits) -> datetime | None:
    """The earliest moment something becomes overdue, or None if nothing can."""
    grace = timedelta(seconds=limits.grace)
    times = [last + grace for last in seen.values()]
    times += deadlines.values()
    times += [d for d in (_due(h, limits) for h in held) if d is not None]
    return min(times, default=None)


def _due(h: Held, limits: Limits) -> datetime | None:
    if h.state is State.ASSIGNED:
        return h.since + timedelta(seconds=limits.accept)
    if h.paused:
        return None
    return h.since + timedelta(seconds=limits.progress)


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
