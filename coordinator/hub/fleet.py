"""The hub's agents: registration, heartbeats, reports, reclaims, and the scheduling pass.
Writes run in a batch of the hub's loop (through `Batch`); a heartbeat's note in memory, the
assignments and the agent list are safe from any thread.

Agent state changes are commits to agents/NAME.yaml, in the same commit as the task move that
caused them when there is one. Heartbeats and progress live in memory only; after a restart
every clock starts again from the hub's start, and one that has not moved since then falls due
no sooner than the sweeper's restart allowance, so a restart can delay a reclaim but never
cause one. Sidecars' notify addresses are kept across restarts (`remember`), so a new hub can
ask every sidecar for a heartbeat at once. Execution is at least once: a reclaimed attempt may
still be running somewhere, and its reports are refused by the attempt number
(docs/agent-protocol.md).
"""
from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from coordinator.core.agent import Agent, AgentState, derive, dump_agent, moved
from coordinator.core.layout import PER_AGENT, State
from coordinator.core.retry import RETRY, after_failure, classify, given_back
from coordinator.core.scheduler import OFF, SERIALISE, AgentSlot, Claim, QueuedTask, blockers, schedule
from coordinator.core.sweeper import DEADLINE, OFFLINE, Held, Limits, next_due, overdue
from coordinator.core.trailers import agent_message
from coordinator.core.transitions import DROP
from coordinator.core.view import Record, View
from coordinator.hub.batch import Journal
from coordinator.hub.tasks import Applied, Tasks, held_states
from coordinator.wire.errors import AgentcomError, AgentNotFound, IllegalTransition, StaleReport
from coordinator.wire.protocol import Heartbeat, Report
from coordinator.wire.times import format_time, parse_time

log = logging.getLogger("agentcom.fleet")
STUCK = 1.0  # seconds before retrying an overdue action that failed


def _claim(record: Record) -> Claim | None:
    t = record.task
    if not t or not t.get("repo") or not t.get("scope"):
        return None
    rework = record.loc.state is State.QUEUED and bool(t.get("rework"))
    return Claim(t["id"], t["repo"], tuple(t["scope"]), t.get("created_at") or "", rework)


