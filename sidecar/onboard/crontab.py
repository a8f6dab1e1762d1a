"""The cron fallback of a sidecar: one `sidecar poll` line per agent in the user's crontab,
marked with the agent's name so it can be found, replaced and removed. The line is edited
through the `crontab` command (`crontab -l`, `crontab -`), as a user would."""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from sidecar.onboard.detach import CLI
from sidecar.onboard.steps import StepFailed

TIMEOUT = 30


def marker(name: str) -> str:
    return f"# agentcom-sidecar:{name}"


def line(name: str, config: Path, log: Path) -> str:
    """Every minute, one `sidecar poll` (it waits a random part of poll_jitter first). A trailing
    shell comment marks it; `%` is escaped, because cron reads it as a newline."""
    argv = [sys.executable, str(CLI), "sidecar", "poll", "--config", str(config)]
    for path in (*argv, str(log)):
        _check(path)
    command = " ".join(shlex.quote(a) for a in argv) + f" >> {shlex.quote(str(log))} 2>&1"
    return f"* * * * * {command.replace('%', chr(92) + '%')} {marker(name)}"


def _check(path: str) -> None:
    """A crontab entry is one line: a newline or carriage return would cut it in two (the rest a
    line of its own). A `\\` just before a `%` would take the `\\` cron needs to keep that `%`."""
    bad = "a newline" if "\n" in path else "a carriage return" if "\r" in path else \
        "a backslash before a %" if "\\%" in path else None
    if bad:
        raise StepFailed("cron", f"the path {path!r} holds {bad}, which a crontab line cannot carry",
                         "use --config (and a checkout) at a path without newlines, carriage returns or \\%")


def _ours(text: str, name: str) -> bool:
    return text.rstrip().endswith(" " + marker(name))


def without(table: str, name: str) -> str:
    """The crontab without this agent's line; every other line is kept as it was."""
    kept = [x for x in _lines(table) if not _ours(x, name)]
    return "".join(x + "\n" for x in kept)


def _lines(table: str) -> list[str]:
    """Lines as cron reads them: split at newlines only (str.splitlines also splits at \\x1e...)."""
    lines = table.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def with_line(table: str, name: str, new: str) -> str:
    return without(table, name) + new + "\n"


def read() -> str:
    """The user's crontab ('' when there is none). StepFailed when `crontab` is missing."""
    done = _crontab("-l")
    if done.returncode != 0:
        if "no crontab" in done.stderr.lower():
            return ""
        raise StepFailed("service", f"`crontab -l` failed ({done.returncode}): {done.stderr.strip()[:300]}",
                         "fix cron for this user, or run the sidecar yourself (the command above)")
    return done.stdout


def write(table: str) -> None:
    done = _crontab("-", input=table)
    if done.returncode != 0:
        raise StepFailed("service", f"`crontab -` failed ({done.returncode}): {done.stderr.strip()[:300]}",
                         "fix cron for this user, or add the line above with `crontab -e`")


def install(name: str, new: str) -> bool:
    """Put this agent's line in (replacing an older one); False if it was already there as is."""
    table = read()
    if any(x == new for x in _lines(table)) and table.count(marker(name)) == 1:
        return False
    write(with_line(table, name, new))
    return True


def remove(name: str) -> bool:
    """Take this agent's line out; False if there was none (or no crontab command)."""
    try:
        table = read()
    except StepFailed:
        return False
    if marker(name) not in table:
        return False
    write(without(table, name))
    return True


def _crontab(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["crontab", *args], input=input, capture_output=True, text=True, timeout=TIMEOUT)
    except FileNotFoundError:
        raise StepFailed("service", "there is no `crontab` command on this machine (and no systemd user "
                         "services)", "install cron, or keep the sidecar running yourself with the command "
                         "above; add the cron line above by hand") from None
