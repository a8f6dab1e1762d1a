"""The gatekeeper as a background duty: a thread that reviews one PR when a webhook names it and
every open PR on a slow poll (the fallback for a missed delivery). It never runs in the hub's
loop: it talks to forges over the network, then hands each decision to the loop to commit. At
the start of each pass it also looks at its target (is a GitHub base branch protected?) and
reports what a human should see to `health` (the hub's GateHealth), kept until the next pass."""
from __future__ import annotations

import logging
import queue
import threading

from coordinator.gatekeeper import protection
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

    def __init__(self, reviewer: Reviewer, interval: float, runner=None, health=None):
        self.reviewer, self.interval = reviewer, interval
        self.runner, self.health = runner, health   # checkrun.CheckRunner; gatehealth.GateHealth
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

    @property
    def queued(self) -> int:
        """Reviews asked for and not yet begun (a pass counts as one)."""
        return self._wanted.qsize()

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
                    self._look()
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

    def _look(self) -> None:
        """Report what a human should see about the target now (never raises: a read that fails
        is itself the condition)."""
        if self.health is None:
            return
        try:
            self.health.report(target_conditions(self.reviewer.forge, self.reviewer.name))
        except Exception:  # a duty's boundary: a bug here must not stop the reviews
            log.exception("gatekeeper: the look at its target failed")


def target_conditions(forge, name: str) -> list[dict]:
    """The health conditions about the target of `forge`: for GitHub, its base branch's protection."""
    from coordinator.forge.github import GitHubForge

    if not isinstance(forge, GitHubForge):
        return []
    try:
        found = protection.condition(name, protection.judge(forge.protection()))
    except AgentcomError as e:   # network, 403, a rate limit: say it cannot tell, and look again next pass
        return [protection.unreadable(name, str(e))]
    return [found] if found else []
