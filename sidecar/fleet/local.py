"""A whole fleet on this machine, for `agentcom smoke` and `agentcom demo`: a hub process on a
coordination repo, agents registered through its API, one sidecar process per agent running the
built-in demo agent, and a clean stop of all of it. Everything listens on 127.0.0.1 only.

HOME (the fleet's own folder) holds each agent's sidecar config (mode 0600: it holds the token)
and state directory, the processes' logs, and out/, where the demo agents write.
"""
from __future__ import annotations

import contextlib
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from coordinator.repo.tokens import read_operator_token
from coordinator.wire.client import HttpBackend
from coordinator.wire.errors import AgentcomError
from coordinator.wire.times import parse_time
from sidecar.fleet import hubrepo
from sidecar.onboard.detach import child_env
from sidecar.onboard.enrol import enrol, write_private
from sidecar.runtime.config import load_config
from sidecar.runtime.daemon import settle
from sidecar.runtime.processes import kill_runs, stop_runs

log = logging.getLogger("agentcom.fleet")
PROJECT = Path(__file__).resolve().parents[2]
CLI = PROJECT / "agentcom.py"
DEMO_AGENT = Path(__file__).resolve().parent / "demo_agent.py"
START_TIMEOUT = 30.0   # seconds for the hub or a sidecar to come up
STOP_GRACE = 10.0      # SIGTERM, then SIGKILL this much later
KILL_WAIT = 60.0       # then at most this long for the kill to take


class FleetError(AgentcomError):
    """A process of the local fleet did not start or answer; says which, with its log's tail."""

    def __init__(self, what: str, problem: str, log: Path | None = None):
        self.what, self.log = what, log
        tail = ""
        if log is not None and log.exists():
            lines = log.read_text(errors="replace").strip().splitlines()[-8:]
            tail = "\n  " + "\n  ".join(lines) if lines else ""
        super().__init__(f"{what}: {problem}" + (f" (log: {log}){tail}" if log else ""))


@dataclass
class Member:
    """One agent of the fleet: its config, its state directory, its sidecar process."""
    name: str
    config: Path
    state_dir: Path
    log: Path
    proc: subprocess.Popen | None = None


