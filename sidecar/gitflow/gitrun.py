"""Git for the workflow: argv lists only (never a shell), bounded in time, in a process group of
its own so a timeout takes git's children with it, on the transports named in PROTOCOLS only."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from coordinator.wire.errors import AgentcomError

GIT_TIMEOUT = 120
KILL_WAIT = 5         # seconds for a killed git's output pipes to close
TRANSFER_TIMEOUT = 1800  # clone, fetch and push move whole packs: a big repo on a slow link
PROTOCOLS = "https:ssh:git:file"  # the only transports git may use: no plain http, ext:: or other helpers


class GitflowError(AgentcomError):
    """The workflow refused, with what is wrong and what to do instead."""


def run_git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Run git in `cwd` with argv (never a shell), bounded in time, with no GIT_DIR leaking in."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": PROTOCOLS}
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(key, None)
    limit = TRANSFER_TIMEOUT if args[0] in ("clone", "fetch", "push") else GIT_TIMEOUT
    try:
        # a session of its own: on a timeout the whole group goes (ssh, remote helpers,
        # pack-objects, hooks), so a push reported failed cannot land later
        proc = subprocess.Popen(["git", *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    except OSError as e:
        raise GitflowError(f"cannot run git in {cwd}: {e.strerror}") from None
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise GitflowError(f"git {args[0]} in {cwd} took over {limit}s; is the remote reachable?") from None
    except BaseException:
        _kill_group(proc)
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.communicate(timeout=KILL_WAIT)
    except subprocess.TimeoutExpired:  # a process that left the group still holds the pipes
        proc.kill()
        proc.wait()


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """git's output; with check, GitflowError quotes git's own message on a failure."""
    done = run_git(cwd, *args)
    if check and done.returncode != 0:
        raise GitflowError(f"git {args[0]} failed in {cwd}: {(done.stderr or done.stdout).strip()[:1000]}")
    return done.stdout if done.returncode == 0 else ""
