"""Pushes to main in flight, as the hub's loop must respect them: from the moment the pre-receive
check of a push starts (main still where the push found it) until git has moved main, or a short
time has passed, the loop does not publish. Git updates main only after the hook answers, and
only if main is still at the push's old value, so a publish in between would turn a push the hub
let through into git's "cannot lock ref ... is at X but expected Y".

Every hold is bounded: `HOLD` after its check began, or `LANDING` after approval if the check took
longer; a push approved that never lands (git refused it for another reason) stalls the loop's
next publish by that much at most. While the loop waits to publish, no new hold
begins, so a stream of pushes cannot starve it.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count

from coordinator.repo.gitrepo import GitRepo

HOLD = 2.0    # seconds a push in flight may keep the loop from publishing
POLL = 0.002  # seconds between looks at main while someone waits on a hold
LANDING = 0.5  # seconds an approved push has at least to land, however long its check took
MOVED = ("main moved while your push was checked (the hub or another push landed first), so git "
         "would refuse it; nothing of it landed: git pull --rebase and push again")


@dataclass
class _Hold:
    old: str
    until: float
    approved: bool = False


class PushGate:
    """The holds of pushes to main in flight. Its own handle on the repo, read under its lock only."""

    def __init__(self, repo_path: str, clock: Callable[[], float] = time.monotonic, hold: float = HOLD):
        self._git = GitRepo(repo_path)
        self._clock, self.hold = clock, hold
        self._cond = threading.Condition()
        self._holds: dict[int, _Hold] = {}
        self._ids = count(1)
        self._publishing = False

    def close(self) -> None:
        with self._cond:
            self._git.close()

    def _main(self) -> str:
        return str(self._git.head())

    def _settle(self) -> None:
        """Drop the holds that are over: main left their old value (the push landed, or something
        else did and git will refuse it), or their time ran out."""
        main, now = self._main(), self._clock()
        for key in [k for k, h in self._holds.items() if h.old != main or now > h.until]:
            del self._holds[key]

    def begin(self, old: str) -> int | None:
        """A check of a push from `old` starts: hold publishing if main is still there (the hold's
        key), else None (git will refuse the push anyway; `approve` says so)."""
        with self._cond:
            if self._publishing or self._main() != old:
                return None
            key = next(self._ids)
            self._holds[key] = _Hold(old, self._clock() + self.hold)
            return key

    def approve(self, key: int | None, old: str) -> str | None:
        """The check passed: None to let the push through (held until git moves main), or why not.
        A push approved earlier from the same `old` lands first; then this one is told main moved."""
        with self._cond:
            deadline = self._clock() + self.hold + POLL
            while self._clock() < deadline:
                self._settle()
                rival = any(h.approved and h.old == old for k, h in self._holds.items() if k != key)
                if not rival and (key in self._holds or not self._publishing):
                    break
                self._cond.wait(POLL)
            self._settle()
            mine = self._holds.get(key)
            if (self._main() != old or (mine is None and self._publishing)
                    or any(h.approved and h.old == old for k, h in self._holds.items() if k != key)):
                self._holds.pop(key, None)  # without a hold of its own, the loop may be publishing now
                return MOVED
            # the hold keeps its deadline (one push holds the loop for `hold` at most), with a
            # moment for git to move main after a check that took most of it
            until = max(mine.until if mine else 0.0, self._clock() + LANDING)
            self._holds[key if key is not None else next(self._ids)] = _Hold(old, until, approved=True)
            return None

    def release(self, key: int | None) -> None:
        """The push was refused: its hold ends now."""
        with self._cond:
            self._holds.pop(key, None)
            self._cond.notify_all()

    @contextmanager
    def publishing(self) -> Iterator[None]:
        """Around the loop's publish: wait out the holds (each ends by its own time at the latest);
        no hold begins until the publish is over."""
        with self._cond:
            self._publishing = True
            while True:
                self._settle()
                if not self._holds:
                    break
                self._cond.wait(POLL)
        try:
            yield
        finally:
            with self._cond:
                self._publishing = False
                self._cond.notify_all()

    def held(self) -> int:
        """How many pushes hold the loop now."""
        with self._cond:
            self._settle()
            return len(self._holds)

    @property
    def waiting(self) -> bool:
        """Whether the loop is waiting to publish (or publishing)."""
        return self._publishing
