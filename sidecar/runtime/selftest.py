"""The sidecar's own answer to a self-test task (one the hub marked `self_test`, which only an
operator can ask for): it checks this machine's side of the setup and reports, without running
the agent command, so a self-test costs no model tokens.

Nothing in the task is read beyond its attempt, and nothing is run: the checks only look at
files, so no task text can make a self-test do anything else.
"""
from __future__ import annotations

import os
import platform
import shutil
import sys
from pathlib import Path

from sidecar.runtime.config import SidecarConfig
from sidecar.runtime.scriptargs import missing_script


def is_self_test(task: dict) -> bool:
    return task.get("self_test") is True


def checks(config: SidecarConfig) -> tuple[list[str], list[str]]:
    """(what passed, what failed), each one line naming the setting and the path."""
    passed, failed = [], []
    program = resolve(config)
    if program is None:
        failed.append(f"command: '{config.command[0]}' is not found on PATH, or not executable; "
                      "install it or give its full path in the sidecar config")
    else:
        passed.append(f"command resolves to {program}")
    script = missing_script(config.command, config.workdir, dict(config.env).get("PATH"))
    if script is not None:
        failed.append(f"command: {script}")
    if config.workdir is None:
        passed.append("workdir: each run's own folder")
    elif not config.workdir.is_dir():
        failed.append(f"workdir: {config.workdir} is not a directory; create it or fix `workdir`")
    elif not os.access(config.workdir, os.R_OK | os.W_OK | os.X_OK):
        failed.append(f"workdir: {config.workdir} is not writable by this user")
    else:
        passed.append(f"workdir {config.workdir} exists")
    if not os.access(config.state_dir, os.W_OK):
        failed.append(f"state_dir: {config.state_dir} is not writable by this user")
    return passed, failed


def resolve(config: SidecarConfig) -> str | None:
    """The agent command's program as a run would find it."""
    return find_program(config.command[0], config.workdir, dict(config.env).get("PATH"))


def find_program(program: str, workdir: Path | None, path: str | None = None) -> str | None:
    """A program named with a slash is taken as a path (from the workdir), else looked up on
    `path` (default: this process's PATH); None unless it is an executable file."""
    if os.sep in program:
        found = (workdir or Path.cwd()) / Path(program).expanduser()
        return str(found) if found.is_file() and os.access(found, os.X_OK) else None
    return shutil.which(program, path=path or os.environ.get("PATH", os.defpath))


def answer(config: SidecarConfig, attempt: int) -> dict:
    """The report for a self-test: done with what was checked, or failed (for good) with why."""
    passed, failed = checks(config)
    where = f"sidecar pid {os.getpid()} on {platform.node()}, Python {sys.version.split()[0]}"
    if failed:
        return {"kind": "failed", "attempt": attempt, "permanent": True,
                "reason": ("self-test failed: " + "; ".join(failed) + f" ({where})")[:2000]}
    return {"kind": "done", "attempt": attempt,
            "summary": ("self-test passed: " + "; ".join(passed) + f" ({where}); the agent command "
                        "was not run")[:4000]}