class LocalFleet:
    def __init__(self, repo: Path, home: Path, *, heartbeat: str = "1s"):
        self.repo, self.home = repo, home
        self.out = home / "out"
        self.logs = home / "logs"
        self.heartbeat = heartbeat
        self.hub: subprocess.Popen | None = None
        self.url: str | None = None
        self.api: HttpBackend | None = None
        self.members: dict[str, Member] = {}
        for d in (home, self.out, self.logs):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)

    # --- the hub ---------------------------------------------------------------------------

    def start_hub(self, port: int = 0) -> str:
        """Start `agentcom hub` on the repo (made if missing); returns its address."""
        log = self.logs / "hub.log"
        start = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as sink:
            self.hub = subprocess.Popen([sys.executable, str(CLI), "hub", "--repo", str(self.repo),
                                         "--host", "127.0.0.1", "--port", str(port)],
                                        stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                        env=child_env(), process_group=0)
        deadline = time.monotonic() + START_TIMEOUT
        while self.url is None:
            found = re.findall(r"AgentCom hub running at (http://\S+)", _read_from(log, start))
            if found:
                self.url = found[-1]
            elif self.hub.poll() is not None:
                raise FleetError("the hub", f"exited with code {self.hub.returncode}", log)
            elif time.monotonic() > deadline:
                raise FleetError("the hub", f"did not start within {START_TIMEOUT:.0f}s", log)
            else:
                time.sleep(0.05)
        self.api = HttpBackend(self.url, read_operator_token(self.repo), timeout=30)
        return self.url

    def change_settings(self, settings: dict[str, dict]) -> None:
        """Push new hub settings (agentcom.yaml) and wait until the running hub has taken them."""
        pushed = hubrepo.change_settings(self.repo, settings)
        if not _wait(lambda: hubrepo.contains(self.repo, pushed, self.api.health()["head"]), START_TIMEOUT):
            raise FleetError("the hub", f"did not take in the settings commit {pushed[:10]}", self.logs / "hub.log")
        problem = self.api.status().get("config_error")
        if problem:
            raise FleetError("the hub", f"refused the new settings: {problem}")

    # --- agents ----------------------------------------------------------------------------

    def add_agent(self, name: str, *, slots: int = 1, description: str = "AgentCom demo agent") -> Member:
        """Register `name` (or find it registered) and write its sidecar config; the token in an
        existing config is kept while the hub accepts it (`enrol`)."""
        config = self.home / f"{name}.yaml"
        # take_over: the fleet's agents run only from this fleet's sidecars, which it stopped
        # itself; after its hub restarts they may still show idle until their grace runs out
        token = enrol(self.api, {"name": name, "slots": slots, "description": description}, config,
                      take_over=True).token
        member = Member(name, config, self.home / f"{name}.state", self.logs / f"{name}.log")
        doc = {"hub": self.url, "agent": name, "token": token,
               "command": [sys.executable, str(DEMO_AGENT)], "state_dir": str(member.state_dir),
               "stdin": "none", "env": {"AGENTCOM_DEMO_OUT": str(self.out)}, "listen": "127.0.0.1:0",
               "heartbeat": self.heartbeat, "kill_grace": "2s"}
        write_private(config, "# sidecar config for a local demo agent (holds its token: keep it 0600)\n"
                       + yaml.safe_dump(doc, sort_keys=False))
        self.members[name] = member
        return member

    def start_sidecars(self, names: list[str] | None = None) -> None:
        """Start the sidecars and wait until the hub has a heartbeat from each, sent after now."""
        chosen = [self.members[n] for n in (names or self.members)]
        since = time.time() - 1.0  # the hub's timestamps are in milliseconds; allow for rounding
        for m in chosen:
            with open(m.log, "ab") as sink:
                m.proc = subprocess.Popen([sys.executable, str(CLI), "sidecar", "--config", str(m.config)],
                                          stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                          env=child_env(), process_group=0)
        waiting = {m.name for m in chosen}

        def heard() -> bool:
            for m in chosen:
                if m.proc.poll() is not None:
                    raise FleetError(f"the sidecar of {m.name}", f"exited with code {m.proc.returncode}", m.log)
            waiting.difference_update(a["name"] for a in self.api.agents()
                                      if a["last_heartbeat"] and parse_time(a["last_heartbeat"]).timestamp() >= since)
            return not waiting

        if not _wait(heard, START_TIMEOUT):
            first = self.members[sorted(waiting)[0]]
            raise FleetError(f"the sidecar of {first.name}", f"sent no heartbeat within {START_TIMEOUT:.0f}s",
                             first.log)

    def lose(self, name: str) -> tuple[int | None, list[int]]:
        """A lost machine: SIGKILL the agent's sidecar and every process of its runs, at once,
        with no chance to tell the hub. Returns the sidecar's pid and the run processes' pids."""
        m = self.members[name]
        sidecar = None
        if m.proc is not None and m.proc.poll() is None:
            m.proc.kill()
            sidecar = m.proc.pid
        runs = kill_runs(m.state_dir)
        if m.proc is not None:
            m.proc.wait(timeout=STOP_GRACE)
        return sidecar, runs

    # --- work ------------------------------------------------------------------------------

    def submit(self, prompt: str, **fields) -> tuple[dict, float]:
        """Submit one task; returns it and the moment it was sent (time.time())."""
        sent = time.time()
        return self.api.submit({"prompt": prompt, **fields}), sent

    # --- stopping --------------------------------------------------------------------------

    def stop(self, grace: float = STOP_GRACE, why: str = "the operator stopped the local fleet",
             before_hub=None) -> list[str]:
        """Stop everything this fleet started: sidecars first (so none starts another run), then
        the agent runs they leave going on purpose (each noted as stopped, with `why`), then
        each agent's runs are reported interrupted to the hub, which queues their tasks again
        without counting the attempt; `before_hub()` runs then; then the hub stops. SIGTERM, and
        SIGKILL after `grace`. Returns what had to be killed."""
        forced = []
        sidecars = [m.proc for m in self.members.values() if m.proc is not None]
        forced += [f"sidecar pid {p}" for p in _terminate(sidecars, grace)]
        forced += [f"agent pid {p}" for p in stop_runs([m.state_dir for m in self.members.values()], grace, why)]
        if self.hub is not None and self.hub.poll() is None:
            for m in self.members.values():
                try:
                    settle(load_config(m.config))
                except (AgentcomError, OSError) as e:  # the reports wait in its outbox for the next start
                    log.warning("the runs of %s were not reported: %s", m.name, e)
            if before_hub is not None:
                before_hub()
        if self.hub is not None:
            forced += [f"hub pid {p}" for p in _terminate([self.hub], grace)]
        return forced


@contextlib.contextmanager
def signals_held():
    """While stopping the fleet, a second Ctrl-C or SIGTERM must not cut the stop short (the
    fleet's processes run in process groups of their own: only we can stop them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _terminate(procs: list[subprocess.Popen], grace: float) -> list[int]:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    killed = []
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            killed.append(p.pid)
            try:  # a process in uninterruptible sleep (a long disk flush) dies only when it wakes
                p.wait(timeout=KILL_WAIT)
            except subprocess.TimeoutExpired:
                pass  # named in what had to be killed; the caller says so rather than hang
    return killed


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""