class Fleet:
    """Owns the agents: their files and what the hub knows of them in memory (heartbeats,
    activity on held tasks, progress notes, notify URLs), and the sweep and scheduling pass."""

    def __init__(self, view: View, journal: Journal, tasks: Tasks, applied: Applied,
                 clock: Callable[[], datetime], rng: random.Random, lock: threading.RLock):
        self.view, self.journal, self.tasks, self.applied = view, journal, tasks, applied
        self.clock, self.rng, self.lock = clock, rng, lock
        self.started: datetime | None = None       # when the hub was ready to hear from sidecars
        self.seen: dict[str, datetime] = {}       # agent → last heartbeat
        self.activity: dict[str, datetime] = {}   # held task → assigned, accepted or last progress
        self.urls: dict[str, str] = {}            # agent → where its sidecar takes notifications
        self.remember: Callable[[], None] = lambda: None   # keeps `urls` for the next hub (set by the hub)
        self.notes: dict[str, tuple[int, str, str]] = {}  # task → (attempt, last progress note, when)
        self.memory_version = 0                   # bumped by changes that make no commit
        self.hints: dict[str, str] = {}           # queued task → the task in flight that held it last pass
        # whether the hub learns what becomes of a task's PR (then the task waits in review)
        self.follows: Callable[[dict, str], bool] = lambda task, pr_url: False

    def touched(self) -> None:
        """Something shown by the state changed without a commit (a heartbeat, a progress note)."""
        self.memory_version += 1

    # --- registry (operator) ---------------------------------------------------------------

    def register_agent(self, fields: dict, by: str) -> tuple[dict, bool]:
        """Add an agent, or change the fields given of one; returns (agent, created)."""
        name, stamp = fields["name"], format_time(self.clock())
        old = self.view.agents.get(name)
        if old is None:
            agent = Agent(**fields, since=stamp, reason="registered", registered_at=stamp)
            msg = agent_message(name, "unregistered", "offline", f"registered by {by}")
        else:
            agent = replace(old, **fields)
            if agent == old:
                return self.agent_row(agent), False
            msg = agent_message(name, old.state.value, old.state.value,
                                f"updated by {by}: capabilities {', '.join(agent.capabilities) or 'none'}, "
                                f"slots {agent.slots}")
        self.journal.stage({agent.path: dump_agent(agent)}, msg)
        self.journal.track_agent(agent, name)
        return self.agent_row(agent), old is None

    def remove_agent(self, name: str, by: str) -> None:
        """Take an agent out: its tasks go back to the queue (each an attempt); git keeps its history."""
        agent = self._agent(name)
        for task_id in sorted(self.view.held.get(name, {})):
            self._end_attempt(task_id, "agent_vanished", f"agent {name} was removed by {by}")
        self.journal.stage({agent.path: None},
                         agent_message(name, self.view.agents[name].state.value, "removed", f"removed by {by}"))
        self.journal.track_agent(None, name)
        self.seen.pop(name, None)
        if self.urls.pop(name, None) is not None:
            self.remember()

    def cancel(self, task_id: str, by: str) -> dict:
        """Cancel a task that is not done; a running attempt is told to stop at its next call."""
        self.journal.require("cancel")
        record = self.tasks.record(task_id)
        updates = None
        if record.loc.state in PER_AGENT:
            updates = {"outcome": self._outcome(self.tasks.load_task(record), record.loc.agent, "cancelled")}
        self.activity.pop(task_id, None)
        return self.tasks.transition(task_id, State.CANCELLED, reason=f"cancelled by {by}", updates=updates)

    # --- what sidecars call ----------------------------------------------------------------

    def beat(self, name: str, beat: Heartbeat) -> bool:
        """Note the agent is alive (in memory); False if it is not online yet (then the loop
        must `connect` it)."""
        with self.lock:
            agent = self._agent(name)
            self.seen[name] = self.clock()
            self.touched()
            moved = bool(beat.url) and self.urls.get(name) != beat.url
            if moved:
                self.urls[name] = beat.url
        if moved:
            self.remember()  # written only when an address changes, never per heartbeat
        return agent.online

    def known_urls(self) -> dict[str, str]:
        # one copy, made whole under the interpreter lock: taking the state lock here could
        # deadlock a heartbeat's save against the loop's (which holds the state lock)
        return dict(self.urls)

    def recall(self, urls: dict[str, str]) -> None:
        """The addresses a previous hub kept, for the agents registered now."""
        with self.lock:
            self.urls = {name: url for name, url in urls.items() if name in self.view.agents}

    def connect(self, name: str) -> None:
        self.journal.require("connect")
        agent = self._agent(name)
        self.seen[name] = self.clock()
        if not agent.online:
            self._agent_event(name, derive(True, False, held_states(self.view, name)), "heartbeat: online")

    def assignments(self, name: str, holding: tuple[tuple[str, int], ...] = ()) -> dict:
        """The tasks this agent holds, with the attempt each report must quote, and which of the
        tasks it says it holds are no longer its own (stop them). Asking again gives the same answer."""
        with self.lock:
            agent = self._agent(name)
            mine = {}
            for task_id, record in sorted(self.view.held.get(name, {}).items()):
                task = record.task or {}
                mine[task_id] = {"id": task_id, "attempt": task.get("attempt"),
                                 "state": record.loc.state.label, "task": task}
            drop = []
            for task_id, attempt in holding:
                if task_id not in mine or mine[task_id]["attempt"] != attempt:
                    drop.append({"id": task_id, "attempt": attempt,
                                 "why": self._why_not(task_id, name, attempt)})
            return {"agent": name, "state": agent.state.value, "assignments": list(mine.values()),
                    "drop": drop}

    def report(self, name: str, task_id: str, r: Report) -> dict:
        """Apply a report from `name` about attempt r.attempt of a task (runs in the loop)."""
        self.journal.require("report")
        poked = name in self.journal.pokes
        try:
            return self._report(name, task_id, r)
        finally:
            if not poked:
                self.journal.pokes.discard(name)  # it knows what its own report did

    def _report(self, name: str, task_id: str, r: Report) -> dict:
        record = self.tasks.record(task_id)
        task = self.tasks.load_task(record)
        loc = record.loc
        if not (loc.state in PER_AGENT and loc.agent == name and task.get("attempt") == r.attempt):
            ended = task.get("outcome") or {}
            kind = "interrupted" if r.interrupted else r.kind
            if (ended.get("agent"), ended.get("attempt"), ended.get("kind")) == (name, r.attempt, kind):
                return self._answer(task_id, duplicate=True)
            raise StaleReport(task_id, name, r.attempt, self._why_not(task_id, name, r.attempt))
        now = self.clock()
        if r.kind == "accepted":
            if loc.state is State.WORKING:
                return self._answer(task_id, duplicate=True)
            self.tasks.transition(task_id, State.WORKING, agent=name, reason=f"accepted by {name}")
            self.activity[task_id] = now
            return self._answer(task_id)
        if loc.state is State.ASSIGNED and r.kind != "failed":
            raise IllegalTransition(task_id, "assigned", f"take a '{r.kind}' report",
                                    "send 'accepted' first, with the same attempt")
        if r.kind in ("progress", "blocked"):
            self._progress(name, task_id, r, task, now)
            return self._answer(task_id)
        runs = max(int(task.get("runs") or 1), r.run or 1)  # a re-run's own record may have been lost
        if r.kind == "done":
            result = {k: v for k, v in (("summary", r.summary), ("pr_url", r.pr_url), ("model", r.model),
                                         ("tokens", r.tokens or None)) if v is not None}
            first = (r.summary or "").strip().splitlines()[0][:120] if (r.summary or "").strip() else "no summary"
            to = State.REVIEW if r.pr_url and self.follows(task, r.pr_url) else State.DONE
            if to is State.REVIEW:
                first = f"{first}; in review: {r.pr_url}"
            self.tasks.transition(task_id, to, agent=name, reason=f"done by {name}: {first}", updates={
                "result": result, "outcome": self._outcome(task, name, "done", runs), "runs": runs,
                "tokens_used": int(task.get("tokens_used", 0)) + r.tokens_total})
        elif r.interrupted:
            self._interrupted(task_id, f"{name}'s run {runs} of attempt {r.attempt} was interrupted: {r.reason}",
                              runs, r.tokens_total)
        else:
            self._end_attempt(task_id, "reported", f"{name} reported failure: {r.reason}",
                              permanent=r.permanent, kind_label="failed", tokens=r.tokens_total, runs=runs)
        self.activity.pop(task_id, None)
        return self._answer(task_id)

    def _progress(self, name: str, task_id: str, r: Report, task: dict, now: datetime) -> None:
        """A progress or blocked report; a progress naming run 2 or later says the attempt was run
        again, which is recorded (a commit) the first time that run is named."""
        self.activity[task_id] = now
        note = r.note
        if r.run is not None and r.run > 1:
            why = r.note or "started again"
            if r.run < int(task.get("runs") or 1):
                note = None  # an older run's word: harmless, and not shown over the newer one
            else:
                self.tasks.record_run(task_id, r.run, f"run {r.run} of attempt {r.attempt}: {why}")
                note = f"re-running (run {r.run}): {why}"
        if note:  # in memory only: progress makes no commit
            self.notes[task_id] = (r.attempt, note, format_time(now))
            self.touched()
        agent = self._agent(name)
        if r.kind == "blocked":  # a repeat with the same note changes nothing
            self._agent_event(name, AgentState.BLOCKED, f"blocked on {task_id}: {r.note}", task_id)
        elif r.kind == "progress" and agent.state is AgentState.BLOCKED and agent.blocked_on == task_id:
            self._agent_event(name, derive(True, False, held_states(self.view, name)),
                              f"resumed {task_id}" + (f": {r.note}" if r.note else ""))

    def _answer(self, task_id: str, duplicate: bool = False) -> dict:
        record = self.tasks.record(task_id)
        return {"id": task_id, "state": record.loc.state.label, "duplicate": duplicate,
                "attempt": self.tasks.load_task(record).get("attempt")}

    def _why_not(self, task_id: str, name: str, attempt: int) -> str:
        record = self.view.get(task_id)
        if record is None:
            return "there is no such task"
        task = record.task if record.task is not None else self.tasks.load_task(record)
        now_attempt = task.get("attempt", 0)
        if record.loc.state in PER_AGENT and record.loc.agent != name:
            return f"it is held by {record.loc.agent} (attempt {now_attempt})"
        if attempt > now_attempt:
            return (f"attempt {attempt} was never handed out; "
                    f"the task is {record.loc.state.label} on attempt {now_attempt}")
        if attempt != now_attempt:
            return f"attempt {attempt} is over; the task is {record.loc.state.label} on attempt {now_attempt}"
        ended = task.get("outcome") or {}
        how = f" (attempt {attempt} ended: {ended.get('kind')})" if ended.get("attempt") == attempt else ""
        return f"the task is {record.loc.state.label}{how}"

    # --- after every batch: what is overdue, then who gets what -----------------------------

    def react(self) -> None:
        """What is overdue, then who gets what: run at the end of every batch."""
        for action in (self._sweep, self._schedule):
            try:
                action()
            except AgentcomError:  # one bad task must not stop the fleet; the next pass tries again
                log.exception("%s failed", action.__name__)

    def _limits(self) -> Limits:
        t = self.applied.config.timeouts
        return Limits(t.accept, t.progress, t.heartbeat_grace)

    def _clocks(self, started: datetime) -> tuple[list[Held], dict[str, datetime], dict[str, datetime]]:
        held = []
        for name, tasks in self.view.held.items():
            agent = self.view.agents.get(name)
            waiting_on = agent.blocked_on if agent is not None and agent.state is AgentState.BLOCKED else None
            for task_id, record in tasks.items():
                since = max(self.activity.get(task_id, started), started)
                held.append(Held(task_id, name, record.loc.state, since, task_id == waiting_on))
        seen = {name: max(self.seen.get(name, started), started)
                for name, agent in self.view.agents.items() if agent.online}
        deadlines = {task_id: parse_time(r.task["deadline"]) for task_id, r in self.view.timed.items()
                     if r.task.get("deadline") and r.loc.state is not State.DEAD}
        return held, seen, deadlines

    def _sweep(self) -> None:
        now = self.clock()
        started = self.started or now  # still starting: every clock starts now
        for due in overdue(*self._clocks(started), now, self._limits(), started):
            if due.kind == OFFLINE:
                self._agent_event(due.subject, AgentState.OFFLINE, due.reason)
                self.seen.pop(due.subject, None)
            elif due.kind == DEADLINE:
                self._deadline(due.subject, due.reason)
            else:
                self._end_attempt(due.subject, due.kind, due.reason)
        for name in [n for n in self.view.held if not getattr(self.view.agents.get(n), "online", False)]:
            why = "is offline" if name in self.view.agents else "is not registered"
            for task_id in sorted(self.view.held.get(name, {})):
                self._end_attempt(task_id, "agent_vanished", f"reclaimed: {name} {why}")

    def wake_in(self) -> float | None:
        """Seconds until something falls due (a timeout, a deadline, a task becoming ready).

        A ready task that nobody can take yet is not a reason to wake: the event that frees an
        agent schedules it. Something overdue that the last batch could not settle is retried
        after STUCK seconds, never in a spin.
        """
        now = self.clock()
        with self.lock:
            started = self.started or now
            due = next_due(*self._clocks(started), self._limits(), started)
            ready = [r.cache.not_before for r in self.view.timed.values()
                     if r.loc.state is State.QUEUED and r.cache is not None
                     and r.cache.not_before is not None and r.cache.not_before > now]
        waits = [(t - now).total_seconds() for t in ready]
        if due is not None:
            waits.append(max((due - now).total_seconds(), STUCK))
        return min(waits, default=None)

    def _schedule(self) -> None:
        slots = []
        for agent in self.view.agents.values():
            if agent.state in (AgentState.IDLE, AgentState.ASSIGNED, AgentState.WORKING):
                free = agent.slots - len(self.view.held.get(agent.name, ()))
                if free > 0:
                    last = parse_time(agent.last_assigned_at) if agent.last_assigned_at else None
                    slots.append(AgentSlot(agent.name, frozenset(agent.capabilities), free, last))
        if not slots or not self.view.queued:
            return
        now = self.clock()
        queue = [self._preferring(r) for r in self.view.queued.values()]
        config = self.applied.config
        promote = {name: lane.promote_after for name, lane in config.lanes.items()}
        if len(self.hints) > 2 * len(self.view.queued) + 1000:   # forget tasks no longer queued
            self.hints = {k: v for k, v in self.hints.items() if k in self.view.queued}
        for a in schedule(queue, slots, now, done=self.view.done, promote_after=promote,
                          claims=self._claims(), collisions=config.collisions.mode, hints=self.hints):
            reason = "scheduled"
            if a.collides_with:
                reason += f"; collides with {', '.join(a.collides_with)} (collisions: flag)"
            self.tasks.transition(a.task_id, State.ASSIGNED, agent=a.agent, reason=reason)
            self.activity[a.task_id] = now

    def _queued(self, record: Record) -> QueuedTask:
        if record.cache is None:
            t = record.task
            ready = [parse_time(t[k]) for k in ("not_before", "retry_at") if t.get(k)]
            record.cache = QueuedTask(t["id"], record.loc.lane, parse_time(t["queued_at"]),
                                      frozenset(t.get("needs", ())),
                                      t.get("pin") or (t.get("rework") or {}).get("agent"),
                                      tuple(t.get("depends_on", ())), max(ready, default=None), _claim(record))
        return record.cache

    def _claims(self) -> list[Claim]:
        """The tasks in flight that hold files of a target: read from the view's index, not the queue."""
        found = []
        for record in self.view.claims.values():
            if record.loc.state is State.QUEUED:
                claim = self._queued(record).claim
            else:  # a held or in-review record is replaced when its task changes, so it may keep this
                if record.cache is None:
                    record.cache = _claim(record)
                claim = record.cache
            if claim is not None:
                found.append(claim)
        return found

    def waits(self, record: Record) -> tuple[list[str], list[str]]:
        """(waiting_on, collides_with) of a live task, computed: the unfinished tasks a queued task
        depends on and, under collisions: serialise, the tasks in flight its scope overlaps; under
        flag, those it overlaps are collides_with instead (as they are for a task in flight)."""
        state = record.loc.state
        if record.task is None or state not in (State.QUEUED, State.REVIEW, *PER_AGENT):
            return [], []
        queued = state is State.QUEUED
        waiting = sorted(set(record.task.get("depends_on", ())) - self.view.done) if queued else []
        claim = _claim(record)
        mode = self.applied.config.collisions.mode(claim.repo) if claim is not None else OFF
        if mode == OFF:
            return waiting, []
        hits = blockers(claim, self._claims())
        if queued and mode == SERIALISE:
            return sorted({*waiting, *hits}), []
        return waiting, hits

    def _preferring(self, record: Record) -> QueuedTask:
        """The queued task as the scheduler sees it now: a PR sent back waits for the agent whose
        branch it is while that agent is online; once it is offline or removed, any capable agent
        takes it (on a branch of its own)."""
        task = self._queued(record)
        if task.pin and not record.task.get("pin"):
            agent = self.view.agents.get(task.pin)
            if agent is None or not agent.online:
                return replace(task, pin=None)
        return task

    # --- ending an attempt -----------------------------------------------------------------

    def _end_attempt(self, task_id: str, kind: str, reason: str, *, permanent: bool = False,
                     kind_label: str | None = None, tokens: int = 0, updates: dict | None = None,
                     runs: int | None = None) -> None:
        """The held attempt failed or was reclaimed: back to the queue after a backoff, or dead."""
        record = self.tasks.record(task_id)
        task = self.tasks.load_task(record)
        runs = runs or int(task.get("runs") or 1)
        attempt = int(task.get("attempt", 0))
        spent = max(1, attempt - int(task.get("attempt_base", 0)))
        retry = self.applied.config.retry
        decision = after_failure(spent, int(task.get("max_retries", retry.max_retries)),
                                 classify(kind, permanent), retry.backoff_base, retry.backoff_max, self.rng)
        now = self.clock()
        changes = {"last_error": reason[:2000], "runs": runs,
                   "outcome": self._outcome(task, record.loc.agent, kind_label or kind, runs),
                   "tokens_used": int(task.get("tokens_used", 0)) + tokens, **(updates or {})}
        if decision.action == RETRY:
            changes["retry_at"] = format_time(now + timedelta(seconds=decision.wait))
            to = State.QUEUED
        else:
            to = State.DEAD
        self.tasks.transition(task_id, to, reason=f"{reason}; {decision.reason}", updates=changes)
        self.activity.pop(task_id, None)

    def _interrupted(self, task_id: str, reason: str, runs: int, tokens: int) -> None:
        """The operator stopped the run (not the agent's failure): back to the queue at once, the
        attempt not counted (`attempt_base` moves up with it), up to FREE_INTERRUPTIONS times."""
        task = self.tasks.load_task(self.tasks.record(task_id))
        interruptions = int(task.get("interruptions", 0))
        decision = given_back(interruptions)
        if decision is None:  # stopped too often: from now on it counts like any failure
            return self._end_attempt(task_id, "interrupted", reason, kind_label="interrupted", tokens=tokens,
                                     runs=runs, updates={"interruptions": interruptions + 1})
        attempt = int(task.get("attempt", 0))
        self.tasks.transition(task_id, State.QUEUED, reason=f"{reason}; {decision.reason}", updates={
            "attempt_base": min(attempt, int(task.get("attempt_base", 0)) + 1), "interruptions": interruptions + 1,
            "runs": runs, "outcome": self._outcome(task, task.get("agent"), "interrupted", runs),
            "tokens_used": int(task.get("tokens_used", 0)) + tokens})
        self.activity.pop(task_id, None)

    def _deadline(self, task_id: str, reason: str) -> None:
        record = self.tasks.record(task_id)
        task = self.tasks.load_task(record)
        policy = task.get("on_deadline") or self.applied.config.timeouts.on_deadline
        if policy == "fail":
            changes = {"last_error": reason}
            if record.loc.state in PER_AGENT:
                changes["outcome"] = self._outcome(task, record.loc.agent, "deadline")
            self.tasks.transition(task_id, State.DEAD, reason=f"{reason}; on_deadline is fail", updates=changes)
            self.activity.pop(task_id, None)
        elif record.loc.state in PER_AGENT:
            self._end_attempt(task_id, "timeout", f"{reason}; on_deadline is retry, so the deadline is spent",
                              kind_label="deadline", updates={"deadline": DROP})
        else:
            note = f"{reason}; on_deadline is retry: it stays queued, the deadline spent"
            self.tasks.transition(task_id, State.QUEUED, lane=record.loc.lane, reason=note,
                            updates={"deadline": DROP, "last_error": note})

    def _outcome(self, task: dict, agent: str | None, kind: str, runs: int | None = None) -> dict:
        return {"attempt": int(task.get("attempt", 0)), "agent": agent, "kind": kind,
                "runs": runs or int(task.get("runs") or 1), "at": format_time(self.clock())}

    # --- agent state -----------------------------------------------------------------------

    def _agent(self, name: str) -> Agent:
        agent = self.view.agents.get(name)
        if agent is None:
            raise AgentNotFound(name)
        return agent

    def _agent_event(self, name: str, state: AgentState, reason: str, blocked_on: str | None = None) -> None:
        """An agent's own change (online, offline, blocked), as its own commit."""
        agent = self._agent(name)
        new = moved(agent, state, format_time(self.clock()), reason, blocked_on)
        if agent.blocked_on and new.blocked_on != agent.blocked_on:
            self.activity[agent.blocked_on] = self.clock()  # time spent waiting on a human is not silence
        if new != agent:
            self.journal.stage({new.path: dump_agent(new)},
                             agent_message(name, agent.state.value, new.state.value, reason))
            self.journal.track_agent(new, name)

    def agent_row(self, agent: Agent) -> dict:
        """An agent as the API shows it: its file plus what the hub knows in memory."""
        seen = self.seen.get(agent.name)
        return {"name": agent.name, "state": agent.state.value, "since": agent.since,
                "reason": agent.reason, "capabilities": list(agent.capabilities), "slots": agent.slots,
                "description": agent.description, "tasks": sorted(self.view.held.get(agent.name, {})),
                "last_heartbeat": format_time(seen) if seen else None,
                "last_assigned_at": agent.last_assigned_at, "registered_at": agent.registered_at}

    def last_note(self, record: Record) -> dict:
        """The held attempt's latest progress note, for status lists ({} when there is none)."""
        found = self.notes.get(record.loc.task_id)
        if found is None or record.loc.state not in PER_AGENT or (record.task or {}).get("attempt") != found[0]:
            return {}
        return {"note": found[1], "noted_at": found[2]}

    def agent_list(self) -> list[dict]:
        with self.lock:
            return [self.agent_row(a) for _, a in sorted(self.view.agents.items())]
