"""One check's process: argv (never a shell) in its own process group and session, with only the
environment it is given, its output (stdout and stderr together) kept to a bounded tail, and the
whole group killed when the timeout comes (SIGTERM, a short grace, SIGKILL), when the hub stops,
and after the command ends (what it left running in the background goes with it).

A process that leaves the group (its own `setsid`) escapes the kill; its hold on the output pipe
is cut off after a second, so it cannot keep a worker waiting."""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

KEEP = 1 << 20      # bytes of output kept: the tail
GRACE = 5.0         # seconds between SIGTERM and SIGKILL
DRAIN = 1.0         # seconds to wait for the rest of the output once the group is gone


@dataclass(frozen=True)
class Ran:
    code: int | None        # the exit status (negative: a signal); None when it never started or was stopped
    seconds: float
    output: bytes           # the last KEEP bytes
    cut: int = 0            # bytes cut from the start of the output
    timed_out: bool = False
    stopped: bool = False   # the hub stopped meanwhile: no result
    error: str = ""         # why it could not start


def run(argv: list[str], cwd: str, env: dict, timeout: float, *, stop: threading.Event | None = None,
        grace: float = GRACE, keep: int = KEEP) -> Ran:
    """Run `argv` in `cwd` until it ends, `timeout` seconds pass, or `stop` is set."""
    start = time.monotonic()
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=write_fd,
                                stderr=write_fd, start_new_session=True, close_fds=True)
    except OSError as e:
        os.close(read_fd)
        return Ran(None, 0.0, b"", error=f"{argv[0]} could not start: {e.strerror}")
    finally:
        os.close(write_fd)
    out = _Tail(keep)
    pidfd = os.pidfd_open(proc.pid)   # readable once the process ends; it is not reaped until wait()
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(read_fd, selectors.EVENT_READ, "out")
            sel.register(pidfd, selectors.EVENT_READ, "exit")
            ended = _until(sel, read_fd, out, start + timeout, stop)
            stopped = not ended and stop is not None and stop.is_set()
            timed_out = not ended and not stopped
            if not ended:
                _signal(proc.pid, signal.SIGTERM)
                ended = _until(sel, read_fd, out, time.monotonic() + grace, None)
            # the leader has ended (or will now); its group may not have: SIGKILL whatever is left,
            # while the unreaped leader still holds the group id so no other group can have it
            _signal(proc.pid, signal.SIGKILL)
            code = proc.wait()
            sel.unregister(pidfd)
            _until(sel, read_fd, out, time.monotonic() + DRAIN, None, drain=True)
    finally:
        os.close(pidfd)
        os.close(read_fd)
    return Ran(None if stopped else code, time.monotonic() - start, out.bytes(), out.cut, timed_out, stopped)


def _until(sel, read_fd: int, out: _Tail, deadline: float, stop: threading.Event | None, drain: bool = False) -> bool:
    """Read output until the process ends (True) or the deadline or `stop` comes (False); with
    `drain`, until the pipe closes or the deadline comes."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or (stop is not None and stop.is_set()):
            return False
        if drain and not sel.get_map():
            return True
        for key, _ in sel.select(min(left, 0.5)):
            if key.data == "exit":
                return True
            chunk = os.read(read_fd, 65536)
            if chunk:
                out.add(chunk)
            else:
                sel.unregister(read_fd)   # every writer closed it; the exit comes next


def _signal(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass   # the group is gone already


class _Tail:
    def __init__(self, keep: int):
        self.keep, self.total, self._buf = keep, 0, bytearray()

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._buf += chunk
        if len(self._buf) > self.keep:
            del self._buf[:len(self._buf) - self.keep]

    @property
    def cut(self) -> int:
        return self.total - len(self._buf)

    def bytes(self) -> bytes:
        return bytes(self._buf)
