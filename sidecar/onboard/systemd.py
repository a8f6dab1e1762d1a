"""A sidecar as a systemd user service: the unit file `agentcom-NAME.service` in the user's
systemd folder, and the `systemctl --user` calls that load, start, stop and remove it."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from sidecar.onboard.detach import command
from sidecar.onboard.enrol import write_private
from sidecar.onboard.steps import StepFailed

TIMEOUT = 30
PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")  # a word systemd reads as written (after %% and $$)


def unit_name(name: str) -> str:
    return f"agentcom-{name}.service"


def unit_path(name: str) -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user" / unit_name(name)


def available() -> bool:
    """Does `systemctl --user` reach a user service manager here?"""
    try:
        done = subprocess.run(["systemctl", "--user", "show-environment"], capture_output=True, timeout=TIMEOUT)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _quote(arg: str, program: bool = False) -> str:
    """One ExecStart word as systemd.service(5) "Command lines" reads it: `%` written `%%` (a
    specifier otherwise) and, in an argument, `$` written `$$` (an environment variable
    otherwise); a word with anything but plain characters goes in double quotes, its `\\` and `"`
    escaped. systemd takes the program's path literally (no `$`) and refuses one holding a quote
    or a backslash, and no word can hold a control character (a newline ends the line)."""
    if any(ord(c) < 32 or c == "\x7f" for c in arg):
        raise StepFailed("service", f"the path {arg!r} holds a control character, which a unit file cannot carry",
                         "use --config (and a checkout) at a path without newlines, tabs or other control characters")
    if program and any(c in arg for c in "'\"\\"):
        raise StepFailed("service", f"systemd does not run a program whose path holds a quote or a backslash: "
                         f"{arg!r}",
                         "install AgentCom (and its .venv) at a path without ' \" or \\, or use --service cron")
    arg = arg.replace("%", "%%")
    if not program:
        arg = arg.replace("$", "$$")
    if PLAIN.fullmatch(arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_start(argv: list[str]) -> str:
    """The ExecStart value that runs `argv` (StepFailed for a word systemd cannot carry)."""
    return " ".join(_quote(a, program=i == 0) for i, a in enumerate(argv))


def unit_text(name: str, config: Path) -> str:
    """KillMode=process: a run in progress outlives a restart of the sidecar, which picks it up."""
    return (f"# AgentCom sidecar for agent {name}; written by `agentcom add-agent`, "
            f"removed by `agentcom remove-agent {name}`\n"
            "[Unit]\n"
            f"Description=AgentCom sidecar for {name}\n"
            "After=network-online.target\n\n"
            "[Service]\n"
            f"ExecStart={exec_start(command(config))}\n"
            "Restart=on-failure\n"
            "RestartSec=5\n"
            "KillMode=process\n\n"
            "[Install]\n"
            "WantedBy=default.target\n")


def install(name: str, config: Path) -> Path:
    """Write the unit, reload, enable it and (re)start it now."""
    path = unit_path(name)
    write_private(path, unit_text(name, config))
    _systemctl("daemon-reload")
    _systemctl("enable", unit_name(name))
    _systemctl("restart", unit_name(name))
    return path


def remove(name: str) -> bool:
    """Stop and disable the unit and delete its file; False if there was none."""
    path = unit_path(name)
    if not path.exists():
        return False
    _systemctl("disable", "--now", unit_name(name))
    path.unlink()
    _systemctl("daemon-reload")
    return True


def _systemctl(*args: str) -> None:
    try:
        done = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True, timeout=TIMEOUT)
    except (FileNotFoundError, subprocess.TimeoutExpired) as e:
        raise StepFailed("service", f"`systemctl --user {' '.join(args)}` could not run: {e}",
                         "check systemd, or use --service cron") from None
    if done.returncode != 0:
        raise StepFailed("service", f"`systemctl --user {' '.join(args)}` failed ({done.returncode}): "
                         f"{done.stderr.strip()[:300]}",
                         f"see `journalctl --user -u {args[-1]}`, or use --service cron")
