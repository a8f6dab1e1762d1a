"""The processes bench/torture.py breaks: the local fleet (a hub process, one sidecar process per
agent) running the torture agent, with the blows it deals: SIGKILL of the hub and a restart on
the same address, SIGKILL of a sidecar alone (its runs go on), and the loss of a machine (the
sidecar and every process of its runs, SIGKILLed at once; the state folder kept, as after a
reboot, or wiped, as after a disk is lost). It also kills, at the end, any run the ledger names
that is still alive, so nothing outlives the harness.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from coordinator.wire.errors import AgentcomError
from sidecar.fleet.local import CLI, FleetError, LocalFleet, Member
from sidecar.onboard.detach import child_env
from sidecar.onboard.enrol import enrol, write_private
from sidecar.runtime.processes import kill_runs, wrappers_settled

AGENT = Path(__file__).resolve().parent / "torture_agent.py"
API_TIMEOUT = 10.0      # seconds for one API call of the harness
HUB_TRIES = 10          # starts of a hub on its old port before giving up (the port may linger)
KILL_PASSES = 20        # looks for run processes left after a machine's SIGKILL


class TortureFleet(LocalFleet):
    """A LocalFleet whose agents run the torture agent, with a ledger outside their state."""

    def __init__(self, repo: Path, home: Path, ledger: Path):
        super().__init__(repo, home, heartbeat="1s")
        self.ledger = ledger
        self.port = 0
        self.started: list[subprocess.Popen] = []   # every hub and sidecar process, so none can outlive us
        self.unexpected: list[str] = []   # processes that died without a blow from us

    # --- the hub ---------------------------------------------------------------------------

    def start_hub(self, port: int = 0) -> str:
        try:
            url = super().start_hub(port)
        finally:
            self.started.append(self.hub)
        self.port = int(url.rpartition(":")[2])
        self.api.timeout = API_TIMEOUT
        return url

    def hub_up(self) -> bool:
        return self.hub is not None and self.hub.poll() is None

    def kill_hub(self) -> None:
        """SIGKILL the hub and whatever it runs (its git children are in its process group)."""
        _kill_group(self.hub)

    def restart_hub(self) -> None:
        """A new hub on the same address (the sidecars' configs name it)."""
        for n in range(HUB_TRIES):
            self.url = None
            try:
                self.start_hub(self.port)
                return
            except FleetError:
                _kill_group(self.hub)   # one that never said it listens may still be starting
                if n == HUB_TRIES - 1:
                    raise
                time.sleep(0.5)   # the old socket may hold the port for a moment

    # --- agents and their machines -----------------------------------------------------------

    def add_agent(self, name: str, *, slots: int = 1, description: str = "torture agent") -> Member:
        config = self.home / f"{name}.yaml"
        token = enrol(self.api, {"name": name, "slots": slots, "description": description}, config,
                      take_over=True).token
        member = Member(name, config, self.home / f"{name}.state", self.logs / f"{name}.log")
        doc = {"hub": self.url, "agent": name, "token": token, "command": [sys.executable, str(AGENT)],
               "state_dir": str(member.state_dir), "stdin": "none", "env": {"TORTURE_LEDGER": str(self.ledger)},
               "listen": "127.0.0.1:0", "heartbeat": self.heartbeat, "kill_grace": "2s"}
        write_private(config, "# sidecar config for a torture agent (holds its token: keep it 0600)\n"
                      + yaml.safe_dump(doc, sort_keys=False))
        self.members[name] = member
        return member

    def sidecar_up(self, name: str) -> bool:
        proc = self.members[name].proc
        return proc is not None and proc.poll() is None

    def start_sidecars(self, names: list[str] | None = None) -> None:
        try:
            super().start_sidecars(names)
        finally:
            self.started += [m.proc for m in self.members.values() if m.proc is not None and m.proc not in self.started]

    def start_sidecar(self, name: str) -> None:
        """Start one sidecar without waiting for it (the hub may be down just now)."""
        m = self.members[name]
        m.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(m.log, "ab") as sink:
            m.proc = subprocess.Popen([sys.executable, str(CLI), "sidecar", "--config", str(m.config)],
                                      stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                      env=child_env(), process_group=0)
        self.started.append(m.proc)

    def kill_sidecar(self, name: str) -> None:
        """SIGKILL the sidecar alone: its runs, each in a session of its own, go on."""
        _kill_group(self.members[name].proc)

    def lose_machine(self, name: str, disk: bool) -> int:
        """The machine is gone: its sidecar and all its runs die at once; with `disk`, its state
        folder too. Returns how many run processes were killed."""
        m = self.members[name]
        _kill_group(m.proc)
        deadline = time.monotonic() + 3.0   # a run spawned just now names its process a moment later
        while not wrappers_settled(m.state_dir, time.time()) and time.monotonic() < deadline:
            time.sleep(0.05)
        killed = 0
        for _ in range(KILL_PASSES):
            found = kill_runs(m.state_dir)
            if not found:
                break
            killed += len(found)
            time.sleep(0.02)
        if disk:
            shutil.rmtree(m.state_dir, ignore_errors=True)
        return killed

    def stop(self, grace: float = 10.0) -> list[str]:
        forced = super().stop(grace)
        for proc in self.started:   # a hub that failed to start, or any process we lost track of
            if proc.poll() is None:
                _kill_group(proc)
                forced.append(f"{proc.args[2]} pid {proc.pid}")
        return forced

    def watch(self) -> list[str]:
        """Processes meant to be up that died on their own: noted, and started again."""
        found = []
        if self.hub is not None and self.hub.poll() is not None and self.hub.returncode != -signal.SIGKILL:
            found.append(f"the hub exited with code {self.hub.returncode}")
            self.restart_hub()
        for m in self.members.values():
            if m.proc is not None and m.proc.poll() is not None and m.proc.returncode != -signal.SIGKILL:
                found.append(f"the sidecar of {m.name} exited with code {m.proc.returncode} (log: {m.log})")
                self.start_sidecar(m.name)
        self.unexpected += found
        return found

    def kill_ledger_runs(self) -> list[int]:
        """SIGKILL the process group of every run the ledger names that is still alive (a run
        whose state folder was wiped cannot be found any other way). The ledger is written by
        agents, so a line is only a hint: a process is killed only if it still has the start
        time the line gives and was started with this ledger in its environment. Returns the pids."""
        killed = []
        for line in read_ledger(self.ledger):
            pid, start = line.get("pid"), line.get("start")
            group = run_group(pid, start, self.ledger) if isinstance(pid, int) and isinstance(start, int) else None
            if group is None:
                continue
            try:
                os.killpg(group, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        return killed


def run_group(pid: int, start: int, ledger: Path) -> int | None:
    """The process group of `pid` if it is a live run of this harness (started at `start`, with
    TORTURE_LEDGER=`ledger` in its environment, in a group that is not ours), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    if stat[0] in ("Z", "X") or int(stat[19]) != start or f"TORTURE_LEDGER={ledger}".encode() not in environ:
        return None
    group = int(stat[2])
    return None if group in (os.getpgid(0), 0, 1) else group


def read_ledger(path: Path) -> list[dict]:
    try:
        text = path.read_text()
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue   # a line cut short by a kill
        if isinstance(doc, dict):
            found.append(doc)
    return found


def _kill_group(proc: subprocess.Popen | None) -> None:
    """SIGKILL a process we started in a process group of its own, and wait for it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired as e:
        raise AgentcomError(f"pid {proc.pid} did not die within 30 s of SIGKILL") from e
