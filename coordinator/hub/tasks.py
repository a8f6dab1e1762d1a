"""The hub's task files: queueing a new task, moving one between states (one commit, which also
rewrites the files of the agents the move changes), a human's retry and re-prioritise; and
reading a task file back.

Writes run inside a batch of the hub's loop (through `Batch`); `record` and `load_task` read.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from coordinator.core.agent import AgentState, agent_path, derive, dump_agent, moved
from coordinator.core.layout import MODE_FILE, Entry, State, lane_of_submission, location
from coordinator.core.task import Defaults, admit, dump, held_by, id_taken, load, new_id
from coordinator.core.trailers import Transition, message
from coordinator.core.transitions import move, rerun
from coordinator.core.view import Record, View
from coordinator.hub.batch import Journal
from coordinator.repo.gitrepo import GitRepo
from coordinator.wire.errors import IllegalTransition, InvalidTask, TaskNotFound
from coordinator.wire.times import format_time

STORED_MAX = 2 << 20  # bound on reading a task file the coordinator wrote (twice the largest intake)


class Applied:
    """The settings in force: the config last applied from main, and why the file itself could
    not be applied (None when it was). Intake sets both; the other components read them."""

    def __init__(self, config, error: str | None = None):
        self.config, self.error = config, error


class Tasks:
    """Owns the task files and their records in the view."""

    def __init__(self, git: GitRepo, view: View, journal: Journal, applied: Applied,
                 clock: Callable[[], datetime], rng: random.Random):
        self.git, self.view, self.journal, self.applied = git, view, journal, applied
        self.clock, self.rng = clock, rng

    # --- reads -----------------------------------------------------------------------------

    def record(self, task_id: str) -> Record:
        record = self.view.get(task_id)
        if record is None:
            raise TaskNotFound(task_id)
        return record

    def load_task(self, record: Record) -> dict:
        if record.task is not None:
            return record.task
        return load(self.git.read(record.oid), record.loc.path, STORED_MAX)

    def defaults(self) -> Defaults:
        config = self.applied.config
        return Defaults(config.retry.max_retries, config.limits.task_bytes)

    # --- writes (inside a batch) -----------------------------------------------------------

    def submit(self, doc: dict, source: str, *, where: str = "submission", lane: str | None = None,
               remove: str | None = None, marks: dict | None = None, origin: str | None = None) -> dict:
        """Queue a new task; returns it. `remove` is the submitted file to take away (push intake);
        `marks` are coordinator fields set after intake (a submission itself may never hold them);
        `origin` is the state its transition names as "from" (inbox for a file from inbox/)."""
        self.journal.require("submit")
        now = self.clock()
        task_id = doc.get("id") if isinstance(doc.get("id"), str) else None
        if task_id and task_id in self.view.tasks:
            other = self.view.tasks[task_id].loc
            raise InvalidTask(where, [id_taken(task_id, held_by(other.state, other.path))])
        task, data = admit(doc, where, lane=lane, now=now, task_id=task_id or self._fresh_id(now),
                           defaults=self.defaults(), source=source, marks=marks)
        loc = location(State.QUEUED, task["id"], lane=task["priority"])
        edits = {remove: None} if remove else {}
        edits[loc.path] = data
        origin = origin or ("inbox" if remove and remove.startswith("inbox/") else "new")
        self.journal.stage(edits, message(Transition(task["id"], origin, "queued", None, 0,
                                                     f"submitted by {source}")))
        self.journal.track(loc, task)
        return task

    def submit_files(self, files: list[tuple[str, dict]], source: str) -> list[dict]:
        """Queue the task files of one push to refs/for/main, all or none: a file refused here (its
        id taken since the push was checked) takes the others' commits back out of the batch."""
        mark = self.journal.savepoint()
        try:
            return [self.submit(doc, source, where=path, lane=lane_of_submission(path),
                                origin="inbox" if path.startswith("inbox/") else "new") for path, doc in files]
        except BaseException:
            self.journal.rewind(mark)
            raise

    def _fresh_id(self, now: datetime) -> str:
        while True:
            candidate = new_id(now, self.rng)
            if candidate not in self.view.tasks:
                return candidate

    def transition(self, task_id: str, to: State, *, reason: str, agent: str | None = None,
                   lane: str | None = None, updates: dict | None = None) -> dict:
        """Move a task to another state: one commit, which also rewrites the files of the agents
        whose state the move changes. Raises IllegalTransition if the move is not allowed."""
        self.journal.require("transition")
        record = self.record(task_id)
        before = self.load_task(record)
        m = move(before, record.loc, to, self.clock(), reason=reason, agent=agent, lane=lane, updates=updates)
        self.journal.observe(before, m.task, record.loc.state, to, self.clock())
        oid = self.git.write_blob(dump(m.task))
        self.journal.track(m.new, m.task, oid)
        edits = {record.loc.path: None, m.new.path: Entry(m.new.path, oid, MODE_FILE)}
        agents, trailers = self._agents_follow({record.loc.agent, m.new.agent},
                                               m.new.agent if to is State.ASSIGNED else None)
        if to is State.ASSIGNED:
            self.journal.poke(m.new.agent)
        if record.loc.agent and m.new.agent != record.loc.agent:
            self.journal.poke(record.loc.agent)  # taken away (cancel, reclaim): stop it now
        self.journal.stage({**edits, **agents}, message(m.transition, trailers))
        return m.task

    def record_run(self, task_id: str, run: int, reason: str) -> bool:
        """Record that run `run` of the working attempt started (one commit; the task stays
        working). False, and no commit, when that run or a later one is recorded already."""
        self.journal.require("record_run")
        record = self.record(task_id)
        m = rerun(self.load_task(record), record.loc, run, self.clock(), reason=reason)
        if m is None:
            return False
        oid = self.git.write_blob(dump(m.task))
        self.journal.track(m.new, m.task, oid)
        self.journal.stage({m.new.path: Entry(m.new.path, oid, MODE_FILE)}, message(m.transition))
        return True

    def retry(self, task_id: str, by: str, lane: str | None = None) -> dict:
        """Queue a dead or cancelled task again (a human's decision)."""
        state = self.record(task_id).loc.state
        if state not in (State.DEAD, State.CANCELLED):
            raise IllegalTransition(task_id, state.label, "retry it",
                                    "only dead or cancelled tasks are retried; cancel it first")
        return self.transition(task_id, State.QUEUED, lane=lane, reason=f"retried by {by}")

    def reprioritise(self, task_id: str, lane: str, by: str) -> dict:
        """Move a queued task to another lane: the same move as a pushed `git mv` between lanes."""
        record = self.record(task_id)
        if record.loc.state is not State.QUEUED:
            raise IllegalTransition(task_id, record.loc.state.label, f"move it to lane {lane}",
                                    "only queued tasks change lanes; retry a dead or cancelled one with a lane")
        if record.loc.lane == lane:
            raise IllegalTransition(task_id, "queued", f"move it to lane {lane}", f"it is in {lane} already")
        return self.transition(task_id, State.QUEUED, lane=lane,
                               reason=f"re-prioritised by {by}: {record.loc.lane} → {lane}")

    def _agents_follow(self, names, assigned_to: str | None) -> tuple[dict, tuple]:
        """Agent files to rewrite in the same commit as a task move, and the Agent-State trailers."""
        edits, trailers = {}, []
        for name in sorted(n for n in names if n):
            agent = self.view.agents.get(name)
            if agent is None:
                continue
            mine = self.view.held.get(name, {})
            blocked = agent.state is AgentState.BLOCKED and agent.blocked_on in mine and \
                mine[agent.blocked_on].loc.state is State.WORKING
            new = moved(agent, derive(agent.online, blocked, held_states(self.view, name)),
                        format_time(self.clock()), agent.reason if blocked else None)
            if name == assigned_to:
                new = replace(new, last_assigned_at=format_time(self.clock()))
            if new != agent:
                edits[agent_path(name)] = dump_agent(new)
                if new.state is not agent.state:
                    trailers.append((name, agent.state.value, new.state.value))
                self.journal.track_agent(new, name)
        return edits, tuple(trailers)


def held_states(view: View, name: str) -> list[State]:
    """The states of the tasks an agent holds."""
    return [r.loc.state for r in view.held.get(name, {}).values()]
