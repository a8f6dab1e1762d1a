"""[pure] The task state machine: which moves are allowed, and what a move writes into the task.

A move returns the new task document, its new Location and the audit Transition; the store
turns that into exactly one commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from coordinator.core.layout import FINISHED, LANES, PER_AGENT, Location, State, location
from coordinator.core.task import ordered
from coordinator.core.trailers import Transition
from coordinator.wire.errors import IllegalTransition
from coordinator.wire.times import format_time, parse_time

ALLOWED: dict[State, frozenset[State]] = {
    # done from queued or assigned: its pull request was merged while it was back at work on it
    State.QUEUED: frozenset({State.QUEUED, State.ASSIGNED, State.CANCELLED, State.DEAD, State.DONE}),
    State.ASSIGNED: frozenset({State.WORKING, State.QUEUED, State.DEAD, State.CANCELLED, State.DONE}),
    State.WORKING: frozenset({State.DONE, State.REVIEW, State.QUEUED, State.DEAD, State.CANCELLED}),
    # merged; sent back to work on the same pull request; closed unmerged (or cancelled by a human)
    State.REVIEW: frozenset({State.DONE, State.QUEUED, State.CANCELLED, State.DEAD}),
    State.DEAD: frozenset({State.QUEUED, State.CANCELLED}),
    State.CANCELLED: frozenset({State.QUEUED}),
    State.DONE: frozenset(),
}


DROP = object()
"""An `updates` value that removes the field (a spent deadline)."""


@dataclass(frozen=True)
class Move:
    task: dict
    old: Location
    new: Location
    transition: Transition


def move(task: dict, old: Location, to: State, now: datetime, *, reason: str,
         agent: str | None = None, lane: str | None = None, updates: dict | None = None) -> Move:
    """Move `task` from `old` to state `to`; raises IllegalTransition when the machine forbids it.

    `agent` is required for assigned/working; `lane` defaults to the task's priority for queued.
    `updates` are coordinator fields to set as well (last_error, result, retry_at, ...).
    `runs` (how many runs the held attempt has had) goes into the transition's `Run` and lives in
    the file only while the attempt is held.

    Assignment adds one to `attempt`, the fencing token every report must quote; it never goes
    down. A human retry (dead or cancelled back to a lane) starts a fresh retry budget by moving
    `attempt_base` up to `attempt`, and drops a deadline that has already passed.
    """
    if to not in ALLOWED.get(old.state, frozenset()):
        allowed = ", ".join(s.label for s in sorted(ALLOWED.get(old.state, ()), key=lambda s: s.value))
        raise IllegalTransition(task["id"], old.state.label, f"move it to {to.label}",
                                f"from {old.state.label} it can go to: {allowed or 'nowhere'}")
    new_task = dict(task)
    for key, value in (updates or {}).items():
        if value is DROP:
            new_task.pop(key, None)
        else:
            new_task[key] = value
    stamp = format_time(now)
    new_task["state"] = to.label
    new_task["updated_at"] = stamp
    if to is State.QUEUED:
        lane = lane or task.get("priority") or "normal"
        if lane not in LANES:
            raise IllegalTransition(task["id"], old.state.label, f"queue it in lane {lane!r}",
                                    f"lanes are {', '.join(LANES)}")
        new_task["priority"] = lane
        if old.state is not State.QUEUED:
            new_task["queued_at"] = stamp
            new_task["agent"] = None
            new_task.pop("finished_at", None)
        if old.state in (State.DEAD, State.CANCELLED, State.REVIEW):
            # a human's retry, or a pull request sent back to work: a fresh retry budget
            new_task["attempt_base"] = int(task.get("attempt", 0))
            new_task.pop("retry_at", None)
            if new_task.get("deadline") and parse_time(new_task["deadline"]) <= now:
                del new_task["deadline"]
    elif to in (State.ASSIGNED, State.WORKING):
        agent = agent or task.get("agent")
        new_task["agent"] = agent
        if to is State.ASSIGNED:
            new_task["attempt"] = int(task.get("attempt", 0)) + 1
            new_task.pop("retry_at", None)
        if to is State.WORKING:
            new_task["started_at"] = stamp
    if to in FINISHED or to is State.DEAD:
        new_task["finished_at"] = stamp
    if to in (State.CANCELLED, State.DEAD):
        new_task.pop("rework", None)   # a retry later starts afresh, not on a settled pull request
    run = int(new_task.get("runs") or 1) if old.state in PER_AGENT else 1
    if to not in PER_AGENT or to is State.ASSIGNED:  # a count for the held attempt only
        new_task.pop("runs", None)
    new = location(to, task["id"], lane=new_task.get("priority"), agent=new_task.get("agent"), when=now)
    tr = Transition(task["id"], old.state.label, to.label, new_task.get("agent") or agent,
                    int(new_task.get("attempt", 0)), reason, run)
    return Move(ordered(new_task), old, new, tr)


def rerun(task: dict, loc: Location, run: int, now: datetime, *, reason: str) -> Move | None:
    """The record of run `run` of the working attempt (its sidecar ran it again): the task stays
    where it is, with `runs` raised; None when that run is recorded already (a repeat, or an
    older run), so a report naming it changes nothing."""
    if loc.state is not State.WORKING:
        raise IllegalTransition(task["id"], loc.state.label, f"record run {run}",
                                "only a working attempt is run again; send 'accepted' first")
    if run <= int(task.get("runs") or 1):
        return None
    new_task = {**task, "runs": run, "updated_at": format_time(now)}
    tr = Transition(task["id"], loc.state.label, loc.state.label, task.get("agent"), int(task.get("attempt", 0)),
                    reason, run)
    return Move(ordered(new_task), loc, loc, tr)
