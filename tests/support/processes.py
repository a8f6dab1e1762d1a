"""Real processes for tests: the agentcom CLI and a hub on 127.0.0.1, started and stopped cleanly."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "agentcom.py"


def agentcom(*args: str, input: str | None = None, check: bool = False, timeout: float = 60,
             env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `agentcom.py ARGS` as a user would, with this test run's Python environment."""
    done = subprocess.run([sys.executable, str(CLI), *args], capture_output=True, text=True, input=input,
                          timeout=timeout, env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise AssertionError(f"agentcom {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


class HubProcess:
    """`agentcom.py hub --repo R --port P` as a child process; knows its URL and token. Port 0
    picks a free one; give the port of a hub that died to start another on the same address;
    `host` is the address to listen on (127.0.0.1 unless given); `args`: more options of
    `agentcom hub` (the gatekeeper's, set on the hub's machine)."""

    def __init__(self, repo: Path, port: int = 0, host: str | None = None, args: tuple[str, ...] = ()):
        self.repo = repo
        listen = ["--host", host] if host else []
        self.proc = subprocess.Popen([sys.executable, str(CLI), "hub", "--repo", str(repo), "--port", str(port),
                                      *listen, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        deadline = time.monotonic() + 30
        self.url = None
        while time.monotonic() < deadline and self.url is None:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            found = re.search(r"running at (http://\S+)", line)
            if found:
                self.url = found.group(1)
        if self.url is None:
            self.kill()
            raise AssertionError("hub did not start:\n" + "".join(self.output) + (self.proc.stdout.read() or ""))
        self.token = (repo / "agentcom" / "operator.token").read_text().strip()
        self.port = int(self.url.rpartition(":")[2])

    def request(self, method: str, path: str, body: dict | None = None, token: str | None = "operator"):
        """(status, json) for one API call; token='operator' sends the operator token."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        if token:
            req.add_header("Authorization", f"Bearer {self.token if token == 'operator' else token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            out = ""
        return "".join(self.output) + (out or "")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=30)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Poll predicate until truthy (returns it) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
