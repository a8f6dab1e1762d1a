"""A disposable checkout of a target repo at one commit, for a check to run in: a shared clone
(its objects read through the target's, nothing written into the target) in a folder the caller
owns and removes."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from coordinator.wire.errors import AgentcomError

TIMEOUT = 300
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def checkout(target: Path, sha: str, dest: Path) -> None:
    """Clone `target` into `dest` (which must not exist) and check out `sha` there, detached.
    No hook runs: the clone takes no template, so a check starts from the tree alone."""
    if not _SHA.fullmatch(sha):
        raise AgentcomError(f"{sha[:80]!r} is not a full commit id")
    _git("clone", "--quiet", "--shared", "--no-checkout", "--template=", "--", str(target), str(dest))
    _git("checkout", "--quiet", "--detach", sha, where=dest)


def _git(*args: str, where: Path | None = None) -> None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        at = ["-C", str(where), "-c", "core.hooksPath=/dev/null"] if where is not None else []
        done = subprocess.run(["git", *at, *args], capture_output=True, text=True, timeout=TIMEOUT, env=env,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AgentcomError(f"git {args[0]} ran past {TIMEOUT}s making a check's checkout") from None
    if done.returncode != 0:
        raise AgentcomError(f"git {args[0]} failed making a check's checkout: {done.stderr.strip()[:500]}")
