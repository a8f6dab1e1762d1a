"""A sidecar as a detached process (a session of its own, output to a log file), for a machine
without systemd: started by `add-agent`, found again by its record in the state folder, and
stopped by the next `add-agent` (to restart it) or by `remove-agent`.

A pid alone could name another process after a reuse, so the record keeps the pid with the
process's start time, and nothing is signalled unless both still match.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from coordinator.wire.atomic import read_json, write_json
from sidecar.runtime.runs import process_start

PROJECT = Path(__file__).resolve().parents[2]
CLI = PROJECT / "agentcom.py"
RECORD = "detached.json"
STATUS = "sidecar.json"
# never hand a child our own identity: a sidecar would take $AGENTCOM_AGENT_TOKEN over its file
PRIVATE_ENV = ("AGENTCOM_AGENT_TOKEN", "AGENTCOM_TOKEN", "AGENTCOM_HUB", "AGENTCOM_REPO",
               "AGENTCOM_SIDECAR_CONFIG")


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in PRIVATE_ENV}


def command(config: Path) -> list[str]:
    """The argv that runs the sidecar for `config` (also what the service files hold)."""
    return [sys.executable, str(CLI), "sidecar", "--config", str(config)]


def start(config: Path, state_dir: Path, log: Path) -> int:
    """Start the sidecar in a new session, its output appended to `log`; returns its pid."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        argv = command(config)
        pid = os.posix_spawn(argv[0], argv, child_env(), setsid=True, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)])
    finally:
        os.close(fd)
    write_json(state_dir / RECORD, {"pid": pid, "start": process_start(pid), "config": str(config),
                                    "log": str(log), "started_at": time.time()})
    return pid


def running(state_dir: Path, config: Path | None = None) -> list[int]:
    """Live sidecars of this state folder: the one we started (by its record), and the one that
    says it holds the folder (sidecar.json) if its command line names `config`."""
    found = []
    record = _read(state_dir / RECORD)
    if isinstance(record.get("pid"), int) and record.get("start") is not None \
            and process_start(record["pid"]) == record["start"]:
        found.append(record["pid"])
    pid = _read(state_dir / STATUS).get("pid")
    if config is not None and isinstance(pid, int) and pid not in found and _runs_sidecar(pid, config):
        found.append(pid)
    return found


def stop(state_dir: Path, config: Path | None = None, grace: float = 15.0) -> list[int]:
    """SIGTERM the live sidecars of this folder, SIGKILL after `grace`; returns their pids. Runs
    they started go on (in their own sessions); the next sidecar picks them up."""
    pids = running(state_dir, config)
    marks = {pid: process_start(pid) for pid in pids}
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_alive(p, s) for p, s in marks.items()):
        if time.monotonic() > deadline:
            for p, s in marks.items():
                if _alive(p, s):
                    _signal(p, signal.SIGKILL)
            deadline = time.monotonic() + grace
        time.sleep(0.05)
    return pids


def exited(pid: int) -> int | None:
    """The exit code of a child we started, if it has ended (None while it runs, or if it is
    not our child)."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if done else None


def _alive(pid: int, start: int | None) -> bool:
    exited(pid)  # reap it if it was our own child
    return start is not None and process_start(pid) == start


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _runs_sidecar(pid: int, config: Path) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return process_start(pid) is not None and b"sidecar" in argv and str(config).encode() in argv


def _read(path: Path) -> dict:
    try:
        return read_json(path) or {}
    except ValueError:
        return {}
