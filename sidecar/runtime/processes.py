"""The processes of the agent runs under a sidecar's state directory, found as sidecar/runs.py
finds them (a run's wrapper.json names the wrapper's pid and start time; the wrapper leads its own
process group, which holds the agent and its children), and how to stop them for good. A stop
first notes itself beside each live run (interrupted.json), so the run's end is reported as the
operator's interruption, not as the agent's failure."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from coordinator.wire.atomic import read_json, write_json
from sidecar.runtime.runs import STOP_MARK

WRAPPER_WAIT = 2.0   # seconds a just-spawned wrapper gets to write wrapper.json


def _stat(pid: str) -> tuple[str, int, int] | None:
    """(state, process group, start time in clock ticks) of a process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return fields[0], int(fields[2]), int(fields[19])


def _wrappers(state_dir: Path) -> dict[int, int]:
    """Each run's wrapper: its pid (its process group's id) → its start time."""
    found = {}
    for wrapper in (state_dir / "runs").glob("*/wrapper.json"):
        try:
            info = read_json(wrapper)
        except ValueError:
            continue
        if info and isinstance(info.get("pid"), int) and isinstance(info.get("start"), int):
            found[info["pid"]] = info["start"]
    return found


def mark_stopped(state_dir: Path, why: str, now: float) -> int:
    """Note a stop beside each run whose wrapper lives ({run, why, at} in interrupted.json), before
    any signal is sent; returns how many runs were marked. A run that lives on past the stop
    ignores it (result.stopped_by)."""
    marked = 0
    for wrapper in (state_dir / "runs").glob("*/wrapper.json"):
        try:
            info = read_json(wrapper) or {}
        except ValueError:
            continue
        pid, start, run = info.get("pid"), info.get("start"), info.get("run")
        if not all(isinstance(v, int) for v in (pid, start, run)):
            continue
        stat = _stat(str(pid))
        if stat is None or stat[0] in ("Z", "X") or stat[2] != start:
            continue
        write_json(wrapper.with_name(STOP_MARK), {"run": run, "why": why[:200], "at": now})
        marked += 1
    return marked


def run_processes(state_dir: Path) -> list[int]:
    """Every live process of every run under `state_dir`: the members of each wrapper's process
    group that started no earlier than the wrapper (so a reused pid is never taken for ours)."""
    groups = _wrappers(state_dir)
    if not groups:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _stat(entry)
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
            wrapper = read_json(run_json.with_name("wrapper.json")) or {}
        except ValueError:
            continue
        if notes.get("phase") == "running" and wrapper.get("run") != notes.get("runs") \
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
