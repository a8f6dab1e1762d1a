"""An agent's machine for onboarding tests: a temporary HOME (and XDG folders), a fake `crontab`
that keeps the table in a file as the real `crontab -l` / `crontab -` do, a `systemctl` that
finds no user service manager (as in a container) or, with systemd=True, one that starts and
stops units' ExecStart as systemd would, and agent programs: one that leaves a mark if
it is ever run, one that works for a minute. Nothing touches the real user's crontab or services."""
from __future__ import annotations

import os
import signal
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sidecar.onboard.detach import PROJECT
from sidecar.runtime.runs import process_start
from tests.support.leftovers import processes_mentioning

CRONTAB = '''#!{python}
import os, sys
table = os.environ["FAKE_CRONTAB"]
if sys.argv[1:] == ["-l"]:
    if not os.path.exists(table):
        sys.exit("no crontab for " + os.environ.get("USER", "user"))
    sys.stdout.write(open(table).read())
elif sys.argv[1:] == ["-"]:
    data = sys.stdin.read()
    open(table + ".tmp", "w").write(data)
    os.replace(table + ".tmp", table)
else:
    sys.exit("usage: crontab [-l | -]")
'''
NO_SYSTEMD = '''#!/bin/sh
echo "Failed to connect to bus: No medium found" >&2
exit 1
'''
SYSTEMD = '''#!{python}
"""A user service manager for tests: keeps units' pids in $FAKE_SYSTEMD, starts ExecStart
detached, stops with SIGTERM, as `systemctl --user` would."""
import json, os, signal, sys, time
from pathlib import Path
sys.path.insert(0, {project!r})
from tests.support.systemd_exec import split  # the unit's ExecStart read by systemd's rules
args = sys.argv[1:]
assert args[0] == "--user", args
state = Path(os.environ["FAKE_SYSTEMD"])
state.mkdir(exist_ok=True)
calls = state / "calls"
calls.open("a").write(" ".join(args[1:]) + "\\n")
units = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user"

def stop(unit):
    pid_file = state / (unit + ".pid")
    if pid_file.exists():
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
            while Path(f"/proc/{{pid}}").exists() and Path(f"/proc/{{pid}}/stat").read_text().split()[2] not in "ZX":
                time.sleep(0.05)
        except (ProcessLookupError, FileNotFoundError):
            pass
        pid_file.unlink()

def start(unit):
    text = (units / unit).read_text()
    line = next(x for x in text.splitlines() if x.startswith("ExecStart="))
    argv = split(line[len("ExecStart="):])
    log = os.open(state / (unit + ".log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    pid = os.posix_spawn(argv[0], argv, dict(os.environ), setsid=True,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                                       (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2)])
    (state / (unit + ".pid")).write_text(str(pid))

verb, rest = args[1], args[2:]
if verb in ("show-environment", "daemon-reload", "enable"):
    sys.exit(0)
if verb == "restart":
    stop(rest[0]); start(rest[0])
elif verb == "disable" and rest[0] == "--now":
    stop(rest[1])
else:
    sys.exit(f"fake systemctl: unknown call {{args}}")
'''
AGENT = '''#!/bin/sh
touch "$HOME/agent-was-run"
'''
SLOW_AGENT = '''#!/bin/sh
touch "$HOME/slow-agent-started"
exec sleep 60
'''


@dataclass
class Machine:
    root: Path
    home: Path
    bin: Path
    table: Path     # the fake crontab's file
    env: dict

    def crontab(self) -> list[str]:
        return self.table.read_text().splitlines() if self.table.exists() else []

    def config(self, name: str) -> Path:
        return self.home / ".agentcom" / "agents" / f"{name}.yaml"

    def state(self, name: str) -> Path:
        return self.home / ".agentcom" / "agents" / f"{name}.state"

    def script(self, name: str, text: str) -> Path:
        path = self.bin / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path

    def leftovers(self) -> list[str]:
        return processes_mentioning(str(self.root))

    def kill_leftovers(self) -> list[str]:
        """SIGKILL whatever still runs from this machine's folders (detached sidecars outlive
        the command that started them, by design)."""
        found = self.leftovers()
        for entry in found:
            pid = int(entry.split(":")[0])
            start = process_start(pid)
            if start is not None and pid != os.getpid():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.05)
        return found


def make_machine(root: Path, token: str | None, systemd: bool = False) -> Machine:
    home, bin_dir = root / "home", root / "bin"
    for d in (home, bin_dir, home / ".config", home / ".local" / "state", home / ".local" / "share"):
        d.mkdir(parents=True, exist_ok=True)
    table = root / "crontab.txt"
    m = Machine(root, home, bin_dir, table, {})
    m.script("crontab", CRONTAB.format(python=sys.executable))
    m.script("systemctl", SYSTEMD.format(python=sys.executable, project=str(PROJECT)) if systemd else NO_SYSTEMD)
    m.script("my-agent", AGENT)
    m.script("slow-agent", SLOW_AGENT)
    m.env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
             "XDG_STATE_HOME": str(home / ".local" / "state"), "XDG_DATA_HOME": str(home / ".local" / "share"),
             "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_CRONTAB": str(table),
             "FAKE_SYSTEMD": str(root / "systemd"),
             "AGENTCOM_TOKEN": token or ""}
    return m
