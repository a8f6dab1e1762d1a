"""Reports not yet delivered to the hub: one file each under STATE/outbox/, written (fsynced)
before the first attempt to send, removed only once the hub has answered. Sent in order.

Delivery is at least once; the hub makes it exactly once as far as anyone can tell, because a
repeated accepted, done or failed report for the same attempt is answered as a duplicate and
changes nothing (docs/agent-protocol.md).
"""
from __future__ import annotations

import itertools
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from coordinator.wire.atomic import create, read_json, write_json
from coordinator.wire.client import HttpBackend
from coordinator.wire.errors import HubRefused, HubUnavailable

_NUMBER = re.compile(r"[0-9]{1,18}")


def _number(path: Path) -> int:
    """The sequence number a file name starts with (0 for a name that has none)."""
    found = _NUMBER.match(path.name)
    return int(found.group()) if found else 0


@dataclass(frozen=True)
class Pending:
    path: Path
    task_id: str
    body: dict


class Outbox:
    def __init__(self, directory: Path):
        self.dir = directory
        self.refused = directory / "refused"
        self.refused.mkdir(parents=True, exist_ok=True, mode=0o700)
        # numbers go on from the highest ever used here, refused reports included: a report
        # refused after a restart never takes the name of one refused before it
        used = [_number(p) for folder in (self.dir, self.refused) for p in folder.glob("*.json")]
        self._seq = itertools.count(max(used, default=0) + 1)

    def put(self, task_id: str, body: dict) -> None:
        write_json(self.dir / f"{next(self._seq):012d}.json", {"task_id": task_id, "body": body,
                                                                "queued_at": time.time()})

    def pending(self) -> list[Pending]:
        out = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                doc = read_json(path)
            except ValueError:
                doc = None
            if doc is None:
                continue  # sent meanwhile by another pass (remove-agent delivers beside the sidecar)
            if "task_id" not in doc or "body" not in doc:  # kept for a human, out of the way
                self._set_aside(path, json.dumps(doc, ensure_ascii=False).encode())
                continue
            out.append(Pending(path, doc["task_id"], doc["body"]))
        return out

    def sent(self, item: Pending) -> None:
        item.path.unlink(missing_ok=True)

    def refuse(self, item: Pending, why: str) -> None:
        """The hub will never take this one: keep it, with the reason, for a human to read."""
        doc = read_json(item.path) or {}
        self._set_aside(item.path, json.dumps({**doc, "refused": why}, indent=1, ensure_ascii=False).encode())

    def _set_aside(self, path: Path, data: bytes) -> None:
        """`data` into refused/ under the pending file's name, never over a file kept there
        before (a taken name gets a random suffix), then the pending file goes. A crash between
        the two keeps the report twice, never zero times."""
        name = path.name
        while not create(self.refused / name, data):
            name = f"{path.stem}.{os.urandom(4).hex()}{path.suffix}"
        path.unlink(missing_ok=True)

    def holds(self, task_id: str, attempt: int) -> bool:
        return any(p.task_id == task_id and p.body.get("attempt") == attempt for p in self.pending())


def flush(outbox: Outbox, api: HttpBackend) -> tuple[int, str | None]:
    """Send every pending report now, oldest first, as a sidecar pass does (for `remove-agent`,
    beside or after the sidecar). Returns (how many the hub took, why the rest could not be
    sent: None when nothing is left). A report the hub refuses for good goes to refused/."""
    sent = 0
    for item in outbox.pending():
        try:
            api.report(item.task_id, item.body)
        except HubUnavailable as e:
            return sent, f"the hub does not answer: {e}"
        except HubRefused as e:
            if e.status in (401, 403) or e.status >= 500:
                return sent, f"the hub refuses the agent's token or failed ({e.status}: {e.message})"
            outbox.refuse(item, f"{e.status} {e.error}: {e.message}")
            continue
        outbox.sent(item)
        sent += 1
    return sent, None
