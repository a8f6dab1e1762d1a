"""[pure] What the hub saw happen since it started: recent completions, tokens spent, failures,
retries, how long queued work waited for an agent, and the gatekeeper's decisions by action.

Fed one task move at a time (`observe`), only after the batch holding that move is published,
so a batch that loses a race to a push and runs again is not counted twice. Lost on a restart,
like heartbeats: git keeps the full record (each task's `tokens_used`, `result` and history).
"""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from coordinator.core.layout import PER_AGENT, State
from coordinator.wire.times import format_time, parse_time

RECENT = 50            # completions kept for the status page
TOKEN_EVENTS = 20000   # token events kept for the chart (totals are kept apart and never dropped)
LATENCY_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)
"""Seconds from queued to assigned: work may wait hours for a free agent, so the buckets do too."""


@dataclass(frozen=True)
class TokenEvent:
    at: datetime
    agent: str
    task_id: str
    tokens: int
    model: str | None


@dataclass
class Ledger:
    started: datetime
    completions: deque = field(default_factory=lambda: deque(maxlen=RECENT))
    events: deque = field(default_factory=lambda: deque(maxlen=TOKEN_EVENTS))
    tokens_by_agent: Counter = field(default_factory=Counter)
    tokens_by_model: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)     # outcome kind → count
    retries: Counter = field(default_factory=Counter)      # "automatic" | "human" → count
    finished: Counter = field(default_factory=Counter)     # done | dead | cancelled → count
    decisions: Counter = field(default_factory=Counter)    # gatekeeper action (merge, escalate, ...) → count
    assignments: int = 0
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0

    def observe(self, before: dict, after: dict, was: State, now: State, at: datetime) -> None:
        """One task move from state `was` (document `before`) to `now` (document `after`)."""
        spent = int(after.get("tokens_used") or 0) - int(before.get("tokens_used") or 0)
        agent = (after.get("outcome") or {}).get("agent") or before.get("agent")
        if spent > 0 and agent:
            model = (after.get("result") or {}).get("model")
            self.events.append(TokenEvent(at, agent, after["id"], spent, model))
            self.tokens_by_agent[agent] += spent
            self.tokens_by_model[model or "unknown"] += spent
        if now is State.ASSIGNED:
            self._assigned(before, at)
        if was in PER_AGENT and now in (State.QUEUED, State.DEAD):
            self.failures[(after.get("outcome") or {}).get("kind") or "unknown"] += 1
            if now is State.QUEUED:
                self.retries["automatic"] += 1
        if was in (State.DEAD, State.CANCELLED) and now is State.QUEUED:
            self.retries["human"] += 1
        if now in (State.DONE, State.DEAD, State.CANCELLED):
            self.finished[now.label] += 1
        if now is State.DONE:
            self.completions.appendleft(completion(after))

    def _assigned(self, before: dict, at: datetime) -> None:
        self.assignments += 1
        try:  # from when it could first run: a not_before or a retry's backoff is a wait on purpose
            ready = max(parse_time(before[key]) for key in ("queued_at", "not_before", "retry_at") if before.get(key))
        except ValueError:  # no time at all, or one that does not parse
            return
        waited = max(0.0, (at - ready).total_seconds())
        self.latency_sum += waited
        for i, bound in enumerate(LATENCY_BUCKETS):
            if waited <= bound:
                self.latency_counts[i] += 1
                return
        self.latency_counts[-1] += 1

    def seed(self, done: list[dict]) -> None:
        """Fill the recent completions from task files read at start (any order)."""
        for task in sorted(done, key=lambda t: t.get("finished_at") or "")[-RECENT:]:
            self.completions.appendleft(completion(task))

    def series(self, now: datetime, hours: int = 24) -> list[dict]:
        """Tokens per hour for the last `hours` hours, oldest first, split by agent."""
        top = now.replace(minute=0, second=0, microsecond=0)
        first = top - timedelta(hours=hours - 1)
        buckets = [{"hour": format_time(first + timedelta(hours=i)), "total": 0, "by_agent": {}}
                   for i in range(hours)]
        for e in reversed(self.events):
            if e.at < first:
                break
            slot = buckets[min(hours - 1, int((e.at - first).total_seconds() // 3600))]
            slot["total"] += e.tokens
            slot["by_agent"][e.agent] = slot["by_agent"].get(e.agent, 0) + e.tokens
        return buckets


def completion(task: dict) -> dict:
    """A finished task's row for the recent completions list."""
    result = task.get("result") or {}
    return {"id": task["id"], "title": task.get("title"), "agent": (task.get("outcome") or {}).get("agent"),
            "finished_at": task.get("finished_at"), "pr_url": result.get("pr_url"),
            "summary": (result.get("summary") or "")[:300] or None, "model": result.get("model"),
            "tokens_used": int(task.get("tokens_used") or 0)}
