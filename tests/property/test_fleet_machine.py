"""Random fleets: agents register, heartbeat, go silent, accept, progress, block, finish and fail;
reports arrive late, twice or from the wrong agent; the clock jumps forwards and backwards;
operators retry, cancel and remove; the coordinator crashes and restarts.

After every step: each task is in exactly one state and none is lost; at most one live
assignment per task; the retry budget is never overrun; git history agrees with the state;
every agent's file agrees with what it holds (never more than its slots, nothing while offline
or unregistered). A model of the clocks (last heartbeat, last sign of life per held task, the
hub's start) checks that nothing is reclaimed or taken offline early, and nothing late.
"""
from __future__ import annotations

import random
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from coordinator.core.agent import AgentState, load_agent, name_of, registration
from coordinator.core.layout import LANES, PER_AGENT, State, parse_location
from coordinator.core.trailers import parse
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from coordinator.repo.repoinit import init_repo
from coordinator.wire.errors import AgentNotFound, IllegalTransition, StaleReport, TaskNotFound
from coordinator.wire.protocol import Heartbeat, parse_report
from tests.support.clock import Clock
from tests.support.crash import stage_then_die

NAMES = ("ada", "bob", "cy")
STRANGER = "zed"  # never registered
CAPS = ("py", "go")
REFUSED = (StaleReport, IllegalTransition, TaskNotFound, AgentNotFound)
REPORT_KINDS = ("accepted", "progress", "blocked", "done", "failed", "failed-permanent")
# the default timeouts (config.Timeouts): an agent is offline once silent for MORE than GRACE; an
# assignment or a run is reclaimed once ACCEPT or PROGRESS has passed (at exactly the limit)
ACCEPT, PROGRESS, GRACE = 120, 1800, 90


def make_report(kind: str, attempt: int, note: str = "waiting for a human"):
    body = {"kind": "failed" if kind.startswith("failed") else kind, "attempt": attempt}
    if kind == "failed":
        body["reason"] = "tests broke"
    elif kind == "failed-permanent":
        body.update(reason="the repo does not exist", permanent=True)
    elif kind == "blocked":
        body["note"] = note
    elif kind == "progress":
        body["note"] = "halfway"
    elif kind == "done":
        body.update(summary="did it", tokens={"input": 10, "output": 5})
    return parse_report(body)


class FleetMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="agentcom-fleet-"))
        self.repo, _ = init_repo(self.dir / "hub.git")
        self.clock = Clock()
        self.ids: list[str] = []           # every acknowledged submission, in order
        self.agents: set[str] = set()      # registered agent names
        self.down: set[str] = set()        # agents whose sidecar stopped heartbeating
        self.prev_held: dict[str, set[str]] = {}
        # the clock model: what the hub should know about time, kept independently of it
        self.beat: dict[str, datetime] = {}                 # online agent → last heartbeat
        self.sign: dict[str, tuple[int, datetime]] = {}     # held task → (attempt, last sign of life)
        self.blocks: dict[str, str | None] = {}             # agent → task it is blocked on
        self.ended: list[tuple[str, str, int]] = []         # (agent, task id, attempt) of attempts over
        self.hubs = 0
        self.hub = self._new_hub()
        self.checked = 0                   # which task's hub.history() to cross-check next
        self.history_checked_at = None
        self._main_cache = None
        self._log_cache = None

    def _new_hub(self) -> Hub:
        """A hub starting now: every in-memory clock it had (heartbeats, activity) starts again."""
        self.hubs += 1
        self.started = self.clock.now
        self.beat = {name: self.started for name in self.beat}
        self.sign = {task_id: (attempt, self.started) for task_id, (attempt, _) in self.sign.items()}
        return Hub(self.repo, clock=self.clock, rng=random.Random(self.hubs))

    def teardown(self):
        try:
            self.hub.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- helpers ---------------------------------------------------------------------------

    def tick(self) -> None:
        """One batch with nothing to do, as the loop runs when a timer falls due; then look."""
        self.hub.call(lambda batch: None)
        self.observe()

    def beat_agent(self, name: str, holding: tuple = ()) -> dict:
        answer = self.hub.heartbeat(name, Heartbeat(holding=holding))
        self.beat[name] = self.clock.now
        return answer

    def held(self) -> list[tuple[str, str, int, str]]:
        """(agent, task id, attempt, state) for every task a registered agent holds."""
        out = []
        for name in sorted(self.agents):
            for a in self.hub.assignments(name)["assignments"]:
                out.append((name, a["id"], a["attempt"], a["state"]))
        return out

    def state(self, task_id: str) -> str:
        return self.hub.view.get(task_id).loc.state.label

    def report(self, name: str, task_id: str, r):
        return self.hub.call(Batch.report, name, task_id, r)

    def refused_or_duplicate(self, name: str, task_id: str, r, what: str) -> None:
        """A report that must change nothing: refused, or acknowledged as a duplicate."""
        head = self.hub.store.base
        try:
            answer = self.report(name, task_id, r)
        except REFUSED as e:
            event(f"stale {what}: {type(e).__name__}")
        else:
            event(f"stale {what}: duplicate")
            assert answer["duplicate"] is True, \
                f"{what}: a '{r.kind}' report from {name} for attempt {r.attempt} of {task_id} was taken: {answer}"
            ended = self.hub.show(task_id)["task"].get("outcome") or {}
            assert (ended.get("agent"), ended.get("attempt"), ended.get("kind")) == (name, r.attempt, r.kind), \
                f"{what}: a '{r.kind}' report from {name} for attempt {r.attempt} of {task_id} was called a " \
                f"duplicate, but that attempt ended otherwise: {ended}"
        assert self.hub.store.base == head, \
            f"{what}: a refused or duplicate '{r.kind}' report from {name} for attempt {r.attempt} moved main"

    def main(self):
        """(task id → [Location], agent name → Agent) as on main's tree, cached per head."""
        git = self.hub.git
        head = git.head()
        if self._main_cache is None or self._main_cache[0] != head:
            tasks: dict[str, list] = {}
            agents = {}
            for entry in git.files(git.tree_of(head)):
                loc = parse_location(entry.path)
                if loc is not None:
                    tasks.setdefault(loc.task_id, []).append(loc)
                elif name_of(entry.path) is not None:
                    agents[name_of(entry.path)] = load_agent(git.read(entry.oid), entry.path)
            self._main_cache = (head, tasks, agents)
        return self._main_cache[1], self._main_cache[2]

    def transitions(self) -> dict[str, list]:
        """task id → its transitions in git, oldest first (one `git log` per head)."""
        head = self.hub.git.head()
        if self._log_cache is None or self._log_cache[0] != head:
            found: dict[str, list] = {}
            for entry in reversed(self.hub.git.log(limit=100000)):
                t = parse(entry.message)
                if t is not None:
                    found.setdefault(t.task_id, []).append(t)
            self._log_cache = (head, found)
        return self._log_cache[1]

    def observe(self) -> None:
        """Check the hub's timing against the clock model, then bring the model up to date.

        Called after every batch that follows a clock change, and after every step, so whatever
        the hub did since the last look happened at the current time.
        """
        now, view = self.clock.now, self.hub.view
        # heartbeats: offline exactly when silent past the grace
        for name in sorted(self.agents):
            agent = view.agents[name]
            last = self.beat.get(name)
            if last is not None and now - max(last, self.started) > timedelta(seconds=GRACE):
                assert agent.state is AgentState.OFFLINE, \
                    f"agent {name} silent since {max(last, self.started)} is still {agent.state.value} at {now}"
                del self.beat[name]
            elif last is not None:
                assert agent.online, f"agent {name} went offline at {now}; last heartbeat {last}"
            else:
                assert not agent.online, f"agent {name} is {agent.state.value} without a heartbeat"
        blocks = {n: a.blocked_on if a.state is AgentState.BLOCKED else None for n, a in view.agents.items()}
        paused = {t for t in self.blocks.values() if t is not None}  # blocked at the last look
        holding = {t: (r.loc.agent, int(r.task["attempt"]), r.loc.state)
                   for held in view.held.values() for t, r in held.items()}
        # attempts that ended since the last look: each says how, and a reclaim had its reason
        for task_id, (attempt, since) in sorted(self.sign.items()):
            if task_id in holding and holding[task_id][1] == attempt:
                continue
            del self.sign[task_id]
            ended = self.hub.show(task_id)["task"].get("outcome") or {}
            assert ended.get("attempt") == attempt, f"{task_id}: attempt {attempt} ended without an outcome: {ended}"
            self.ended.append((ended["agent"], task_id, attempt))
            waited = (now - max(since, self.started)).total_seconds()
            if ended["kind"] == "accept_timeout":
                assert waited >= ACCEPT, f"{task_id}: reclaimed after {waited}s unaccepted (limit {ACCEPT}s)"
            elif ended["kind"] == "progress_timeout":
                assert waited >= PROGRESS and task_id not in paused, \
                    f"{task_id}: reclaimed after {waited}s without progress (limit {PROGRESS}s" + \
                    (", and it was blocked)" if task_id in paused else ")")
            elif ended["kind"] == "agent_vanished":
                agent = view.agents.get(ended["agent"])
                assert agent is None or not agent.online, f"{task_id}: reclaimed from {ended['agent']}, still online"
        # a block that ended (or moved to another task): the task's stopped clock runs again
        for name, was in self.blocks.items():
            if was is not None and blocks.get(name) != was and was in self.sign:
                self.sign[was] = (self.sign[was][0], now)
        self.blocks = blocks
        # attempts still held: none overdue (the batch just run would have reclaimed it)
        for task_id, (name, attempt, state) in sorted(holding.items()):
            attempt_since = self.sign.setdefault(task_id, (attempt, now))  # new: assigned just now
            waited = (now - max(attempt_since[1], self.started)).total_seconds()
            if state is State.ASSIGNED:
                assert waited < ACCEPT, f"{task_id}: assigned to {name} {waited}s ago, not accepted, not reclaimed"
            elif blocks.get(name) != task_id:
                assert waited < PROGRESS, f"{task_id}: no progress from {name} for {waited}s, not reclaimed"

    # --- setting the scene -----------------------------------------------------------------

    @initialize(fleet=st.dictionaries(st.sampled_from(NAMES), st.tuples(st.sets(st.sampled_from(CAPS)),
                                                                         st.sampled_from([1, 2, 2])), max_size=3),
                work=st.lists(st.tuples(st.sampled_from(LANES), st.sampled_from([None, 0, 1, 2])), max_size=4),
                busy=st.booleans())
    def start_a_fleet(self, fleet, work, busy):
        """Most runs start with some agents registered and online and some work queued (and,
        when busy, accepted)."""
        for name, (caps, slots) in sorted(fleet.items()):
            self.register(name, caps, slots)
            self.heartbeat(name, False)
        for lane, max_retries in work:
            doc = {"prompt": f"task {len(self.ids)}", "priority": lane}
            if max_retries is not None:
                doc["max_retries"] = max_retries
            self.ids.append(self.hub.call(Batch.submit, doc, "test")["id"])
        if busy:
            self.fleet_runs(1, True)

    # --- operators: tasks ------------------------------------------------------------------

    @rule(data=st.data(), lane=st.sampled_from(LANES),
          needs=st.sampled_from([[], [], ["py"], ["go"], ["py", "go"]]),
          max_retries=st.sampled_from([None, 0, 1, 2]),
          pin=st.sampled_from([None, None, None, *NAMES]),
          depends=st.booleans(), deadline=st.sampled_from([None, None, None, "10m", "3h"]),
          on_deadline=st.sampled_from(["fail", "retry"]))
    def submit(self, data, lane, needs, max_retries, pin, depends, deadline, on_deadline):
        doc = {"prompt": f"task {len(self.ids)}", "priority": lane}
        if needs:
            doc["needs"] = needs
        if max_retries is not None:
            doc["max_retries"] = max_retries
        if pin:
            doc["pin"] = pin
        if depends and self.ids:
            doc["depends_on"] = [data.draw(st.sampled_from(self.ids), label="depends_on")]
        if deadline:
            doc.update(deadline=deadline, on_deadline=on_deadline)
        task = self.hub.call(Batch.submit, doc, "test")
        assert task["id"] not in self.ids
        self.ids.append(task["id"])
        assert self.state(task["id"]) in ("queued", "assigned")

    @precondition(lambda self: self.ids)
    @rule(data=st.data(), action=st.sampled_from(["retry", "cancel"]),
          aim=st.sampled_from(["dead", "cancelled", "done", "queued", "assigned", "working"]))
    def operator(self, data, action, aim):
        """A human retries or cancels a task, picked by its state (so rare states get their turn)."""
        aimed = [t for t in self.ids if self.state(t) == aim]
        task_id = data.draw(st.sampled_from(aimed or self.ids), label="task")
        before = self.state(task_id)
        event(f"{action} a {before} task")
        head = self.hub.store.base
        allowed = before in ("dead", "cancelled") if action == "retry" else before not in ("done", "cancelled")
        try:
            self.hub.call(getattr(Batch, action), task_id, "op")
        except IllegalTransition:
            assert not allowed, f"{action} of a {before} task ({task_id}) was refused"
            assert self.hub.store.base == head
            return
        assert allowed, f"{action} of a {before} task ({task_id}) was allowed"
        after = self.state(task_id)
        assert after in (("queued", "assigned") if action == "retry" else ("cancelled",)), (action, before, after)

    # --- operators: agents -----------------------------------------------------------------

    @rule(name=st.sampled_from(NAMES), caps=st.sets(st.sampled_from(CAPS)), slots=st.integers(1, 2))
    def register(self, name, caps, slots):
        row, created = self.hub.call(Batch.register_agent,
                                     registration({"name": name, "capabilities": sorted(caps), "slots": slots}),
                                     "test")
        assert created is (name not in self.agents)
        assert (row["slots"], row["capabilities"]) == (slots, sorted(caps))
        self.agents.add(name)

    @rule(name=st.sampled_from(NAMES))
    def remove(self, name):
        head = self.hub.store.base
        try:
            self.hub.call(Batch.remove_agent, name, "op")
        except AgentNotFound:
            assert name not in self.agents
            assert self.hub.store.base == head
            return
        assert name in self.agents
        self.agents.discard(name)
        self.down.discard(name)
        self.beat.pop(name, None)
        assert name not in self.hub.view.agents and name not in self.hub.view.held

    @rule(name=st.sampled_from([*NAMES, STRANGER]), say_holding=st.booleans())
    def heartbeat(self, name, say_holding):
        if name not in self.agents:
            try:
                self.hub.heartbeat(name, Heartbeat())
            except AgentNotFound:
                return
            raise AssertionError(f"a heartbeat from unregistered {name} was taken")
        self.down.discard(name)
        holding = tuple((i, a) for n, i, a, _ in self.held() if n == name) if say_holding else ()
        answer = self.beat_agent(name, holding)
        self.tick()
        assert answer["state"] != "offline"
        assert answer["drop"] == [], answer  # the clock did not move: nothing it holds was taken

    @precondition(lambda self: self.agents - self.down)
    @rule(data=st.data())
    def disconnect(self, data):
        """A sidecar dies or loses the network: it just stops heartbeating."""
        self.down.add(data.draw(st.sampled_from(sorted(self.agents - self.down)), label="agent"))

    @rule(seconds=st.one_of(st.integers(1, 300), st.integers(1500, 3600)), busy=st.booleans())
    def fleet_runs(self, seconds, busy):
        """Time passes while every sidecar still up heartbeats (every 60 s: within the grace) and,
        when busy, accepts what it is given and reports progress on each run it is not blocked on."""
        while seconds > 0:
            step = min(60, seconds)
            self.clock.advance(step)
            seconds -= step
            self.tick()  # timers first: one agent's heartbeat must not run a batch before another's lands
            for name in sorted(self.agents - self.down):
                self.beat_agent(name)
            self.tick()
            for name, task_id, attempt, state in self.held() if busy else ():
                if name not in self.down and self.blocks.get(name) != task_id:
                    self.report(name, task_id, make_report("accepted" if state == "assigned" else "progress", attempt))
                    self.sign[task_id] = (attempt, self.clock.now)

    @precondition(lambda self: any(n not in self.down for n, _, _, _ in self.held()))
    @rule(data=st.data(), minutes=st.integers(30, 60),
          then=st.sampled_from(["answered", "blocked-again", "blocked-again", "waits"]))
    def waits_on_a_human(self, data, minutes, then):
        """An agent blocks on a run and waits past the progress timeout for its human (sidecars
        up and busy meanwhile); then the human answers, or it blocks on another run, or waits on."""
        runs = [h for h in self.held() if h[0] not in self.down]
        busiest = max(sum(1 for g in runs if g[0] == h[0]) for h in runs)
        runs = [h for h in runs if sum(1 for g in runs if g[0] == h[0]) == busiest]  # the busiest agents
        name, task_id, attempt, state = data.draw(st.sampled_from(runs), label="run")
        if state == "assigned":
            self.holder_report(name, task_id, attempt, state, "accepted", "")
        self.holder_report(name, task_id, attempt, "working", "blocked", "approve?")
        self.fleet_runs(60 * minutes, True)
        event(f"waited on a human past the progress timeout, then {then}")
        mine = [h for h in self.held() if h[0] == name and h[3] == "working"]
        others = [h for h in mine if h[1] != task_id]
        if then == "blocked-again" and others:
            event("blocked on another run after a long wait")
            _, other, other_attempt, _ = data.draw(st.sampled_from(others), label="other run")
            self.holder_report(name, other, other_attempt, "working", "blocked", "and this one?")
        elif then == "answered" and any(h[1:3] == (task_id, attempt) for h in mine):  # not reclaimed meanwhile
            self.holder_report(name, task_id, attempt, "working", "progress", "")

    # --- agents' reports -------------------------------------------------------------------

    @precondition(lambda self: self.held())
    @rule(data=st.data(), kind=st.sampled_from(REPORT_KINDS), note=st.sampled_from(["need a key", "approve?"]))
    def holder_reports(self, data, kind, note):
        """Any report from the agent that holds the task, quoting the attempt it was given."""
        name, task_id, attempt, state = data.draw(st.sampled_from(self.held()), label="held")
        self.holder_report(name, task_id, attempt, state, kind, note)

    def holder_report(self, name, task_id, attempt, state, kind, note):
        task = self.hub.show(task_id)["task"]
        was = self.hub.view.agents[name]
        head = self.hub.store.base
        r = make_report(kind, attempt, note)
        event(f"holder reports {kind} on {state}")
        if state == "assigned" and kind in ("progress", "blocked", "done"):
            try:
                self.report(name, task_id, r)
            except IllegalTransition:
                assert self.hub.store.base == head
                assert self.state(task_id) == "assigned"
                return
            raise AssertionError(f"'{kind}' before 'accepted' was taken for {task_id}")
        answer = self.report(name, task_id, r)
        after, agent = self.state(task_id), self.hub.view.agents[name]
        assert answer["state"] == after and answer["attempt"] == attempt
        if kind in ("accepted", "progress", "blocked") and not answer["duplicate"]:
            self.sign[task_id] = (attempt, self.clock.now)  # the task's progress clock restarts
        if kind == "accepted":
            assert after == "working"
            assert answer["duplicate"] is (state == "working")
            if state == "working":
                assert self.hub.store.base == head
        elif kind == "progress":
            assert after == "working" and not answer["duplicate"]
            if was.state is AgentState.BLOCKED and was.blocked_on == task_id:
                assert agent.state is AgentState.WORKING and agent.blocked_on is None, "progress ends the block"
            else:
                assert agent == was and self.hub.store.base == head, "progress is not a transition"
        elif kind == "blocked":
            assert after == "working" and agent.state is AgentState.BLOCKED
            assert agent.blocked_on == task_id and agent.reason == f"blocked on {task_id}: {note}"
            if was == agent:
                assert self.hub.store.base == head, "a repeated block changes nothing"
        elif kind == "done":
            assert after == "done"
            assert self.hub.show(task_id)["task"]["outcome"]["kind"] == "done"
        else:
            spent = attempt - int(task.get("attempt_base", 0))
            dead = kind == "failed-permanent" or spent > int(task["max_retries"])
            assert after == ("dead" if dead else "queued"), \
                f"{task_id}: '{kind}' on attempt {spent} of 1 + {task['max_retries']} left it {after}"
            ended = self.hub.show(task_id)["task"]["outcome"]
            assert (ended["agent"], ended["attempt"], ended["kind"]) == (name, attempt, "failed")
        if after != "working":
            assert agent.blocked_on != task_id, "a block ends with its task"

    @precondition(lambda self: self.held())
    @rule(data=st.data(), plan=st.lists(st.sampled_from(["progress", "blocked", "blocked", "done", "done", "failed",
                                                          "failed-permanent"]), min_size=1, max_size=3))
    def agent_works(self, data, plan):
        """What a sidecar normally does: accept an assignment, then report on the run until it ends."""
        name, task_id, attempt, state = data.draw(st.sampled_from(self.held()), label="held")
        if state == "assigned":
            self.holder_report(name, task_id, attempt, state, "accepted", "")
        for kind in plan:
            self.holder_report(name, task_id, attempt, "working", kind, "need a key")
            if kind == "blocked" or self.state(task_id) != "working":
                break  # a blocked sidecar waits for its human

    @precondition(lambda self: self.held())
    @rule(data=st.data(), kind=st.sampled_from(["accepted", "done", "failed", "failed-permanent"]))
    def duplicate_report(self, data, kind):
        name, task_id, attempt, state = data.draw(st.sampled_from(self.held()), label="held")
        r = make_report(kind, attempt)
        try:
            first = self.report(name, task_id, r)
        except IllegalTransition:
            assert state == "assigned" and kind == "done", f"'{kind}' on a {state} task was refused"
            first = None
        else:
            if kind == "accepted" and not first["duplicate"]:
                self.sign[task_id] = (attempt, self.clock.now)
        head = self.hub.store.base
        try:
            second = self.report(name, task_id, r)
        except REFUSED as e:
            assert first is None, f"the second '{kind}' was refused although the first was taken: {e}"
        else:
            assert first is not None, f"'{kind}' was refused once, then taken: {second}"
            assert second["duplicate"] is True, f"the second '{kind}' was not a duplicate: {first} then {second}"
            assert second["state"] == first["state"]
        assert self.hub.store.base == head, "a duplicate report moved main"

    @precondition(lambda self: self.ended)
    @rule(data=st.data(), kind=st.sampled_from(REPORT_KINDS))
    def zombie_reports(self, data, kind):
        """A run whose attempt is over (reclaimed, failed, cancelled, done) still reports, most
        often while a newer attempt of its task runs: it is refused, or taken as a duplicate of
        how that attempt ended, and changes nothing."""
        running = {t for _, t, _, _ in self.held()}
        rerun = [e for e in self.ended if e[1] in running]  # the dangerous case: the task runs again
        name, task_id, attempt = data.draw(st.sampled_from(rerun or self.ended), label="ended attempt")
        self.refused_or_duplicate(name, task_id, make_report(kind, attempt), "zombie")

    @precondition(lambda self: self.ids)
    @rule(data=st.data(), how=st.sampled_from(["old_attempt", "wrong_agent", "not_held", "no_task", "stranger"]),
          kind=st.sampled_from(REPORT_KINDS))
    def stale_report(self, data, how, kind):
        held = self.held()
        if how == "old_attempt" and held:
            name, task_id, attempt, _ = data.draw(st.sampled_from(held), label="held")
            other = data.draw(st.sampled_from([a for a in (attempt - 1, attempt + 1, attempt + 5) if a >= 1]),
                              label="attempt")
            self.refused_or_duplicate(name, task_id, make_report(kind, other), how)
        elif how == "wrong_agent" and held:
            name, task_id, attempt, _ = data.draw(st.sampled_from(held), label="held")
            other = data.draw(st.sampled_from([n for n in (*NAMES, STRANGER) if n != name]), label="agent")
            self.refused_or_duplicate(other, task_id, make_report(kind, attempt), how)
        elif how == "no_task":
            name = data.draw(st.sampled_from([*NAMES, STRANGER]), label="agent")
            self.refused_or_duplicate(name, "no-such-task", make_report(kind, 1), how)
        elif how == "stranger":
            task_id = data.draw(st.sampled_from(self.ids), label="task")
            attempt = max(1, int(self.hub.show(task_id)["task"].get("attempt", 0)))
            self.refused_or_duplicate(STRANGER, task_id, make_report(kind, attempt), how)
        else:
            free = [i for i in self.ids if self.hub.view.get(i).loc.state not in PER_AGENT]
            if not free:
                return
            task_id = data.draw(st.sampled_from(free), label="task")
            name = data.draw(st.sampled_from(NAMES), label="agent")
            attempt = max(1, int(self.hub.show(task_id)["task"].get("attempt", 0)))
            attempt = data.draw(st.sampled_from([attempt, attempt + 1]), label="attempt")
            self.refused_or_duplicate(name, task_id, make_report(kind, attempt), "not_held")

    # --- time ------------------------------------------------------------------------------

    @rule(seconds=st.one_of(st.integers(1, 60),                     # small
                            st.integers(2 * 60, 40 * 60),           # medium
                            st.integers(3600, 3 * 86400),           # large
                            st.sampled_from([GRACE, ACCEPT, PROGRESS])))  # exactly a limit
    def advance(self, seconds):
        wake, head = self.hub.wake_in(), self.hub.store.base
        assert wake is None or wake > 0, f"the hub wants to wake at once ({wake}): something is left overdue"
        self.clock.advance(seconds)
        self.tick()
        if wake is None or seconds < wake:
            assert self.hub.store.base == head, f"main moved {seconds}s on, before the hub's wake-up ({wake}s)"

    @precondition(lambda self: self.beat or self.sign)
    @rule(data=st.data(), past=st.sampled_from([0, 1]))
    def clock_to_a_limit(self, data, past):
        """Move the clock to exactly when (or a second after) an agent's grace or a held task's
        accept or progress limit runs out, as the model counts it; the hub must agree to the second."""
        def start(last):
            return max(last, self.started)

        limits = [start(last) + timedelta(seconds=GRACE) for last in self.beat.values()]
        limits += [start(since) + timedelta(seconds=ACCEPT if self.state(t) == "assigned" else PROGRESS)
                   for t, (_, since) in self.sign.items()]
        later = sorted({t for t in limits if t > self.clock.now})
        if later:
            self.clock.now = data.draw(st.sampled_from(later), label="limit") + timedelta(seconds=past)
            self.tick()

    @rule(minutes=st.integers(1, 5))
    def clock_jumps_back(self, minutes):
        head = self.hub.store.base
        self.clock.advance(-60 * minutes)
        self.tick()
        assert self.hub.store.base == head, "a clock jumping back only delays what is due"

    # --- the coordinator -------------------------------------------------------------------

    @rule(unpublished=st.booleans())
    def crash_and_restart(self, unpublished):
        """Die without close(); a change staged but never published was never acknowledged."""
        if unpublished:
            def work(batch):
                batch.submit({"prompt": "never acknowledged"}, "test")
                for name, task_id, attempt, state in self.held()[:1]:
                    batch.report(name, task_id, make_report("done" if state == "working" else "failed", attempt))
            stage_then_die(self.hub, work)
        self.hub.lock.release()
        self.hub.git.close()
        self.hub = self._new_hub()

    @rule()
    def clean_restart(self):
        self.hub.close()
        self.hub = self._new_hub()

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def main_is_published_and_the_view_is_main(self):
        assert self.hub.store.staged == 0
        assert self.hub.store.base == self.hub.git.head()
        tasks, agents = self.main()
        assert {t: r.loc for t, r in self.hub.view.tasks.items()} == {t: locs[0] for t, locs in tasks.items()}
        assert self.hub.view.agents == agents

    @invariant()
    def every_task_is_in_exactly_one_state_and_none_is_lost(self):
        tasks, _ = self.main()
        twice = {t: [loc.path for loc in locs] for t, locs in tasks.items() if len(locs) != 1}
        assert not twice, f"tasks in more than one place: {twice}"
        assert sorted(tasks) == sorted(self.ids), \
            f"lost: {sorted(set(self.ids) - set(tasks))}; never acknowledged: {sorted(set(tasks) - set(self.ids))}"

    @invariant()
    def at_most_one_live_assignment_per_task(self):
        tasks, _ = self.main()
        live = {}
        for task_id, locs in tasks.items():
            for loc in locs:
                if loc.state in PER_AGENT:
                    assert task_id not in live, f"{task_id} held by {live[task_id]} and {loc.agent}"
                    live[task_id] = loc.agent
        from_view = {t: r.loc.agent for held in self.hub.view.held.values() for t, r in held.items()}
        assert from_view == live
        for name, held in self.hub.view.held.items():
            assert all(r.loc.agent == name for r in held.values())

    @invariant()
    def attempts_never_exceed_the_retry_budget(self):
        for task_id in self.ids:
            shown = self.hub.show(task_id)
            task = shown["task"]
            assert task["state"] == shown["state"], (task_id, task["state"], shown["path"])
            event(f"a task was {shown['state']}")
            if task.get("outcome"):
                event(f"an attempt ended: {task['outcome']['kind']}")
            attempt, base = int(task.get("attempt", 0)), int(task.get("attempt_base", 0))
            assert 0 <= base <= attempt
            assert attempt - base <= 1 + int(task["max_retries"]), \
                f"{task_id}: attempt {attempt} (base {base}) exceeds 1 + max_retries {task['max_retries']}"

    @invariant()
    def git_history_agrees_with_the_state(self):
        history = self.transitions()
        for task_id in self.ids:
            steps = history.get(task_id)
            assert steps, f"{task_id} has no transitions in git"
            record = self.hub.view.get(task_id)
            assert steps[-1].to_state == record.loc.state.label, \
                f"{task_id}: newest transition says {steps[-1].to_state}, the task is {record.loc.state.label}"
            if record.loc.state in PER_AGENT:
                assert steps[-1].agent == record.loc.agent
            attempts = [t.attempt for t in steps]
            assert attempts == sorted(attempts), f"{task_id}: attempts went down in history: {attempts}"
            for before, after in zip(steps, steps[1:], strict=False):
                assert after.from_state == before.to_state, (task_id, before, after)
        head = self.hub.git.head()
        if self.ids and head != self.history_checked_at:  # hub.history() reads the same, one task per commit
            self.history_checked_at = head
            task_id = self.ids[self.checked % len(self.ids)]
            self.checked += 1
            assert [(h["from"], h["to"], h["attempt"]) for h in self.hub.history(task_id)] == \
                [(t.from_state, t.to_state, t.attempt) for t in history[task_id]]

    @invariant()
    def agents_files_agree_with_what_they_hold(self):
        tasks, agents = self.main()
        assert set(agents) == self.agents
        holds: dict[str, dict[str, State]] = {}
        for task_id, locs in tasks.items():
            for loc in locs:
                if loc.state in PER_AGENT:
                    holds.setdefault(loc.agent, {})[task_id] = loc.state
        unregistered = {n: sorted(h) for n, h in holds.items() if n not in agents}
        assert not unregistered, f"tasks held by unregistered agents: {unregistered}"
        for name, agent in agents.items():
            mine = holds.get(name, {})
            states = set(mine.values())
            if State.WORKING in states:
                ok = {AgentState.WORKING, AgentState.BLOCKED}
            elif states:
                ok = {AgentState.ASSIGNED}
            else:
                ok = {AgentState.IDLE, AgentState.OFFLINE}
            assert agent.state in ok, f"agent {name} is {agent.state.value} holding {mine}"
            if agent.state is AgentState.BLOCKED:
                assert mine.get(agent.blocked_on) is State.WORKING, \
                    f"agent {name} is blocked on {agent.blocked_on}, which it does not run: {mine}"
            else:
                assert agent.blocked_on is None, (name, agent)
            if len(mine) > agent.slots:  # slots lowered while it held more: it may keep, never gain
                assert set(mine) <= self.prev_held.get(name, set()), \
                    f"agent {name} was given work beyond its {agent.slots} slots: {sorted(mine)}"
        self.prev_held = {n: set(h) for n, h in holds.items()}

    @invariant()
    def nothing_is_reclaimed_or_taken_offline_early_or_late(self):
        self.observe()


FleetMachine.TestCase.settings = settings(stateful_step_count=30, deadline=None)
TestFleetMachine = FleetMachine.TestCase
# a pass takes ~20 s; a failure may shrink for up to 5 minutes (Hypothesis' own cap) and should
# end in its falsifying example, not in the suite's 120 s timeout
TestFleetMachine.pytestmark = [pytest.mark.timeout(600)]
