"""The gatekeeper as a background duty: a thread that reviews one PR when a webhook names it and
every open PR on a slow poll (the fallback for a missed delivery). It never runs in the hub's
loop: it talks to forges over the network, then hands each decision to the loop to commit."""
from __future__ import annotations

import logging
import queue
import threading

from coordinator.reviewer.options import Setup
from coordinator.reviewer.reviewer import Reviewer
from coordinator.reviewer.secretfiles import read_secret
from coordinator.wire.errors import AgentcomError

log = logging.getLogger("agentcom.gatekeeper")
QUEUE_MAX = 1000   # pending webhook reviews; past it a delivery is dropped (the poll covers it)
ALL = "all"


def make_forge(setup: Setup, hub_url: str | None = None, operator_token: str | None = None):
    if setup.forge == "github":
        from coordinator.forge.github import GitHubForge

        return GitHubForge(setup.name, read_secret(setup.github_token_file, "GitHub token"), setup.github_api)
    from coordinator.forge.local import LocalForge
    from coordinator.wire.client import HttpBackend

    return LocalForge(HttpBackend(hub_url, operator_token), setup.target)


class GatekeeperService:
    """Reviews in one thread; `wanted(number)` asks for one PR soon, `wanted(sha)` for the PRs
    whose head it is, `wanted(ALL)` for a pass."""

    def __init__(self, reviewer: Reviewer, interval: float, runner=None):
        self.reviewer, self.interval, self.runner = reviewer, interval, runner   # runner: checkrun.CheckRunner
        self._wanted: queue.Queue = queue.Queue(QUEUE_MAX)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agentcom-gatekeeper", daemon=True)
        self.passes = 0

    @property
    def name(self) -> str:
        return self.reviewer.name

    def start(self) -> None:
        if self.runner is not None:
            self.runner.start()
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wanted.put_nowait(None) if not self._wanted.full() else None
        if self.runner is not None:
            self.runner.close()   # a check under way is killed, left pending, and run again at the next start
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def wanted(self, what) -> bool:
        """Queue a review of PR `what` (or ALL); False if the queue is full."""
        try:
            self._wanted.put_nowait(what)
            return True
        except queue.Full:
            return False

    def _run(self) -> None:
        what = ALL  # a pass at start: whatever happened while the hub was down
        while not self._stop.is_set():
            try:
                if what == ALL:
                    self.reviewer.review_all()
                    self.passes += 1
                elif isinstance(what, int):
                    done = self.reviewer.review(what)
                    if done is not None and done.merged:
                        what = ALL   # main moved: every other open PR may conflict or be behind now
                        continue
                elif isinstance(what, str):
                    self.reviewer.review_head(what)
            except AgentcomError as e:  # loop boundary: log and go on
                log.error("gatekeeper: %s", e)
            except Exception:
                log.exception("gatekeeper pass failed")
            try:
                what = self._wanted.get(timeout=self.interval)
            except queue.Empty:
                what = ALL
