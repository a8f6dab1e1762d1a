"""[pure] The coordination repo's layout: task states, priority lanes, and state ↔ path.

These paths are a public contract (docs/layout.md): users script against them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from coordinator.wire.names import is_name as is_safe_name


class State(str, Enum):
    """Where a task is; each value is the top-level directory that holds tasks in that state."""

    INBOX = "inbox"
    QUEUED = "queue"
    ASSIGNED = "assigned"
    WORKING = "working"
    REVIEW = "review"      # done by its agent, its pull request not merged yet
    DONE = "done"
    DEAD = "dead"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        """The name used in task files, messages and the API ("queued" for queue/)."""
        return "queued" if self is State.QUEUED else self.value

    @classmethod
    def from_label(cls, label: str) -> State:
        return cls.QUEUED if label == "queued" else cls(label)


LANES = ("urgent", "high", "normal", "low")
"""Priority lanes, most urgent first; each is a directory under queue/."""

LIVE = frozenset({State.QUEUED, State.ASSIGNED, State.WORKING})
FINISHED = frozenset({State.DONE, State.CANCELLED})
PER_AGENT = frozenset({State.ASSIGNED, State.WORKING})
SHARDED = FINISHED  # by finish day, so no directory grows with history

TASK_SUFFIX = ".yaml"
SUBMISSION_SUFFIXES = (".yaml", ".yml")
KEEP = ".keep"
STATE_DIRS = tuple(s.value for s in State)


@dataclass(frozen=True)
class Location:
    """A canonical task path taken apart: state, id, and the lane, agent or day shard."""

    state: State
    task_id: str
    lane: str | None = None
    agent: str | None = None
    shard: str | None = None  # YYYY-MM/DD for finished states

    @property
    def path(self) -> str:
        name = self.task_id + TASK_SUFFIX
        if self.state is State.QUEUED:
            return f"{self.state.value}/{self.lane}/{name}"
        if self.state in PER_AGENT:
            return f"{self.state.value}/{self.agent}/{name}"
        if self.state in SHARDED:
            return f"{self.state.value}/{self.shard}/{name}"
        return f"{self.state.value}/{name}"


def shard_for(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}/{moment.day:02d}"


def location(state: State, task_id: str, *, lane: str | None = None, agent: str | None = None,
             when: datetime | None = None) -> Location:
    """Where a task in `state` lives; lane for queued, agent for assigned/working, when for finished."""
    if state is State.QUEUED and lane not in LANES:
        raise ValueError(f"unknown lane {lane!r}")
    if state in PER_AGENT and not is_safe_name(agent):
        raise ValueError(f"bad agent name {agent!r}")
    if state in SHARDED and when is None:
        raise ValueError(f"{state.value} needs a finish time")
    if state in (State.INBOX, State.REJECTED):
        raise ValueError(f"{state.value}/ holds submissions, not canonical tasks")
    return Location(state, task_id, lane=lane if state is State.QUEUED else None,
                    agent=agent if state in PER_AGENT else None,
                    shard=shard_for(when) if state in SHARDED and when else None)


_SHARD_RE = re.compile(r"\d{4}-\d{2}/\d{2}")


def parse_location(path: str) -> Location | None:
    """The Location of a canonical task path, or None if `path` is not one."""
    parts = path.split("/")
    if not parts[-1].endswith(TASK_SUFFIX):
        return None
    task_id = parts[-1][: -len(TASK_SUFFIX)]
    if not is_safe_name(task_id):
        return None
    try:
        state = State(parts[0])
    except ValueError:
        return None
    if state is State.QUEUED and len(parts) == 3 and parts[1] in LANES:
        return Location(state, task_id, lane=parts[1])
    if state in PER_AGENT and len(parts) == 3 and is_safe_name(parts[1]):
        return Location(state, task_id, agent=parts[1])
    if state in SHARDED and len(parts) == 4 and _SHARD_RE.fullmatch(f"{parts[1]}/{parts[2]}"):
        return Location(state, task_id, shard=f"{parts[1]}/{parts[2]}")
    if state in (State.DEAD, State.REVIEW) and len(parts) == 2:
        return Location(state, task_id)
    return None


def state_of(path: str) -> State | None:
    """The state directory a path is under, or None for files outside the state directories."""
    head = path.split("/", 1)[0]
    return State(head) if head in STATE_DIRS else None


def is_submission_path(path: str) -> bool:
    """A file a user may add: inbox/NAME.yaml or queue/LANE/NAME.yaml (one level, .yaml/.yml)."""
    parts = path.split("/")
    ok_dir = (len(parts) == 2 and parts[0] == State.INBOX.value) or (
        len(parts) == 3 and parts[0] == State.QUEUED.value and parts[1] in LANES)
    return ok_dir and parts[-1].endswith(SUBMISSION_SUFFIXES)


def lane_of_submission(path: str) -> str | None:
    parts = path.split("/")
    return parts[1] if parts[0] == State.QUEUED.value and len(parts) == 3 else None


def rejected_paths(original: str, stamp: str) -> tuple[str, str]:
    """Where a rejected file and its reason go: rejected/STAMP-FLATTENED-NAME(.reason.yaml)."""
    flat = re.sub(r"[^A-Za-z0-9._-]", "_", original.replace("/", "__"))
    flat = re.sub(r"\.{2,}", ".", flat)[-120:].lstrip(".") or "file"  # no "..", whatever git would allow
    base = f"{State.REJECTED.value}/{stamp}-{flat}"
    return base, base + ".reason.yaml"


@dataclass(frozen=True)
class Entry:
    """A file in a commit's tree: path, blob id (opaque here) and git file mode."""

    path: str
    oid: object
    mode: int


@dataclass(frozen=True)
class Change:
    """One path that differs between two commits; `old`/`new` is None when added/deleted."""

    path: str
    old: Entry | None
    new: Entry | None


MODE_FILE, MODE_EXEC, MODE_LINK, MODE_TREE, MODE_COMMIT = 0o100644, 0o100755, 0o120000, 0o040000, 0o160000
