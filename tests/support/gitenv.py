"""A scrubbed git environment: no system or user config leaks into tests, gc and maintenance off."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path


def scrub(home: Path) -> dict[str, str]:
    """Environment variables that make git ignore this machine's config."""
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / "gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        "[init]\n\tdefaultBranch = main\n"
        "[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n"
        "[advice]\n\tdetachedHead = false\n[pull]\n\trebase = true\n")
    return {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(gitconfig),
            "GIT_TERMINAL_PROMPT": "0", "AGENTCOM_REPO": str(home / "default-repo.git")}


def git(cwd: Path, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    """Run git in `cwd` (argv, never a shell); check=True raises with git's stderr."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, input=input,
                          timeout=60, env=os.environ)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done
