"""The single-writer lock on a coordination repo, and the runtime folder beside it.

The lock is an flock(2) on `agentcom/coordinator.lock` inside the bare repo: the kernel drops it
when its process dies (even by SIGKILL), so a dead coordinator never blocks a new one and no
live holder's lock is ever deleted or stolen.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import filelock

from coordinator.wire.atomic import write_bytes
from coordinator.wire.errors import CoordinatorBusy

RUNTIME_DIR = "agentcom"


def runtime_dir(repo_path: str | os.PathLike) -> Path:
    path = Path(repo_path) / RUNTIME_DIR
    path.mkdir(mode=0o700, exist_ok=True)
    return path


class WriterLock:
    """Held by the one process allowed to write the repo (a hub, or a one-shot CLI command)."""

    def __init__(self, repo_path: str | os.PathLike):
        self.dir = runtime_dir(repo_path)
        self.repo_path = str(repo_path)
        self._lock = filelock.UnixFileLock(str(self.dir / "coordinator.lock"), timeout=0)
        self.info_path = self.dir / "coordinator.json"

    def acquire(self, role: str, **info) -> None:
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise CoordinatorBusy(self.repo_path, self.holder()) from None
        record = {"role": role, "pid": os.getpid(), "host": socket.gethostname(),
                  "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **info}
        write_bytes(self.info_path, json.dumps(record).encode())

    def update(self, **info) -> None:
        record = {**self.read_info(), **info}
        write_bytes(self.info_path, json.dumps(record).encode())

    def release(self) -> None:
        if self._lock.is_locked:
            self.info_path.unlink(missing_ok=True)
            self._lock.release()

    def read_info(self) -> dict:
        try:
            return json.loads(self.info_path.read_text())
        except (OSError, ValueError):
            return {}

    def holder(self) -> str:
        info = self.read_info()
        if not info:
            return "holder unknown"
        where = f", serving {info['url']}" if info.get("url") else ""
        return (f"{info.get('role', 'coordinator')} pid {info.get('pid')} on {info.get('host')} "
                f"since {info.get('since')}{where}")

    def is_held_elsewhere(self) -> bool:
        probe = filelock.UnixFileLock(str(self.dir / "coordinator.lock"), timeout=0)
        try:
            probe.acquire()
        except filelock.Timeout:
            return True
        probe.release()
        return False
