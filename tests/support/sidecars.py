"""Real sidecars for tests: an agent registered on a hub with its sidecar config, the sidecar as a
child process, and the cleanup of agent processes that outlive it.

The sidecar starts each agent detached (setsid), so agents are not children of the test and
outlive the sidecar (by design): `Sidecars.close()` kills what is left, checking each pid's
start time first so that nothing else is ever killed.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import yaml

from sidecar.runtime.runs import process_start
from tests.support.processes import CLI, agentcom, wait_for

FAKE_AGENT = Path(__file__).resolve().parent / "fake_agent.py"


class SidecarProcess:
    """`agentcom.py sidecar --config F` as a child process; knows where it takes notifications."""

    def __init__(self, config: Path, env: dict | None = None, timeout: float = 30):
        self.config = config
        self.proc = subprocess.Popen([sys.executable, str(CLI), "sidecar", "--config", str(config)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **(env or {})})
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, name="sidecar-output", daemon=True)
        self._reader.start()
        self.url = None
        try:
            found = wait_for(lambda: self._url() or self.proc.poll() is not None, timeout=timeout)
        except AssertionError:
            found = None
        if not isinstance(found, str):
            self.kill()
            raise AssertionError("sidecar did not start:\n" + self.output())
        self.url = found

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def _url(self) -> str | None:
        for line in list(self.lines):
            found = re.search(r"notifications: (http://\S+)", line)
            if found:
                return found.group(1)
        return None

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> str:
        """SIGTERM, as systemd would; SIGKILL if it has not ended in 15 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self._close_output()
        return self.output()

    def kill(self) -> None:
        """SIGKILL: the sidecar dies at once; the agents it started keep running."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=15)
        self._close_output()

    def _close_output(self) -> None:
        self._reader.join(timeout=10)
        if not self._reader.is_alive():
            self.proc.stdout.close()


@dataclass
class AgentSetup:
    """A registered agent and its sidecar's files."""
    name: str
    token: str
    config: Path
    state_dir: Path
    records: Path   # where the fake agent writes what it received

    def runs(self, task_id: str) -> list[dict]:
        """What the fake agent recorded for each run of the task, oldest first."""
        found = [json.loads(p.read_text()) for p in self.records.glob(f"run.{task_id}.*.json")]
        return sorted(found, key=lambda r: r["start"])

    def stdin(self, task_id: str) -> list[bytes]:
        return [p.read_bytes() for p in sorted(self.records.glob(f"run.{task_id}.*.stdin"))]

    def release(self, task_id: str) -> None:
        """Let a `wait` agent finish."""
        (self.records / f"release.{task_id}").touch()

    def run_dir(self, task_id: str, attempt: int = 1) -> Path:
        return self.state_dir / "runs" / f"{task_id}.{attempt}"

    def finished_dir(self, task_id: str, attempt: int = 1) -> Path:
        return self.state_dir / "finished" / f"{task_id}.{attempt}"

    def outbox(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.state_dir / "outbox").glob("*.json"))]


def write_config(path: Path, settings: dict) -> None:
    """A sidecar config file, mode 0600 from the first byte (it holds a token)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(settings, f, sort_keys=False)


def register_agent(hub, name: str, directory: Path, *, fields: dict | None = None, **settings) -> AgentSetup:
    """Register `name` on the hub (operator token) and write its sidecar config beside a state
    directory, running the fake agent. Short timings suit tests; `settings` override any key
    (`env` adds to the fake agent's FAKE_AGENT_RECORDS)."""
    status, body = hub.request("POST", "/api/agents", {"name": name, **(fields or {})})
    assert status == 201, body
    directory.mkdir(parents=True, exist_ok=True)
    records = directory / f"{name}.records"
    records.mkdir(exist_ok=True)
    env = {"FAKE_AGENT_RECORDS": str(records), **settings.pop("env", {})}
    config = {"hub": hub.url, "agent": name, "token": body["token"],
              "command": [sys.executable, str(FAKE_AGENT)], "state_dir": str(directory / f"{name}.state"),
              "env": env, "kill_grace": "1s", "poll_jitter": 0, **settings}
    config = {k: v for k, v in config.items() if v is not None}
    agent = AgentSetup(name, body["token"], directory / f"{name}.yaml", Path(config["state_dir"]), records)
    write_config(agent.config, config)
    return agent


class Sidecars:
    """What a test started for its agents; `close()` stops it all, agents included."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.agents: list[AgentSetup] = []
        self.processes: list[SidecarProcess] = []

    def agent(self, hub, name: str, **settings) -> AgentSetup:
        agent = register_agent(hub, name, self.dir, **settings)
        self.agents.append(agent)
        return agent

    def start(self, agent: AgentSetup, env: dict | None = None) -> SidecarProcess:
        process = SidecarProcess(agent.config, env=env)
        self.processes.append(process)
        return process

    def poll(self, agent: AgentSetup, *args: str) -> subprocess.CompletedProcess:
        """`agentcom.py sidecar poll` once, as cron would (without the jitter)."""
        return agentcom("sidecar", "poll", "--config", str(agent.config), "--no-jitter", *args, timeout=60)

    def close(self) -> None:
        try:
            for n, process in enumerate(self.processes, 1):
                print(f"--- sidecar {n} ({process.config.name}) ---\n{process.stop()}")  # shown if the test failed
        finally:
            for pid in kill_agent_groups(self.agents):
                wait_for(lambda pid=pid: process_start(pid) is None, timeout=10)


def kill_agent_groups(agents: list[AgentSetup]) -> list[int]:
    """SIGKILL every agent process still alive, with its process group: found through the
    wrappers' wrapper.json and the fake agent's records, and only while the start time still
    matches (a pid reused by another process is left alone). Returns the pids signalled."""
    found = set()
    for agent in agents:
        for pattern in ("runs/*/*wrapper.json", "finished/*/*wrapper.json"):
            found |= {_process(p, group=True) for p in agent.state_dir.glob(pattern)}  # a wrapper leads its group
        for path in agent.records.glob("*.json"):
            found.add(_process(path, group=False))
    killed = []
    for pid, start, group in sorted((p for p in found if p is not None), key=lambda p: p[:2]):
        if process_start(pid) != start:
            continue
        try:
            os.killpg(group, signal.SIGKILL) if group else os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        killed.append(pid)
    return killed


def _process(path: Path, group: bool) -> tuple[int, int, int | None] | None:
    """(pid, start time, process group to kill or None) from a JSON file holding pid and start."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc.get("pid"), int) or not isinstance(doc.get("start"), int):
        return None
    return doc["pid"], doc["start"], doc["pid"] if group else doc.get("pgid")
