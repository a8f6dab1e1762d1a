"""The whole picture: the ledger of what happened since start, the state snapshot behind
`GET /api/state` and the status page, and the version that tells a poller whether anything
changed. Read from any thread; the loop tells it what each published batch moved.

The version is the published head, this process's random epoch, and the fleet's counter of
changes kept in memory only (heartbeats, progress notes), so an idle poll is answered from a
cached body, or with 304, without building anything.
"""
from __future__ import annotations

import json
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from coordinator.core.ledger import RECENT, Ledger
from coordinator.core.reviewrecord import awaiting
from coordinator.core.snapshot import from_view, snapshot
from coordinator.core.view import View
from coordinator.hub.fleet import Fleet
from coordinator.hub.gatehealth import GateHealth
from coordinator.hub.reviewbook import ReviewBook
from coordinator.hub.tasks import Applied, Tasks
from coordinator.repo.store import Store
from coordinator.wire.errors import AgentcomError

SEED_READS = 10 * RECENT   # finished task files read at start to fill the recent completions
STALE_AFTER = 10.0         # seconds a cached snapshot is served before elapsed times are redone


class Overview:
    """Owns the ledger, the state snapshot and its cache, and the version a poller compares."""

    def __init__(self, view: View, store: Store, tasks: Tasks, fleet: Fleet, reviews: ReviewBook,
                 applied: Applied, clock: Callable[[], datetime], lock: threading.RLock, gate: GateHealth):
        self.view, self.store, self.tasks, self.fleet, self.reviews = view, store, tasks, fleet, reviews
        self.gate = gate
        self.applied, self.clock, self.lock = applied, clock, lock
        self.ledger = Ledger(started=clock())
        # the counter starts again at 0 with every hub process: without this, a page open across
        # a restart could send an old version back, get a 304 and keep showing the old state
        self.epoch = secrets.token_hex(4)
        self._cached: tuple[str, float, bytes] | None = None
        self._fixed: tuple[object, dict] | None = None   # ((head, gate version), what follows from the view)

    def published(self, moves: list[tuple], decisions: list[str] = ()) -> None:
        """A batch is on main: count its moves and the gatekeeper's decisions."""
        for move in moves:
            self.ledger.observe(*move)
        self.ledger.decisions.update(decisions)

    def seed_completions(self) -> None:
        """Read the newest finished task files once, so the page lists recent completions at once."""
        done = [self.view.tasks[i] for i in self.view.done]
        done.sort(key=lambda r: (r.loc.shard, r.loc.task_id), reverse=True)
        docs = []
        for record in done[:SEED_READS]:
            try:
                docs.append(self.tasks.load_task(record))
            except AgentcomError:  # one unreadable old file must not stop the hub
                continue
        self.ledger.seed(docs)

    def state_version(self) -> str:
        """Changes whenever anything in the state may have changed."""
        return f"{str(self.store.base)[:16]}.{self.epoch}.{self.fleet.memory_version}.{self.gate.version}"

    def state(self) -> dict:
        with self.lock:
            return self._state()

    def _state(self) -> dict:
        head = self.store.base
        if self._fixed is None or self._fixed[0] != (head, self.gate.version):
            # the view changes only with a commit, so this part is built once per head (and again
            # when the gatekeeper finds something new about its target);
            # what a queued task waits for changes only with a commit too (a move, or the settings)
            key = (head, self.gate.version)
            self._fixed = (key, from_view(self.view, self.applied.error, self.reviews.every(),
                                          waits=lambda record: self.fleet.waits(record)[0],
                                          gate=self.gate.conditions()))
        agents = [self.fleet.agent_row(a) for _, a in sorted(self.view.agents.items())]
        return {"version": self.state_version(),
                **snapshot(self.view, self.ledger, agents, self.fleet.notes, now=self.clock(), head=str(head),
                           config_error=self.applied.error, fixed=self._fixed[1])}

    def state_body(self, clock) -> tuple[str, bytes]:
        """(version, JSON body) of the state, built at most once per version (and redone after
        STALE_AFTER seconds so elapsed times stay near the truth); `clock` is a monotonic clock."""
        with self.lock:
            version = self.state_version()
            cached = self._cached
            if cached is not None and cached[0] == version and clock() - cached[1] < STALE_AFTER:
                return version, cached[2]
            body = json.dumps(self._state(), separators=(",", ":")).encode()
            self._cached = (version, clock(), body)
            return version, body

    def metrics_view(self) -> dict:
        """What /metrics reports, copied under the lock in one go."""
        with self.lock:
            agents: dict[str, int] = {}
            for a in self.view.agents.values():
                agents[a.state.value] = agents.get(a.state.value, 0) + 1
            led = self.ledger
            return {"counts": self.view.counts(), "lanes": self.view.lane_depths(), "agents": agents,
                    "config_ok": self.applied.error is None, "failures": dict(led.failures),
                    "retries": dict(led.retries), "finished": dict(led.finished),
                    "tokens_by_agent": dict(led.tokens_by_agent), "tokens_by_model": dict(led.tokens_by_model),
                    "latency": (list(led.latency_counts), led.latency_sum), "assignments": led.assignments,
                    "decisions": dict(led.decisions),
                    "awaiting_human": Counter(r["action"] for r in awaiting(self.reviews.every()))}
