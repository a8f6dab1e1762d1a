"""The sidecar's work as one pass that may run any number of times, at any moment, after any
crash: deliver what the hub is owed, ask the hub what is ours, make the runs on disk match,
and watch the running ones. `agentcom sidecar` runs passes in a loop; `sidecar poll` runs one.

Execution is at least once: a run lost with its machine is run again (visibly: when it starts,
a progress report names its run, and the hub records it), and a run the hub no longer gives us
is stopped. A run the operator stopped is reported interrupted: the hub does not count it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path

from coordinator.wire.atomic import write_json
from coordinator.wire.client import HttpBackend
from coordinator.wire.errors import AgentcomError, HubRefused, HubUnavailable
from coordinator.wire.protocol import RUN_MAX
from sidecar.runtime import workflow
from sidecar.runtime.config import SidecarConfig
from sidecar.runtime.launch import install_report_command, kill, spawn
from sidecar.runtime.outbox import Outbox, Pending
from sidecar.runtime.result import add_tokens, problems, run_tokens, stopped_by, verdict
from sidecar.runtime.runs import ACCEPTED, ACCEPTING, FINISHED, RUNNING, Run, Runs
from sidecar.runtime.selftest import answer as self_test_answer
from sidecar.runtime.selftest import is_self_test

log = logging.getLogger("agentcom.sidecar")
_REFUSED = {
    401: "its token was revoked or replaced (agent removed, or a new token made); "
         "`agentcom add-agent {name} --hub URL` on this machine repairs it",
    403: "the token is not this agent's; check `agent` and `token` in the sidecar config",
    404: "the agent is not registered on the hub; `agentcom add-agent {name} --hub URL` registers it",
}
HUB_TIMEOUT = 10.0
CHECK_EVERY = 0.5      # seconds between looks at a running agent
START_GRACE = 30.0     # seconds a new run's wrapper has to say it started
MAX_RUNS = 3           # runs of one attempt lost without a trace before it counts as failed
TAIL = 600             # characters of the agent's stderr quoted in a failure


class Sidecar:
    def __init__(self, config: SidecarConfig, *, url: str | None = None, clock=time.time):
        self.config, self.url, self.clock = config, url, clock
        self.hub = HttpBackend(config.hub, config.token, timeout=HUB_TIMEOUT)
        self.runs = Runs(config.state_dir)
        self.outbox = Outbox(config.state_dir / "outbox")
        self.children: set[int] = set()   # wrappers this process started (to reap)
        self.poked = True                 # ask the hub at the first pass
        self.last_beat: float | None = None
        self.hub_error: str | None = None
        self.refused: int | None = None   # the HTTP status of the hub's last refusal of our token
        self.failures = 0                 # hub calls failed in a row
        self.quiet_until = 0.0            # after a failure, reports wait until then
        self.beat_retry_at = 0.0          # ... and the next heartbeat may try from then (sooner)
        install_report_command(config.state_dir)

    # --- one pass --------------------------------------------------------------------------

    def step(self) -> float:
        """Do everything due now; returns the seconds until the next pass should run."""
        now = self.clock()
        self._reap()
        for run in self.runs.all():
            self._watch(run, now)
        if self.poked or now >= self.quiet_until:
            if self._deliver() and (self.poked or self._beat_due(now)):
                self._beat(now)
        elif now >= self.beat_retry_at and self._beat_due(now):
            self._beat(now)  # reports wait out the back-off; heartbeats never stop for longer than one interval
        return self._next_due(now)

    def _beat(self, now: float) -> None:
        self.poked = False
        answer = self._heartbeat(now)
        if answer is None:
            return
        if self.outbox.pending():
            self._deliver()  # the hub answers again: what waited in the back-off goes now
        self._follow(answer)

    def _beat_due(self, now: float) -> bool:
        return self.last_beat is None or now - self.last_beat >= self.config.heartbeat

    def _heartbeat(self, now: float) -> dict | None:
        holding = [{"id": r.task_id, "attempt": r.attempt} for r in self.runs.all()]
        try:
            answer = self.hub.heartbeat(self.config.agent, self.url, holding)
        except (HubUnavailable, HubRefused) as e:
            self._hub_failed(e)
            return None
        self.last_beat, self.hub_error, self.failures, self.refused = now, None, 0, None
        self.quiet_until = self.beat_retry_at = 0.0
        self._status()
        return answer

    def _hub_failed(self, e: Exception) -> None:
        self.failures += 1
        self.hub_error = str(e)
        self.poked = False
        now, wait = self.clock(), 2.0 ** min(self.failures, 16)
        # reports back off up to 30 s; a heartbeat is tried again within one heartbeat interval
        # whatever the failures so far, so a hub that comes back never finds this agent silent for
        # longer than that (one connection attempt per interval while it is down: no spin)
        self.quiet_until = now + min(30.0, wait)
        self.beat_retry_at = now + min(float(self.config.heartbeat), wait)
        if isinstance(e, HubRefused) and e.status in _REFUSED:
            self.refused = e.status  # a revoked or rotated token, a removed agent: a human must act
            self.hub_error = (f"the hub refuses this sidecar ({e.status} {e.error}): "
                              f"{_REFUSED[e.status].format(name=self.config.agent)}; "
                              f"reports wait in {self.outbox.dir}; hub said: {e.message}")
            log.error("%s", self.hub_error)
        else:
            log.warning("hub unreachable (%s); runs go on, reports wait in the outbox", e)
        self._status()

    def _follow(self, answer: dict) -> None:
        """Make the runs on disk match what the hub says we hold."""
        for d in answer.get("drop", ()):
            run = self.runs.get(d["id"], d["attempt"])
            if run is not None:
                self._drop(run, f"the hub says: {d['why']}")
        listed = set()
        for a in answer.get("assignments", ()):
            task_id, attempt = a["id"], a["attempt"]
            listed.add((task_id, attempt))
            run = self.runs.get(task_id, attempt)
            if run is None and a["state"] == "assigned":
                run = self.runs.create(a["task"], attempt)
                log.info("%s: assigned (attempt %d); accepting", task_id, attempt)
                self.outbox.put(task_id, {"kind": "accepted", "attempt": attempt})
            elif run is None:  # working, yet nothing on disk: this sidecar's state was lost
                self._state_lost(a["task"], attempt)
            elif run.phase == ACCEPTING and a["state"] == "working" and not self.outbox.holds(task_id, attempt):
                run.save(phase=ACCEPTED)  # accepted got through, its answer did not
        if any(r.phase == ACCEPTING for r in self.runs.all()):
            self._deliver()
        for run in self.runs.all():
            if run.phase == ACCEPTED and (run.task_id, run.attempt) in listed:
                self._start(run)

    def _state_lost(self, task: dict, attempt: int) -> None:
        """A task working here that this sidecar has no record of: run it again, numbered after
        the runs the hub has on record, unless those are MAX_RUNS already."""
        recorded = task.get("runs")
        recorded = recorded if isinstance(recorded, int) and 1 <= recorded <= RUN_MAX else 1
        why = "this sidecar had no record of the run (its state was lost)"
        run = self.runs.create(task, attempt, phase=ACCEPTED, runs=recorded, rerun=why)
        if recorded >= MAX_RUNS:
            return self._finish(run, {"kind": "failed", "attempt": attempt,
                                      "reason": f"{why}; {recorded} runs of this attempt are on record already"},
                                self.clock())
        log.info("%s: working here, yet %s; it runs again", task["id"], why)

    # --- runs ------------------------------------------------------------------------------

    def _start(self, run: Run) -> None:
        if is_self_test(run.task):
            return self._self_test(run)
        try:
            with self._beating():  # a clone or fetch may outlast the hub's heartbeat grace
                workflow.before_run(self.config, run)
        except AgentcomError as e:  # the target cannot be fetched or branched: not the task's fault,
            report = verdict(run.attempt, code=None, result=None, start_error=f"git workflow: {e}")
            if getattr(e, "permanent", False):  # unless the task itself makes it impossible
                report["permanent"] = True
            self.outbox.put(run.task_id, self._final(run, report))
            run.save(phase=FINISHED, final="failed")
            return
        summary = workflow.settled(run)
        if summary is not None:
            return self._settled(run, summary)
        if not self._rerun_recorded(run):
            return  # the next pass tries again
        try:
            pid = spawn(self.config, run)
        except OSError as e:  # the wrapper itself could not start: no retry here can help
            self.outbox.put(run.task_id, self._final(run, verdict(
                run.attempt, code=None, result=None, start_error=f"cannot start the run: {e.strerror or e}")))
            run.save(phase=FINISHED, final="failed")
            return
        self.children.add(pid)
        log.info("%s: run %d of attempt %d started (pid %d)", run.task_id, run.notes["runs"], run.attempt, pid)

    def _rerun_recorded(self, run: Run) -> bool:
        """Whether the run about to start may: a first run always (its accept is on record); a
        run of the attempt again only once the hub has recorded it, so no run goes unrecorded
        whatever is lost afterwards (the machine, its disk). The hub takes the record only while
        the task is still ours: a task it took back is dropped here, and nothing is said or run."""
        number = run.notes.get("runs", 0) + 1
        if number == 1 or run.notes.get("recorded") == number:
            return True
        if run.notes.get("telling") != number:
            self._say(run, run.notes.get("rerun") or "run again", rerun=number)
            run.save(telling=number)
        if not self._deliver() or self.outbox.holds(run.task_id, run.attempt):
            return False  # the hub is away: the run waits for it, as a re-run always did
        if self.runs.get(run.task_id, run.attempt) is None:
            return False  # the hub refused the record: the task is no longer ours, and it was dropped
        run.save(recorded=number)
        return True

    def _self_test(self, run: Run) -> None:
        """Answered here, never by the agent: it costs no model tokens and runs nothing."""
        report = self_test_answer(self.config, run.attempt)
        self.outbox.put(run.task_id, report)
        run.save(phase=FINISHED, final=report["kind"], finished_at=self.clock())
        log.info("%s: self-test answered by the sidecar: %s", run.task_id,
                 report.get("summary") or report.get("reason"))
        self._deliver()

    def _settled(self, run: Run, summary: str) -> None:
        """A pull request sent back only to be brought up to date, which the sidecar did: pushed
        and reported here, never by the agent. A crash before the report lands re-runs this
        (the branch is up to date by then, the push a no-op, the PR found again)."""
        report = {"kind": "done", "attempt": run.attempt, "summary": summary}
        with self._beating():
            report = workflow.after_run(self.config, run, report)
        self._finish(run, report, self.clock())

    def _watch(self, run: Run, now: float) -> None:
        if run.phase != RUNNING:
            return
        try:
            ended = run.read("exit.json")
        except ValueError:
            ended = None
        if ended is not None and ended.get("run") == run.notes["runs"]:
            return self._ended(run, ended, now)
        if not run.alive():
            if run.process() is None and now - run.notes["started_at"] < START_GRACE:
                return  # the wrapper has not said hello yet
            if run.notes.get("killed"):
                return self._ended(run, {"code": None}, now)
            return self._lost(run, "the run vanished (the sidecar or its machine restarted)")
        if run.notes.get("killed"):
            if now >= run.notes["kill_at"] + self.config.kill_grace:
                kill(run, signal.SIGKILL)
            return
        if now - run.notes["started_at"] > self.config.run_timeout:
            return self._kill(run, f"still running after run_timeout ({self.config.run_timeout}s)", now)
        self._relay_progress(run, now)

    def _kill(self, run: Run, why: str, now: float) -> None:
        log.warning("%s: stopping run %d: %s", run.task_id, run.notes["runs"], why)
        run.save(killed=why, kill_at=now)
        kill(run, signal.SIGTERM)

    def _ended(self, run: Run, ended: dict, now: float) -> None:
        if run.notes.get("dropped"):
            return self._close(run, run.notes["dropped"])
        result = result_error = None
        try:
            result = run.read("result.json")
        except ValueError as e:
            result_error = str(e)
        if result is not None and problems(result):
            result, result_error = None, "; ".join(problems(result))
        report = verdict(run.attempt, code=ended.get("code"), result=result, result_error=result_error,
                         killed=run.notes.get("killed"), start_error=ended.get("error"),
                         stderr_tail=_tail(run.path("stderr.log")), stopped=self._stopped(run, ended))
        if run.notes.get("branch"):
            with self._beating():  # a push or a forge call may outlast the hub's heartbeat grace
                report = workflow.after_run(self.config, run, report)
        self._finish(run, report, now)

    def _finish(self, run: Run, report: dict, now: float) -> None:
        report = self._final(run, report)
        self.outbox.put(run.task_id, report)
        run.save(phase=FINISHED, final=report["kind"], finished_at=now)
        how = "interrupted" if report.get("interrupted") else report["kind"]
        log.info("%s: run %d of attempt %d ended: %s%s", run.task_id, run.notes["runs"], run.attempt,
                 how, f" ({report['reason']})" if report["kind"] == "failed" else "")
        self._deliver()

    @contextlib.contextmanager
    def _beating(self):
        """Heartbeats from a thread of their own while a long step holds up the pass, so the hub
        does not take our tasks back for silence."""
        stop = threading.Event()
        holding = [{"id": r.task_id, "attempt": r.attempt} for r in self.runs.all()]

        def beat():
            while not stop.wait(self.config.heartbeat):
                try:
                    self.hub.heartbeat(self.config.agent, self.url, holding)
                except (HubUnavailable, HubRefused) as e:
                    log.warning("heartbeat during a long step failed: %s", e)

        thread = threading.Thread(target=beat, name="agentcom-keepalive", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=HUB_TIMEOUT + 1)

    def _lost(self, run: Run, why: str) -> None:
        try:
            ended = run.read("exit.json")
        except ValueError:
            ended = None
        if ended is not None and ended.get("run") == run.notes["runs"]:
            return self._ended(run, ended, self.clock())  # it ended between our two looks: not lost
        try:
            spent = run_tokens(run.read("result.json"), run.read("progress.json"))
        except ValueError:
            spent = {}
        lost = add_tokens(run.notes.get("lost_tokens") or {}, spent)  # counted in the attempt's last report
        if run.notes["runs"] >= MAX_RUNS:
            run.save(lost_tokens=lost)
            return self._finish(run, {"kind": "failed", "attempt": run.attempt,
                                      "reason": f"{why}; lost {MAX_RUNS} runs of this attempt"}, self.clock())
        run.set_aside()
        run.save(phase=ACCEPTED, lost_tokens=lost, rerun=why)
        log.info("%s: run %d of attempt %d lost: %s; it runs again once the hub confirms the task is still ours",
                 run.task_id, run.notes["runs"], run.attempt, why)
        self.last_beat = None  # start it once the hub confirms it is still ours

    def _drop(self, run: Run, why: str) -> None:
        if run.notes.get("dropped"):
            return  # already stopping
        log.info("%s: attempt %d dropped: %s", run.task_id, run.attempt, why)
        if run.phase == RUNNING and run.alive():
            run.save(dropped=why)
            self._kill(run, why, self.clock())
        else:
            self._close(run, why)

    def _close(self, run: Run, why: str) -> None:
        self.runs.close(run, why)
        # worktrees are per task, runs per attempt: a newer attempt may be working in this one
        newer = [r.attempt for r in self.runs.all() if r.task_id == run.task_id]
        if newer:
            log.info("%s: worktree kept for attempt %d, which works in it", run.task_id, max(newer))
            return
        with self._beating():  # its fetch may be slow too
            workflow.tidy(run)

    def _say(self, run: Run, note: str, rerun: int | None = None) -> None:
        """A progress note to the hub; with `rerun`, the note that run number `rerun` started, and why."""
        log.info("%s: %s", run.task_id, f"re-running (run {rerun}): {note}" if rerun else note)
        body = {"kind": "progress", "attempt": run.attempt, "note": note[:500]}
        self.outbox.put(run.task_id, {**body, "run": rerun} if rerun else body)
        run.save(last_sent=self.clock())

    def _final(self, run: Run, report: dict) -> dict:
        """A done or failed report as it leaves: with the run it ends, and the tokens of the
        attempt's lost runs added to its own."""
        lost = run.notes.get("lost_tokens") or {}
        if lost:
            report = {**report, "tokens": add_tokens(report.get("tokens") or {}, lost)}
        return {**report, "run": run.notes["runs"]} if run.notes.get("runs", 0) >= 1 else report

    def _stopped(self, run: Run, ended: dict) -> str | None:
        """Why the operator stopped this run, if that stop is what ended it (result.stopped_by).
        Only the sidecar's own mark counts, never a file in the run's folder (the agent's)."""
        try:
            mark = self.runs.stop_mark(run)
        except ValueError:
            return None
        named = {"task": run.task_id, "attempt": run.attempt, "run": run.notes["runs"]}
        return stopped_by(mark, named, run.notes.get("started_at"), ended.get("code"), ended.get("at"))

    def settle(self) -> None:
        """After an operator's stop of the runs: report each run that has ended and deliver what
        waits, asking the hub for nothing and starting nothing (the sidecar itself is stopped)."""
        now = self.clock()
        self._reap()
        for run in self.runs.all():
            self._watch(run, now)
        self._deliver()

    def _relay_progress(self, run: Run, now: float) -> None:
        """The agent's progress notes go to the hub now and then; a block (and its end) at once.
        A run that says nothing still gets a progress report every progress_every."""
        try:
            note = run.read("progress.json")
        except ValueError:
            note = None
        last = run.notes.get("last_sent") or run.notes["started_at"]
        blocked = run.notes.get("blocked", False)
        if note is not None and not problems(note, "progress") and note["seq"] != run.notes.get("progress_seq"):
            if note["kind"] == "blocked" or blocked or now - last >= self.config.progress_every:
                body = {"kind": note["kind"], "attempt": run.attempt,
                        **({"note": note["note"]} if note.get("note") else {})}
                self.outbox.put(run.task_id, body)
                run.save(progress_seq=note["seq"], blocked=note["kind"] == "blocked", last_sent=now)
                return
        if not blocked and now - last >= self.config.progress_every:
            minutes = int((now - run.notes["started_at"]) // 60)
            self.outbox.put(run.task_id, {"kind": "progress", "attempt": run.attempt, "note": f"running {minutes}m"})
            run.save(last_sent=now)

    # --- the outbox ------------------------------------------------------------------------

    def _deliver(self) -> bool:
        """Send every pending report, oldest first; False if the hub could not be reached."""
        for item in self.outbox.pending():
            try:
                answer = self.hub.report(item.task_id, item.body)
            except HubUnavailable as e:
                self._hub_failed(e)
                return False
            except HubRefused as e:
                if e.status in (401, 403) or e.status >= 500:
                    self._hub_failed(e)  # may get better: keep it, try later
                    return False
                self.outbox.refuse(item, f"{e.status} {e.error}: {e.message}")
                self._refused(item, e)
                continue
            self.outbox.sent(item)
            self._delivered(item, answer)
        return True

    def _delivered(self, item: Pending, answer: dict) -> None:
        run = self.runs.get(item.task_id, item.body["attempt"])
        kind = item.body["kind"]
        if run is None:
            return
        if kind == "accepted" and run.phase == ACCEPTING:
            run.save(phase=ACCEPTED)
        elif kind in ("done", "failed"):
            log.info("%s: hub took '%s' for attempt %d (task now %s)", item.task_id, kind, run.attempt,
                     answer.get("state"))
            self._close(run, f"{kind} delivered")

    def _refused(self, item: Pending, e: HubRefused) -> None:
        log.warning("%s: the hub refused '%s' for attempt %s: %s", item.task_id, item.body.get("kind"),
                    item.body.get("attempt"), e.message)
        run = self.runs.get(item.task_id, item.body.get("attempt"))
        if run is not None:
            self._drop(run, f"the hub refused '{item.body.get('kind')}': {e.message}")

    # --- housekeeping ----------------------------------------------------------------------

    def _reap(self) -> None:
        for pid in list(self.children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.children.discard(pid)

    def _next_due(self, now: float) -> float:
        beat = 0.0 if self.last_beat is None else self.config.heartbeat - (now - self.last_beat)
        waits = [max(beat, self.beat_retry_at - now)]
        if self.outbox.pending():  # a report the hub did not take: try again when the quiet ends
            waits.append(self.quiet_until - now)
        if any(r.phase == RUNNING for r in self.runs.all()):
            waits.append(CHECK_EVERY)
        return max(0.05, min(waits))

    def _status(self) -> None:
        write_json(self.config.state_dir / "sidecar.json", {
            "agent": self.config.agent, "pid": os.getpid(), "url": self.url,
            "last_heartbeat": self.last_beat, "hub_error": self.hub_error, "hub_refused": self.refused,
            "runs": [{"id": r.task_id, "attempt": r.attempt, "phase": r.phase} for r in self.runs.all()]})


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - TAIL))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
