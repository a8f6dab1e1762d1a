"""The git commands the local fleet runs on a coordination repo, as a user would: change the hub's
settings (clone, edit agentcom.yaml, commit, push) and list main's commits in order."""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import yaml

from coordinator.wire.errors import AgentcomError

GIT_TIMEOUT = 60
# a commit made here must not depend on this machine's git identity or signing setup
_COMMIT_CONFIG = ("-c", "user.name=AgentCom local fleet", "-c", "user.email=agentcom@localhost",
                  "-c", "commit.gpgSign=false")


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(key, None)
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT, env=env)


def _git(cwd: Path, *args: str) -> str:
    done = _run(cwd, *args)
    if done.returncode != 0:
        raise AgentcomError(f"git {args[0]} failed in {cwd}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def change_settings(repo: Path, settings: dict[str, dict]) -> str:
    """Merge `settings` ({"timeouts": {"heartbeat_grace": "3s"}, ...}) into the repo's
    agentcom.yaml through a clone, a commit and a push; returns the pushed commit."""
    with tempfile.TemporaryDirectory(prefix="agentcom-settings-") as tmp:
        clone = Path(tmp) / "clone"
        _git(Path(tmp), "clone", "-q", str(repo), str(clone))
        path = clone / "agentcom.yaml"
        doc = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
        for section, values in settings.items():
            doc[section] = {**(doc.get(section) or {}), **values}
        path.write_text("# changed by the local fleet (agentcom smoke/demo)\n"
                        + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
        _git(clone, "add", "agentcom.yaml")
        summary = ", ".join(f"{s}.{k} {v}" for s, values in settings.items() for k, v in values.items())
        _git(clone, *_COMMIT_CONFIG, "commit", "-q", "-m", f"Settings for a local fleet: {summary}")
        _git(clone, "push", "-q", "origin", "HEAD:main")
        return _git(clone, "rev-parse", "HEAD").strip()


def contains(repo: Path, commit: str, head: str) -> bool:
    """Whether `head` is `commit` or comes after it."""
    return _run(repo, "merge-base", "--is-ancestor", commit, head).returncode == 0


def commit_order(repo: Path) -> dict[str, int]:
    """Every commit on main → its position, oldest first (the order the hub made them in)."""
    out = _git(repo, "rev-list", "--reverse", "--topo-order", "main")
    return {sha: i for i, sha in enumerate(out.split())}
