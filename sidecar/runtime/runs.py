"""The runs a sidecar holds, one folder each under STATE/runs/ID.ATTEMPT/, so a restart of the
sidecar or of the machine finds every one of them again.

Files in a run's folder: task.json (as the hub gave it), run.json (the sidecar's notes: phase,
run count, kill, tokens of lost runs), prompt.md, wrapper.json and exit.json (written by the
wrapper), result.json and progress.json (written by the agent), stdout.log and stderr.log. A lost
run's files are kept as runN.NAME. A closed run moves to STATE/finished/; the newest
KEEP_FINISHED are kept for reading.

The agent can write its run's folder (and is told where it is), so nothing there may speak for
the operator: an operator's stop is noted in STATE/stops/ID.ATTEMPT.json (processes.py), a folder
no path given to the agent names, and the mark goes when its run closes.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from coordinator.wire.atomic import read_json, write_json

ACCEPTING, ACCEPTED, RUNNING, FINISHED = "accepting", "accepted", "running", "finished"
KEEP_FINISHED = 200
AGENT_FILES = ("wrapper.json", "exit.json", "result.json", "progress.json")
STOPS = "stops"


@dataclass
class Run:
    """One attempt of one task held by this sidecar. `notes` is run.json."""
    dir: Path
    task: dict
    notes: dict

    @property
    def task_id(self) -> str:
        return self.notes["task_id"]

    @property
    def attempt(self) -> int:
        return self.notes["attempt"]

    @property
    def phase(self) -> str:
        return self.notes["phase"]

    def path(self, name: str) -> Path:
        return self.dir / name

    def save(self, **changes) -> None:
        self.notes.update(changes)
        write_json(self.path("run.json"), self.notes)

    def read(self, name: str) -> dict | None:
        """An agent-written JSON file; None when missing (a broken one raises ValueError)."""
        return read_json(self.path(name))

    def process(self) -> tuple[int, int] | None:
        """(pid, start time) of this run's wrapper, as the wrapper wrote them."""
        found = wrapper(self.dir)
        if found is None or found[2] != self.notes.get("runs"):
            return None
        return found[0], found[1]

    def alive(self) -> bool:
        found = self.process()
        return found is not None and process_start(found[0]) == found[1]

    def set_aside(self) -> None:
        """Before a re-run: keep the lost run's files under a numbered name, out of the way."""
        n = self.notes.get("runs", 0)
        for name in AGENT_FILES + ("stdout.log", "stderr.log"):
            if self.path(name).exists():
                os.replace(self.path(name), self.path(f"run{n}.{name}"))


class Runs:
    def __init__(self, state_dir: Path):
        self.dir = state_dir / "runs"
        self.finished = state_dir / "finished"
        self.stops = state_dir / STOPS
        for d in (self.dir, self.finished, self.stops):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)

    def all(self) -> list[Run]:
        found = []
        for d in sorted(self.dir.iterdir()):
            if not d.is_dir():
                continue
            try:
                task, notes = read_json(d / "task.json"), read_json(d / "run.json")
            except ValueError:
                task = notes = None
            if task is None or notes is None:
                # a crash while it was being made, before the hub heard of it: start over
                shutil.rmtree(d)
                continue
            found.append(Run(d, task, notes))
        return found

    def get(self, task_id: str, attempt: int) -> Run | None:
        d = self.dir / f"{task_id}.{attempt}"
        if not (d / "run.json").exists():
            return None
        return Run(d, read_json(d / "task.json"), read_json(d / "run.json"))

    def create(self, task: dict, attempt: int, **notes) -> Run:
        d = self.dir / f"{task['id']}.{attempt}"
        d.mkdir(mode=0o700, exist_ok=True)
        write_json(d / "task.json", task)
        run = Run(d, task, {"task_id": task["id"], "attempt": attempt, "phase": ACCEPTING, "runs": 0,
                            "received_at": time.time(), **notes})
        run.save()  # last: a folder without run.json is a half-made one
        return run

    def stop_mark(self, run: Run) -> dict | None:
        """The operator's stop noted for this attempt ({task, attempt, run, why, at}), if any;
        ValueError if the file is not a JSON object."""
        return read_json(stop_path(self.dir.parent, run.task_id, run.attempt))

    def close(self, run: Run, why: str) -> None:
        """The hub has the last word on this run: move it out of the way, keep it for reading.
        Its stop mark goes first (and any left by a crash since), so none outlives its run."""
        for mark in self.stops.glob("*.json"):
            if mark.name == f"{run.dir.name}.json" or not (self.dir / mark.stem).is_dir():
                mark.unlink(missing_ok=True)
        run.save(closed=why, closed_at=time.time())
        target = self.finished / run.dir.name
        if target.exists():
            shutil.rmtree(target)
        os.replace(run.dir, target)
        old = sorted(self.finished.iterdir(), key=lambda p: p.stat().st_mtime)
        for stale in old[:-KEEP_FINISHED]:
            shutil.rmtree(stale, ignore_errors=True)


def stop_path(state_dir: Path, task_id: str, attempt: int) -> Path:
    """Where an operator's stop of this attempt's run is noted: beside the run folders, not in one."""
    return state_dir / STOPS / f"{task_id}.{attempt}.json"


def wrapper(run_dir: Path) -> tuple[int, int, int] | None:
    """(pid, start time, run number) from a run folder's wrapper.json; None if missing or malformed."""
    try:
        info = read_json(run_dir / "wrapper.json")
    except (ValueError, OSError):
        return None
    found = tuple((info or {}).get(k) for k in ("pid", "start", "run"))
    if not all(type(v) is int for v in found):
        return None
    return found


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start time in clock ticks since boot) of a process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return fields[0], int(fields[2]), int(fields[19])


def process_start(pid: int) -> int | None:
    """A process's start time in clock ticks since boot (with the pid, it names one process,
    even after the pid is reused), or None if no such process lives."""
    stat = proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):  # exited, waiting to be reaped
        return None
    return stat[2]
