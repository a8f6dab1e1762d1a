"""A hub's clock for tests that run a hub in this process: timezone-aware UTC, moved only by the
test."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
