"""How bench/torture.py submits its tasks, as a careful client would while the hub comes and
goes: through the HTTP API (an answer lost to a kill is asked again with the same id, and "id
already used" then means it was taken), or by `git push` of inbox files from a clone (a push
refused because main moved is made again on the new main). A task counts as submitted once the
hub or git acknowledged it; until then it is retried, within a bound.
"""
from __future__ import annotations

import http.client
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from coordinator.core.layout import parse_location
from coordinator.wire.errors import AgentcomError, HubRefused

GIT_TIMEOUT = 60
MAX_TRIES = 200     # tries of one submission before it is given up (reported as never acknowledged)
_IDENTITY = ("-c", "user.name=AgentCom torture", "-c", "user.email=torture@localhost", "-c", "commit.gpgSign=false")


@dataclass(frozen=True)
class Submission:
    task_id: str
    at: float            # seconds after the chaos starts
    via: str             # http or push
    sleep: float         # how long the agent works
    report: str          # command (agentcom-report) or file (the result file)
    fail_first: bool     # the agent fails the first attempt

    def doc(self) -> dict:
        return {"id": self.task_id, "title": f"torture {self.task_id}",
                "prompt": f"Torture task {self.task_id}: sleep {self.sleep} s, then report done.",
                "metadata": {"torture": {"sleep": self.sleep, "report": self.report, "fail_first": self.fail_first}}}


class Intake:
    def __init__(self, fleet, clone: Path):
        self.fleet, self.clone = fleet, clone
        self.waiting: dict[str, Submission] = {}
        self.tries: dict[str, int] = {}
        self.submitted: dict[str, str] = {}    # id → http or push
        self.refused: dict[str, str] = {}      # id → why (a bug in the harness or the hub)
        self.errors: list[str] = []
        _git(clone.parent, "clone", "-q", str(fleet.repo), str(clone))

    def offer(self, sub: Submission) -> None:
        self.waiting[sub.task_id] = sub

    def pending(self) -> list[str]:
        return [t for t in self.waiting if self.tries.get(t, 0) < MAX_TRIES]

    def given_up(self) -> list[str]:
        return sorted(set(self.waiting) | set(self.refused))

    def flush(self, hub_up: bool) -> None:
        """Try every waiting submission once: over HTTP while the hub runs, by push at any time."""
        subs = [self.waiting[t] for t in self.pending()]
        if hub_up:
            for s in (s for s in subs if s.via == "http"):
                if not self._post(s):
                    break   # the hub is not answering: the rest wait for the next tick
        pushes = [s for s in subs if s.via == "push"]
        if pushes:
            self._push(pushes)

    def _tried(self, subs: list[Submission]) -> None:
        for s in subs:
            self.tries[s.task_id] = self.tries.get(s.task_id, 0) + 1

    def _taken(self, sub: Submission) -> None:
        self.submitted[sub.task_id] = sub.via
        del self.waiting[sub.task_id]

    def _post(self, sub: Submission) -> bool:
        """False when the hub did not answer (ask again later)."""
        self._tried([sub])
        try:
            self.fleet.api.submit(sub.doc())
        except HubRefused as e:
            if e.status >= 500:
                return False
            if e.status == 400 and "already used" in e.message:
                self._taken(sub)   # an earlier try was committed; its answer was lost
                return True
            self.refused[sub.task_id] = f"{e.status} {e.error}: {e.message}"
            del self.waiting[sub.task_id]
            return True
        except (AgentcomError, http.client.HTTPException, ValueError):
            return False   # killed mid-answer, or down: ask again with the same id
        self._taken(sub)
        return True

    def _push(self, subs: list[Submission]) -> None:
        """One commit adding each task as inbox/ID.yaml, pushed to main; those already on main
        (a push that landed though its answer did not) are taken as they are."""
        self._tried(subs)
        try:
            _git(self.clone, "fetch", "-q", "origin")
            _git(self.clone, "reset", "-q", "--hard", "origin/main")
            present = _task_ids(_git(self.clone, "ls-tree", "-r", "--name-only", "HEAD").splitlines())
            for s in [s for s in subs if s.task_id in present]:
                self._taken(s)
            subs = [s for s in subs if s.task_id not in present]
            if not subs:
                return
            for s in subs:
                (self.clone / "inbox" / f"{s.task_id}.yaml").write_text(yaml.safe_dump(s.doc(), sort_keys=False))
            _git(self.clone, "add", "inbox")
            _git(self.clone, *_IDENTITY, "commit", "-q", "-m", f"Submit {len(subs)} torture tasks")
            _git(self.clone, "push", "-q", "origin", "HEAD:main")
        except AgentcomError as e:
            self.errors.append(str(e))
            return   # main moved, or the check could not run: try again next tick
        for s in subs:
            self._taken(s)


def _task_ids(paths: list[str]) -> set[str]:
    found = set()
    for path in paths:
        loc = parse_location(path)
        if loc is not None:
            found.add(loc.task_id)
        elif path.startswith("inbox/") and path.endswith(".yaml"):
            found.add(path[len("inbox/"):-len(".yaml")])
    return found


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(key, None)
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT, env=env)
    except subprocess.TimeoutExpired as e:
        raise AgentcomError(f"git {args[0]} took over {GIT_TIMEOUT} s in {cwd}") from e
    if done.returncode != 0:
        raise AgentcomError(f"git {args[0]} failed in {cwd}: {(done.stderr or done.stdout).strip()[-500:]}")
    return done.stdout
