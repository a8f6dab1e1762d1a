"""The processes of the agent runs under a sidecar's state directory, found as sidecar/runs.py
finds them (a run's wrapper.json names the wrapper's pid and start time; the wrapper leads its own
process group, which holds the agent and its children), and how to stop them for good. A stop
first notes itself for each live run (STATE/stops/ID.ATTEMPT.json, outside the run's folder, which
the agent can write), so the run's end is reported as the operator's interruption, not as the
agent's failure."""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from coordinator.wire.atomic import read_json, write_json
from sidecar.runtime.runs import STOPS, proc_stat, stop_path, wrapper

WRAPPER_WAIT = 2.0   # seconds a just-spawned wrapper gets to write wrapper.json


@dataclass(frozen=True)
class Wrapper:
    """One run's wrapper, as its wrapper.json names it: it leads the run's process group."""
    dir: Path
    pid: int
    start: int
    run: int

    def alive(self) -> bool:
        stat = proc_stat(self.pid)
        return stat is not None and stat[0] not in ("Z", "X") and stat[2] == self.start


def wrappers(state_dir: Path) -> list[Wrapper]:
    """Every run's wrapper on record under `state_dir`, alive or not (its group may outlive it)."""
    found, runs = [], state_dir / "runs"
    for run_dir in sorted(runs.iterdir()) if runs.is_dir() else ():
        named = wrapper(run_dir)
        if named is not None:
            found.append(Wrapper(run_dir, *named))
    return found


def live_wrappers(state_dir: Path) -> list[Wrapper]:
    """The wrappers that still run: the same process (pid and start time) their wrapper.json names."""
    return [w for w in wrappers(state_dir) if w.alive()]


def mark_stopped(state_dir: Path, why: str, now: float) -> int:
    """Note a stop for each run whose wrapper lives ({task, attempt, run, why, at} in
    STATE/stops/ID.ATTEMPT.json), before any signal is sent; returns how many runs were marked. A
    run that lives on past the stop ignores it (result.stopped_by)."""
    marked = 0
    (state_dir / STOPS).mkdir(mode=0o700, exist_ok=True)
    for w in live_wrappers(state_dir):
        task_id, _, attempt = w.dir.name.rpartition(".")  # the folder is named ID.ATTEMPT by Runs.create
        if not task_id or not attempt.isdigit():
            continue
        write_json(stop_path(state_dir, task_id, int(attempt)),
                   {"task": task_id, "attempt": int(attempt), "run": w.run, "why": why[:200], "at": now})
        marked += 1
    return marked


def run_processes(state_dir: Path) -> list[int]:
    """Every live process of every run under `state_dir`: the members of each wrapper's process
    group that started no earlier than the wrapper (so a reused pid is never taken for ours)."""
    groups = {w.pid: w.start for w in wrappers(state_dir)}
    if not groups:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = proc_stat(int(entry))
        if stat is None or stat[0] in ("Z", "X"):
            continue
        state, group, start = stat
        if group in groups and start >= groups[group]:
            found.append(int(entry))
    return sorted(found)


def wrappers_settled(state_dir: Path, now: float) -> bool:
    """False while a run the sidecar just started has not written its wrapper.json yet."""
    for run_json in (state_dir / "runs").glob("*/run.json"):
        try:
            notes = read_json(run_json) or {}
        except ValueError:
            continue
        named = wrapper(run_json.parent)
        if notes.get("phase") == "running" and (named is None or named[2] != notes.get("runs")) \
                and now - (notes.get("started_at") or 0) < WRAPPER_WAIT:
            return False
    return True


def stop_runs(state_dirs: list[Path], grace: float, why: str = "stopped by the operator") -> list[int]:
    """SIGTERM every run process under `state_dirs` (looking again for any they start), SIGKILL
    whatever is left after `grace`; returns the pids that had to be killed. Each run is marked
    stopped first, with `why`, so its sidecar reports it interrupted, not failed."""
    deadline = time.monotonic() + WRAPPER_WAIT
    while not all(wrappers_settled(d, time.time()) for d in state_dirs) and time.monotonic() < deadline:
        time.sleep(0.05)
    for d in state_dirs:
        mark_stopped(d, why, time.time())
    termed: set[int] = set()
    killed: list[int] = []
    deadline = time.monotonic() + grace
    while True:
        live = [pid for d in state_dirs for pid in run_processes(d)]
        if not live:
            return killed
        late = time.monotonic() > deadline
        if late and time.monotonic() > deadline + grace:
            return killed + [pid for pid in live if pid not in killed]  # unkillable (D state): say so
        for pid in live:
            if late and pid not in killed:
                _signal(pid, signal.SIGKILL)
                killed.append(pid)
            elif pid not in termed:
                _signal(pid, signal.SIGTERM)
                termed.add(pid)
        time.sleep(0.05)


def kill_runs(state_dir: Path) -> list[int]:
    """SIGKILL every run process under `state_dir` at once (a machine lost); returns the pids."""
    live = run_processes(state_dir)
    for pid in live:
        _signal(pid, signal.SIGKILL)
    return live


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
