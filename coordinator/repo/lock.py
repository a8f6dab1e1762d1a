"""The single-writer lock on a coordination repo, and the runtime folder beside it.

The lock is an flock(2) on `agentcom/coordinator.lock` inside the bare repo: the kernel drops it
when its process dies (even by SIGKILL), so a dead coordinator never blocks a new one and no
live holder's lock is ever deleted or stolen.

Who holds it says so in `coordinator.json` (role, pid, and a hub's URL once it serves), and the
others act on that: a one-shot command ends by itself, so a hub or another command waits for it
(bounded); a starting hub will serve, so a command waits for its URL (bounded) and then talks to
it; a hub does not end by itself, so a second hub is refused at once, told where the first serves.
"""
from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import filelock

from coordinator.wire.atomic import write_bytes
from coordinator.wire.errors import CoordinatorBusy

RUNTIME_DIR = "agentcom"
HUB, ONE_SHOT = "hub", "cli"   # the roles a holder names; a gatekeeper run without a hub is another
POLL = 0.05                    # seconds between looks at a lock held by someone else
ONE_SHOT_WAIT = 30.0           # seconds anyone waits for a one-shot command that holds the lock
HUB_START_WAIT = 60.0          # seconds a command waits for a starting hub to say where it serves


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

    def acquire(self, role: str, *, wait: float = 0.0, say: Callable[[str], None] | None = None, **info) -> None:
        """Take the lock. While a one-shot command holds it (or a holder that has not said yet who
        it is), wait up to `wait` seconds for it to end, telling `say` once; anyone else's hold
        is refused at once (CoordinatorBusy, its `role` the holder's), since it will not end by
        itself."""
        deadline, told = time.monotonic() + wait, False
        while not self._take():
            holder = self.live_info()
            role_held = holder.get("role")
            if role_held not in (ONE_SHOT, None):
                raise CoordinatorBusy(self.repo_path, self.holder(), _refusal(self.repo_path, holder), role_held)
            if time.monotonic() >= deadline:
                raise CoordinatorBusy(self.repo_path, self.holder(), _overdue(self.repo_path, holder, wait), role_held)
            if say is not None and role_held and not told:
                say(_waiting(holder))
                told = True
            time.sleep(POLL)
        record = {"role": role, "pid": os.getpid(), "host": socket.gethostname(),
                  "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **info}
        write_bytes(self.info_path, json.dumps(record).encode())

    def serving(self, wait: float, say: Callable[[str], None] | None = None) -> str | None:
        """The URL of the hub that holds the lock, waiting up to `wait` seconds for a starting one
        to say it (telling `say` once); None when no hub holds it (nobody does, or a one-shot
        command or a gatekeeper does: `acquire` deals with those)."""
        deadline, told = time.monotonic() + wait, False
        while self.is_held_elsewhere():
            holder = self.live_info()
            if holder.get("role") == HUB and isinstance(holder.get("url"), str):
                return holder["url"]
            if holder.get("role") not in (HUB, None):
                return None
            if time.monotonic() >= deadline:
                raise CoordinatorBusy(self.repo_path, self.holder(), _unserved(self.repo_path, holder, wait), HUB)
            if say is not None and holder and not told:
                say(_waiting(holder))
                told = True
            time.sleep(POLL)
        return None

    def _take(self) -> bool:
        try:
            self._lock.acquire()
        except filelock.Timeout:
            return False
        return True

    def update(self, **info) -> None:
        record = {**self.read_info(), **info}
        write_bytes(self.info_path, json.dumps(record).encode())

    def release(self) -> None:
        if self._lock.is_locked:
            self.info_path.unlink(missing_ok=True)
            self._lock.release()

    def read_info(self) -> dict:
        try:
            info = json.loads(self.info_path.read_bytes()[:65536])
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}

    def live_info(self) -> dict:
        """`coordinator.json` if it may be the holder's: {} when it names a process of this
        machine that is gone (left by a killed holder; the new one has not written its own yet)."""
        info = self.read_info()
        pid = info.get("pid")
        if not isinstance(pid, int) or pid <= 0:
            return {}
        if info.get("host") == socket.gethostname():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return {}
            except PermissionError:
                pass  # alive, someone else's
        return info

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


def _who(info: dict) -> str:
    if info.get("role") == ONE_SHOT:
        return f"the one-shot command pid {info.get('pid')} ({str(info.get('command') or 'agentcom')[:80]})"
    return f"the {str(info.get('role'))[:20]} pid {info.get('pid')}"


def _waiting(info: dict) -> str:
    if info.get("role") == HUB:
        return f"waiting for the hub pid {info.get('pid')} to start serving"
    return f"waiting for {_who(info)} to finish"


def _refusal(repo: str, info: dict) -> str:
    """Why a hold that does not end by itself refuses us, and what to do."""
    pid = info.get("pid")
    if info.get("role") == HUB and info.get("url"):
        return (f"a hub already serves {repo} at {info['url']}: use it (commands find it by themselves, "
                f"or give --hub {info['url']}), or stop it (pid {pid}) first to start another here")
    if info.get("role") == HUB:
        return (f"a hub is starting on {repo} (pid {pid}): commands will use it once it serves; "
                "stop it first to start another here")
    return (f"{_who(info)} coordinates {repo} without a hub and does not end by itself: stop it first "
            "(or start `agentcom hub`, which can run the gatekeeper itself)")


def _overdue(repo: str, info: dict, wait: float) -> str:
    if not info:
        return f"another process holds {repo} and has not said who it is after {wait:g}s; try again"
    return f"{_who(info)} still holds {repo} after {wait:g}s; let it finish, then try again"


def _unserved(repo: str, info: dict, wait: float) -> str:
    return (f"{_who(info) if info else 'a hub'} holds {repo} but has not said where it serves after {wait:g}s: "
            "it may still be starting (catching up with many pushes takes a while) or be stuck; "
            "try again, or name it with --hub URL")
