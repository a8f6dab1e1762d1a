#!/usr/bin/env python3
# agentcom target hook: keeps this repo's base branch for the hub's merges (agentcom target protect)
"""pre-receive of a target repo the agents push to. Refuses any push that creates, moves or
deletes the base branch (`git config agentcom.base`), deletes or rewrites a branch that is not the
pusher's task branch (`agent/NAME/...`; only `agent/$AGENTCOM_AGENT/...` when that is set), or
moves or deletes a tag. The hub merges by updating refs itself, which runs no receive hook.
Standard library only; `agentcom target protect` copies it to hooks/pre-receive, its first line
naming the hub's Python. A hook of the repo's own, moved to hooks/pre-receive.local, runs after
this one passes.
"""
import os
import re
import subprocess
import sys

MAX_INPUT = 1 << 20          # bytes of ref updates read from git
MAX_REFS = 1000              # ref updates in one push
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")   # the agent name rule (coordinator/wire/names.py)
OID = re.compile(rb"[0-9a-f]{40}|[0-9a-f]{64}")
CHAINED = "pre-receive.local"
GIT_TIMEOUT = 60


def shown(ref: str) -> str:
    """A ref name as a message may print it: valid text, at most 200 characters."""
    return ref.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:200]


def is_task_branch(ref: str, agent: str | None) -> bool:
    """`refs/heads/agent/NAME/REST`, NAME being `agent` when the pusher is known."""
    parts = ref.split("/", 4)
    if len(parts) < 5 or parts[:3] != ["refs", "heads", "agent"] or not parts[4]:
        return False
    name = parts[3]
    return name == agent if agent else bool(NAME.fullmatch(name)) and ".." not in name


def judge(old: str, new: str, ref: str, base: str, agent: str | None, is_ancestor) -> str | None:
    """Why this ref update is refused, or None; `is_ancestor(old, new)` is asked only when needed."""
    created, deleted = set(old) == {"0"}, set(new) == {"0"}
    if ref == f"refs/heads/{base}":
        return (f"{ref}: agents do not push to {base}; push your task branch and report done: the sidecar "
                "opens the pull request, and the hub merges it once the gatekeeper approves")
    if is_task_branch(ref, agent) or created:
        return None
    if ref.startswith("refs/tags/"):
        return f"{shown(ref)}: a tag is never moved or deleted here; push a new tag instead"
    mine = f"agent/{agent}/..." if agent else "agent/NAME/..."
    if deleted:
        return f"{shown(ref)}: only your task branches ({mine}) may be deleted here"
    if not is_ancestor(old, new):
        return (f"{shown(ref)}: only your task branches ({mine}) may be rewritten here; "
                "fetch, merge and push again (a fast-forward)")
    return None


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True, timeout=GIT_TIMEOUT)


def is_ancestor(old: str, new: str) -> bool:
    done = git("merge-base", "--is-ancestor", old, new)
    if done.returncode not in (0, 1):
        raise OSError(f"git merge-base failed: {done.stderr.strip()[:200]}")
    return done.returncode == 0


def problems(data: bytes, base: str, agent: str | None, ancestor=is_ancestor) -> list[str]:
    """Every refused ref update of the push `data` (git's `OLD NEW REF` lines), or the one reason
    the whole push is refused."""
    if len(data) > MAX_INPUT or data.count(b"\n") > MAX_REFS:
        return [f"a push here updates at most {MAX_REFS} refs; push fewer at a time"]
    found = []
    for line in data.splitlines():
        parts = line.split(b" ")
        if len(parts) != 3 or not (OID.fullmatch(parts[0]) and OID.fullmatch(parts[1])) or not parts[2]:
            return ["git handed this hook a line it cannot read; nothing was accepted"]
        old, new = parts[0].decode(), parts[1].decode()
        why = judge(old, new, parts[2].decode("utf-8", "surrogateescape"), base, agent, ancestor)
        if why:
            found.append(why)
    return found


def settings() -> tuple[str, str | None]:
    """(base branch, pusher's agent or None); OSError naming what is wrong."""
    done = git("config", "--get", "agentcom.base")
    base = done.stdout.strip()
    if done.returncode != 0 or not base:
        raise OSError("this repo's base branch is not set (git config agentcom.base); "
                      "its owner runs `agentcom target protect DIR` to set it")
    agent = os.environ.get("AGENTCOM_AGENT") or None
    if agent is not None and not (NAME.fullmatch(agent) and ".." not in agent):
        raise OSError(f"AGENTCOM_AGENT {shown(agent)!r} is not an agent name (1-64 of letters, digits, . _ -)")
    return base, agent


def chained(data: bytes) -> int:
    """The repo's own pre-receive, moved aside to pre-receive.local, given the same updates."""
    hook = os.path.join(os.path.dirname(os.path.abspath(__file__)), CHAINED)
    if not (os.path.isfile(hook) and os.access(hook, os.X_OK)):
        return 0
    return subprocess.run([hook], input=data).returncode


def main() -> int:
    data = sys.stdin.buffer.read(MAX_INPUT + 1)
    try:
        base, agent = settings()
        found = problems(data, base, agent)
    except (OSError, subprocess.SubprocessError) as e:   # fail closed: a check that could not run refuses
        found = [f"push refused: {e}"]
    for why in found:
        print(f"agentcom: {why}", file=sys.stderr)
    return 1 if found else chained(data)


if __name__ == "__main__":
    sys.exit(main())
