"""Where each agent's sidecar takes notifications, kept across hub restarts in the runtime folder
(`agentcom/sidecars.json`, never in git), so a new hub can ask every sidecar for a heartbeat at
once instead of waiting for each one's next.

The file is runtime state a hub writes for the next one. Read back, it is checked like a
heartbeat that brings an address; a damaged, foreign or oversized file costs the next start
those pokes (each sidecar heartbeats on its own interval anyway), never the start itself.
"""
from __future__ import annotations

import json
import logging
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from coordinator.repo.lock import runtime_dir
from coordinator.wire import names
from coordinator.wire.atomic import write_bytes
from coordinator.wire.errors import UsageError
from coordinator.wire.jsonbody import BadJson, read_object
from coordinator.wire.protocol import parse_heartbeat

log = logging.getLogger("agentcom.addresses")
FILE = "sidecars.json"
MAX_AGENTS = 10000
MAX_BYTES = 400 * MAX_AGENTS  # a name (64) and an address (300) each, with room to spare


class Addresses:
    """`load()` what the last hub kept; `save(current)` writes what `current()` returns, whole."""

    def __init__(self, repo_path: str | os.PathLike):
        self.path = runtime_dir(repo_path) / FILE
        self._lock = threading.Lock()

    def load(self) -> dict[str, str]:
        """The valid entries of the file ({} without one); what is wrong is logged and skipped."""
        try:
            data = _read_bounded(self.path)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning("ignoring %s: %s; sidecars will be heard at their next heartbeat", self.path, e)
            return {}
        try:
            entries = read_object(data).get("sidecars")
        except BadJson as e:
            log.warning("ignoring %s: %s", self.path, e.problem)
            return {}
        if not isinstance(entries, dict):
            log.warning("ignoring %s: it has no \"sidecars\" object", self.path)
            return {}
        found = {}
        for name, url in list(entries.items())[:MAX_AGENTS]:
            why = names.problem(name) or _url_problem(url)
            if why:
                log.warning("%s: skipping the entry for %.70r: %s", self.path, name, why)
                continue
            found[name] = url
        return found

    def save(self, current: Callable[[], dict[str, str]]) -> None:
        """Write the addresses as `current()` gives them now. Called by any thread: each write
        takes its snapshot under one lock, so the last write holds the newest addresses. A
        failed write is logged: it only costs the next start its pokes."""
        with self._lock:
            urls = dict(sorted(current().items()))
            try:
                write_bytes(self.path, json.dumps({"sidecars": urls}, indent=1).encode(), mode=0o600)
            except OSError as e:
                log.warning("could not keep the sidecars' addresses in %s: %s", self.path, e)


def _read_bounded(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_BYTES; never follows a link, never waits on a
    FIFO, never reads a device."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("it is not a regular file")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise ValueError(f"it is larger than {MAX_BYTES} bytes")
    return data


def _url_problem(url: object) -> str | None:
    """Why `url` is not an address a heartbeat could bring (the same check), or None."""
    try:
        parse_heartbeat({"url": url})
    except UsageError as e:
        return str(e)
    return None
