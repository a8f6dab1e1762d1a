"""The checks the hub runs itself for a local forge's pull requests (`checks:` in gatekeeper.yaml).

The reviewer offers each open agent PR's head; a configured check with no status of the hub's
on that head (or one left `pending` by a hub that died: no runner here holds it) is queued,
once per (head, check). A worker posts `pending`, checks the head out in a folder of its own,
runs the check there (checkproc: argv, its own process group, a scrubbed environment, killed at
its timeout), keeps the output's tail in a log file under the hub's runtime folder, posts
`success` or `failure` with a line naming the log, removes the folder and asks the reviewer to
look at the PR again. Workers run beside the review loop and the hub's loop, never in them.

A check runs at least once per head: a hub stopped mid-check leaves it `pending`, and the next
hub runs it again. It runs the PR's code as the hub's user (or behind `check_runner`)."""
from __future__ import annotations

import logging
import os
import queue
import shlex
import shutil
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coordinator.forge.base import ForgeError
from coordinator.gatekeeper import checks as check_states
from coordinator.gatekeeper.rules import HUB_SOURCE, Check
from coordinator.repo.checkout import checkout
from coordinator.reviewer import checkproc
from coordinator.wire.atomic import write_bytes
from coordinator.wire.errors import AgentcomError

log = logging.getLogger("agentcom.gatekeeper")
QUEUE_MAX = 200          # checks waiting; past it an offer is dropped (the next review offers it again)
LOGS_MAX = 500           # log files kept per repo, the newest
DONE_MAX = 1000          # (head, check) pairs remembered as run here
SENT_MAX = 3000          # characters of a failing check's output put on its status (what its agent is told)
KEPT_ENV = ("PATH", "LANG", "TZ")


@dataclass(frozen=True)
class Job:
    number: int
    sha: str
    name: str
    check: Check


def due(checks: dict, statuses: list, sha: str, held) -> list[str]:
    """The configured checks to run on head `sha`: those without a status of the hub's, and those
    the hub left pending (a hub stopped mid-check), unless this runner holds or has just run them
    (`held`: statuses read before its result was posted would ask for a second run)."""
    states = check_states.required(tuple(checks), statuses, [], dict.fromkeys(checks, HUB_SOURCE))
    return [name for name, state in states.items() if (sha, name) not in held
            and state in (check_states.State.MISSING, check_states.State.PENDING)]


def environment(home: Path, tmp: Path, source: dict | None = None) -> dict[str, str]:
    """What a check's process sees: PATH, the locale and the time zone, and a HOME and TMPDIR of
    its own; never a token, an AGENTCOM_* variable or anything else of the hub's."""
    source = os.environ if source is None else source
    env = {k: v for k, v in source.items() if k in KEPT_ENV or k.startswith("LC_")}
    env.setdefault("PATH", os.defpath)
    return {**env, "HOME": str(home), "TMPDIR": str(tmp)}


def log_name(sha: str, name: str) -> str:
    return f"{sha[:12]}-{name.replace('/', '+')}.log"   # a check name holds no +


