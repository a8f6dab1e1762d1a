"""[pure] The in-memory read model of the coordination repo: every task's location and document.

Reads (status, show, the API) are served from here, never by walking the repo per request.
Finished tasks keep only their location; their documents are read from git on demand.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .layout import FINISHED, LANES, Location, State


@dataclass
class Record:
    loc: Location
    oid: object              # blob id of the task file on main
    task: dict | None        # None for finished tasks until someone asks


@dataclass
class Rejection:
    path: str                # rejected/STAMP-NAME
    reason: dict             # what the .reason.yaml says


@dataclass
class View:
    tasks: dict[str, Record] = field(default_factory=dict)
    rejected: dict[str, Rejection] = field(default_factory=dict)
    by_path: dict[str, str] = field(default_factory=dict)

    def put(self, record: Record) -> Record | None:
        """Record a task's new place; returns what it replaced (for undo)."""
        old = self.tasks.get(record.loc.task_id)
        if old is not None:
            self.by_path.pop(old.loc.path, None)
        self.tasks[record.loc.task_id] = record
        self.by_path[record.loc.path] = record.loc.task_id
        return old

    def restore(self, task_id: str, old: Record | None) -> None:
        current = self.tasks.pop(task_id, None)
        if current is not None:
            self.by_path.pop(current.loc.path, None)
        if old is not None:
            self.put(old)

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
        out = dict.fromkeys(LANES, 0)
        for r in self.tasks.values():
            if r.loc.state is State.QUEUED:
                out[r.loc.lane] += 1
        return out

    def summary(self, record: Record) -> dict:
        """A task's row for lists: id, state, where, and the main fields when loaded."""
        row = {"id": record.loc.task_id, "state": record.loc.state.label, "path": record.loc.path,
               "lane": record.loc.lane, "agent": record.loc.agent}
        if record.task is not None:
            for key in ("title", "priority", "attempt", "updated_at", "last_error"):
                row[key] = record.task.get(key)
        return row

    def live(self) -> list[Record]:
        """Every task not finished (queued, assigned, working, dead), in a stable order."""
        rank = {s: i for i, s in enumerate(State)}
        found = [r for r in self.tasks.values() if r.loc.state not in FINISHED]
        return sorted(found, key=lambda r: (rank[r.loc.state], LANES.index(r.loc.lane) if r.loc.lane else 0,
                                            (r.task or {}).get("queued_at", ""), r.loc.task_id))
