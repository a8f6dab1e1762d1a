"""Pokes to sidecars: after a batch lands, tell each agent whose work changed to look now; at a
start, tell every sidecar known to heartbeat now.

A notification carries no work, only a hint ("ada: your tasks changed at COMMIT", or "the hub
has just started": event `started`); the sidecar then asks the hub with its own token. So a
lost, late or repeated poke costs at most a delay: heartbeats and the cron poll pick the work
up anyway. Sent from one thread, never from the loop.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from coordinator.wire.protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

log = logging.getLogger("agentcom.notify")
TIMEOUT = 2.0
START_TRIES = 3  # a start's poke is tried again (1 s apart): a sidecar's next heartbeat may be far off


class Notifier:
    """`poke(names, head, event)` queues; a daemon thread posts, coalescing pokes to the same
    agent (the newest wins: any of them makes the sidecar ask)."""

    def __init__(self, where: Callable[[str], tuple[str | None, str | None]]):
        self.where = where                  # agent → (its notify URL, its signing key)
        self._pending: dict[str, tuple[str, str]] = {}  # agent → (newest head, event) to tell it about
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self.sent = self.failed = 0
        self._tries: dict[str, int] = {}    # agent → failed tries of its `started` poke
        self._thread = threading.Thread(target=self._run, name="agentcom-notify", daemon=True)
        self._thread.start()

    def poke(self, names, head: str, event: str = "assignments") -> None:
        with self._lock:
            for name in names:
                self._pending[name] = (head, event)
        self._wake.set()

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=TIMEOUT + 1)

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                batch, self._pending = self._pending, {}
            for name, (head, event) in sorted(batch.items()):
                if self._stop:
                    return
                if self._send(name, head, event) or event != "started":
                    self._tries.pop(name, None)
                elif self._tries.setdefault(name, 1) < START_TRIES:
                    self._tries[name] += 1
                    again = threading.Timer(1.0, self.poke, ([name], head, event))
                    again.daemon = True
                    again.start()

    def _send(self, name: str, head: str, event: str) -> bool:
        """Post one poke; False if it did not get through."""
        url, key = self.where(name)
        if not url or not key:
            return True  # no sidecar address known yet: its next heartbeat brings the work
        body = json.dumps({"agent": name, "event": event, "head": head}).encode()
        stamp = int(time.time())
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(key, stamp, body)})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                resp.read()
            self.sent += 1
            return True
        except (urllib.error.URLError, OSError) as e:
            self.failed += 1
            log.info("could not notify %s at %s: %s (its heartbeat will bring the work)",
                     name, url, getattr(e, "reason", e))
            return False