class CheckRunner:
    """Runs one local target's checks on `workers` threads. `forge` posts the statuses (with the
    operator token), `target` is the bare repo, `logs` the folder for this repo's logs, `reviewed`
    asks for a review of a PR, `prefix` goes before each check's argv (`check_runner`)."""

    def __init__(self, forge, target: Path, logs: Path, *, reviewed: Callable[[int], object] = lambda n: None,
                 prefix: tuple = (), workers: int = 1, grace: float = checkproc.GRACE, queue_max: int = QUEUE_MAX):
        self.forge, self.target, self.logs, self.reviewed = forge, Path(target), Path(logs), reviewed
        self.prefix, self.grace = tuple(prefix), grace
        self._jobs: queue.Queue = queue.Queue(queue_max)
        self._held: set[tuple[str, str]] = set()
        self._done: OrderedDict[tuple[str, str], None] = OrderedDict()   # run here, result recorded
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, name=f"agentcom-check-{i}", daemon=True)
                         for i in range(max(1, workers))]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def close(self) -> None:
        """Stop: a running check's group is killed and its status left pending (run again at the next start)."""
        self._stop.set()
        for _ in self._threads:
            try:
                self._jobs.put_nowait(None)
            except queue.Full:
                break
        for t in self._threads:
            if t.is_alive():
                t.join(timeout=self.grace + 30)

    def offer(self, number: int, sha: str, checks: dict, statuses: list) -> list[str]:
        """Queue the checks of PR `number` at head `sha` that are due; returns their names."""
        queued = []
        with self._lock:
            for name in due(checks, statuses, sha, self._held | self._done.keys()):
                try:
                    self._jobs.put_nowait(Job(number, sha, name, checks[name]))
                except queue.Full:
                    log.warning("gatekeeper: the check queue is full; %s on %s waits for the next review", name, sha)
                    break
                self._held.add((sha, name))
                queued.append(name)
        return queued

    def _work(self) -> None:
        while not self._stop.is_set():
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._run(job)
            except AgentcomError as e:   # loop boundary: this check is lost for now, the next review retries
                log.error("gatekeeper: check %s on %s: %s", job.name, job.sha[:12], e)
            except Exception:
                log.exception("gatekeeper: check %s on %s failed", job.name, job.sha[:12])
            finally:
                with self._lock:
                    self._held.discard((job.sha, job.name))
            if not self._stop.is_set():
                self.reviewed(job.number)

    def _run(self, job: Job) -> None:
        timeout = _duration(job.check.timeout)
        try:
            self.forge.set_status(job.sha, "pending", job.name, f"running (stopped after {timeout})")
        except ForgeError as e:   # the head moved on, or the PR closed: nothing to check
            log.info("gatekeeper: check %s on %s not run: %s", job.name, job.sha[:12], e)
            return
        folder = Path(tempfile.mkdtemp(prefix="agentcom-check-"))
        try:
            (folder / "home").mkdir()
            (folder / "tmp").mkdir()
            try:
                checkout(self.target, job.sha, folder / "work")
            except AgentcomError as e:
                self._post(job, "error", f"no checkout: {e}"[:140], None)
                return
            argv = [*self.prefix, *job.check.run]
            ran = checkproc.run(argv, str(folder / "work"), environment(folder / "home", folder / "tmp"),
                                job.check.timeout, stop=self._stop, grace=self.grace)
        finally:
            shutil.rmtree(folder, onerror=_writable)
        if ran.stopped:
            return
        where = self._keep(job, argv, ran)
        if ran.code == 0:
            self._post(job, "success", f"passed in {ran.seconds:.0f}s; log {where}", None)
        else:
            what = ran.error or (f"timed out after {timeout}" if ran.timed_out else f"exit {ran.code}") + \
                f" after {ran.seconds:.0f}s"
            tail = ran.output[-SENT_MAX:].decode(errors="replace")
            self._post(job, "failure", f"{what}; log {where}", tail)

    def _post(self, job: Job, state: str, description: str, output: str | None) -> None:
        try:
            self.forge.set_status(job.sha, state, job.name, description[:140], log=output)
        except ForgeError as e:   # left pending: the next review finds no runner holding it, and runs it again
            log.warning("gatekeeper: check %s on %s: its result was not recorded: %s", job.name, job.sha[:12], e)
            return
        with self._lock:
            self._done[(job.sha, job.name)] = None
            while len(self._done) > DONE_MAX:
                self._done.popitem(last=False)

    def _keep(self, job: Job, argv: list[str], ran: checkproc.Ran) -> str:
        """The log file: what ran, how it ended and the output's tail; its path from the runtime folder."""
        self.logs.mkdir(parents=True, exist_ok=True)
        path = self.logs / log_name(job.sha, job.name)
        end = ran.error or (f"timed out after {_duration(job.check.timeout)}, process group killed" if ran.timed_out
                            else f"exit {ran.code}") + f" after {ran.seconds:.1f}s"
        head = [f"check {job.name} on {job.sha} (pull request #{job.number})", f"run: {shlex.join(argv)}", end]
        if ran.cut:
            head.append(f"{ran.cut} bytes of output cut from the start; the last {len(ran.output)} follow")
        write_bytes(path, ("\n".join(head) + "\n--- output ---\n").encode() + ran.output, mode=0o600)
        self._prune()
        return f"{self.logs.parent.name}/{self.logs.name}/{path.name}"

    def _prune(self) -> None:
        found = sorted(self.logs.glob("*.log"), key=lambda p: p.stat().st_mtime)
        for old in found[:max(0, len(found) - LOGS_MAX)]:
            old.unlink(missing_ok=True)


def _duration(seconds: int) -> str:
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m" if seconds % 60 == 0 \
        else f"{seconds}s"


def _writable(fn, path, _exc) -> None:
    """rmtree's retry for what a check left read-only."""
    os.chmod(os.path.dirname(path), stat.S_IRWXU)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, stat.S_IRWXU)
    fn(path)
