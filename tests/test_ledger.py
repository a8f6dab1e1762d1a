"""The ledger and the state's health conditions, as pure functions of what they are given."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from coordinator.core.agent import Agent, AgentState
from coordinator.core.layout import State, location
from coordinator.core.ledger import LATENCY_BUCKETS, Ledger
from coordinator.core.snapshot import health
from coordinator.core.view import Record, View
from coordinator.wire.times import format_time

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def task(task_id="t1", **fields):
    return {"id": task_id, "title": task_id, "queued_at": format_time(T0), "tokens_used": 0, **fields}


def test_one_attempt_s_moves_count_latency_failure_retry_and_tokens_once_each():
    led = Ledger(started=T0)
    led.observe(task(), task(agent="ada"), State.QUEUED, State.ASSIGNED, T0 + timedelta(seconds=3))
    failed = task(tokens_used=120, outcome={"agent": "ada", "kind": "agent_vanished"})
    led.observe(task(agent="ada"), failed, State.WORKING, State.QUEUED, T0 + timedelta(seconds=60))
    done = task(tokens_used=400, outcome={"agent": "bob", "kind": "done"},
                result={"pr_url": "https://example.com/pr/1", "model": "m1"}, finished_at=format_time(T0))
    led.observe(failed, done, State.WORKING, State.DONE, T0 + timedelta(seconds=90))
    assert led.assignments == 1 and led.latency_sum == 3.0
    assert led.latency_counts[LATENCY_BUCKETS.index(5.0)] == 1
    assert dict(led.failures) == {"agent_vanished": 1} and dict(led.retries) == {"automatic": 1}
    assert dict(led.tokens_by_agent) == {"ada": 120, "bob": 280}
    assert dict(led.tokens_by_model) == {"unknown": 120, "m1": 280}
    assert [c["pr_url"] for c in led.completions] == ["https://example.com/pr/1"]
    assert dict(led.finished) == {"done": 1}


def test_assignment_latency_counts_from_when_the_task_could_run_not_from_its_queueing():
    led = Ledger(started=T0)
    later = format_time(T0 + timedelta(seconds=600))
    for held in ({"not_before": later}, {"retry_at": later}):
        led.observe(task(**held), task(agent="ada", **held), State.QUEUED, State.ASSIGNED,
                    T0 + timedelta(seconds=602))
    assert led.assignments == 2 and led.latency_sum == 4.0


def test_a_human_retry_is_counted_apart_from_automatic_ones():
    led = Ledger(started=T0)
    led.observe(task(), task(), State.DEAD, State.QUEUED, T0)
    led.observe(task(), task(), State.CANCELLED, State.QUEUED, T0)
    assert dict(led.retries) == {"human": 2} and not led.failures


@given(st.lists(st.tuples(st.integers(0, 47 * 3600), st.sampled_from(["ada", "bob"]), st.integers(1, 10**6)),
                max_size=60))
def test_the_hourly_series_holds_every_token_of_the_last_24_hours_and_no_other(events):
    led = Ledger(started=T0)
    now = T0 + timedelta(hours=48)
    for offset, agent, n in sorted(events):
        before, after = task(tokens_used=0), task(tokens_used=n, outcome={"agent": agent})
        led.observe(before, after, State.WORKING, State.QUEUED, T0 + timedelta(seconds=offset))
    series = led.series(now)
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    assert len(series) == 24 and series[0]["hour"] == format_time(first)
    assert sum(s["total"] for s in series) == sum(n for o, _, n in events if T0 + timedelta(seconds=o) >= first)
    assert all(s["total"] == sum(s["by_agent"].values()) for s in series)


def _held(view, task_id, agent):
    view.put(Record(location(State.WORKING, task_id, agent=agent), None, task(task_id, agent=agent, attempt=1)))


def test_health_names_an_offline_agent_holding_work_an_unknown_holder_and_a_config_error():
    view = View()
    view.put_agent(Agent("ada", state=AgentState.OFFLINE, reason="no heartbeat for 95s (grace 90s)"), "ada")
    _held(view, "t1", "ada")
    _held(view, "t2", "gone")
    found = health(view, "agentcom.yaml: retry.max_retries: -1 is below 0")
    assert [(c["kind"], c["subject"]) for c in found] == [
        ("config_error", "agentcom.yaml"), ("agent_offline_holding", "ada"), ("agent_offline_holding", "gone")]
    assert "is offline (no heartbeat for 95s (grace 90s)) while holding t1" in found[1]["reason"]
    assert "t2 held by gone, which is not registered" in found[2]["reason"]
    assert "push a fixed file" in found[0]["reason"]


def test_a_healthy_fleet_has_no_conditions():
    view = View()
    view.put_agent(Agent("ada", state=AgentState.WORKING), "ada")
    _held(view, "t1", "ada")
    view.put(Record(location(State.QUEUED, "t2", lane="normal"), None, task("t2", pin="ada", depends_on=["t1"])))
    assert health(view, None) == []


_lanes = st.sampled_from(["urgent", "high", "normal", "low"])
_moves = st.lists(st.tuples(st.integers(0, 7), st.sampled_from(["queued", "working", "dead", "undo"]), _lanes,
                            st.integers(0, 3), st.booleans()), max_size=60)


@given(_moves)
def test_the_view_s_queue_order_and_waiting_index_match_a_walk_of_the_queue(moves):
    view, undo = View(), []
    for n, (i, where, lane, minute, pinned) in enumerate(moves):
        task_id = f"t{i}"
        if where == "undo":
            if undo:
                view.restore(*undo.pop())
            continue
        doc = task(task_id, queued_at=format_time(T0 + timedelta(minutes=minute)), **({"pin": "ada"} if pinned else {}))
        loc = {"queued": location(State.QUEUED, task_id, lane=lane),
               "working": location(State.WORKING, task_id, agent="ada"), "dead": location(State.DEAD, task_id)}[where]
        undo.append((task_id, view.put(Record(loc, n, doc))))
    for lane in ("urgent", "high", "normal", "low"):
        walked = sorted((r.task["queued_at"], r.loc.task_id) for r in view.queued.values() if r.loc.lane == lane)
        assert view.lanes[lane] == walked
        assert [r.loc.task_id for r in view.first_queued(lane, 2)] == [i for _, i in walked[:2]]
    assert set(view.waiting) == {i for i, r in view.queued.items() if "pin" in r.task}
    assert set(view.dead) == {i for i, r in view.tasks.items() if r.loc.state is State.DEAD}


def test_a_batch_that_loses_a_race_to_a_push_is_counted_once_and_the_state_follows_the_push(repo, clone):
    from coordinator.hub.batch import Batch
    from coordinator.hub.hub import Hub
    from tests.support.gitenv import git

    h = Hub(repo, fleet=False)
    try:
        h.call(Batch.submit, {"prompt": "mine", "id": "mine"}, "test")
        before = h.state_version()
        git(clone, "pull", "-q")
        (clone / "inbox" / "theirs.yaml").write_text("prompt: theirs\n")
        git(clone, "add", "-A")
        git(clone, "commit", "-q", "-m", "theirs")
        runs = []

        def cancel_then_retry_while_a_push_lands(batch):
            batch.cancel("mine", "op")
            task = batch.retry("mine", "op", lane="high")  # staged on the old main...
            if not runs:
                git(clone, "push", "-q")               # ...which a push moves before the hub publishes
            runs.append(task["state"])
            return task

        h.call(cancel_then_retry_while_a_push_lands)
        assert len(runs) == 2  # lost the race once, then redone on top of the push
        assert dict(h.ledger.retries) == {"human": 1} and dict(h.ledger.finished) == {"cancelled": 1}
        s = h.state()
        assert h.state_version() != before and s["lanes"] == {"urgent": 0, "high": 1, "normal": 1, "low": 0}
        assert s["head"] == git(repo, "rev-parse", "main").stdout.strip()
    finally:
        h.close()


@given(_moves, st.lists(st.sampled_from(["ada", "bob", "ghost"]), max_size=3, unique=True))
def test_every_snapshot_of_a_random_view_matches_the_openapi_description(moves, agents):
    from coordinator.core.snapshot import snapshot
    from tests.support.openapi import STATE

    view = View()
    for name in agents:
        view.put_agent(Agent(name, state=AgentState.IDLE if name != "bob" else AgentState.BLOCKED,
                             reason="why", since=format_time(T0)), name)
    led = Ledger(started=T0)
    for n, (i, where, lane, minute, pinned) in enumerate(moves):
        if where == "undo":
            continue
        task_id = f"t{i}"
        doc = task(task_id, queued_at=format_time(T0 + timedelta(minutes=minute)), priority=lane, attempt=1,
                   **({"pin": "ghost", "depends_on": [f"t{(i + 1) % 8}"]} if pinned else {}))
        loc = {"queued": location(State.QUEUED, task_id, lane=lane),
               "working": location(State.WORKING, task_id, agent=agents[0] if agents else "gone"),
               "dead": location(State.DEAD, task_id)}[where]
        old = view.get(task_id)
        view.put(Record(loc, n, doc))
        led.observe(old.task if old else task(task_id), {**doc, "tokens_used": minute * 10,
                    "outcome": {"agent": "ada", "kind": "failed"}}, old.loc.state if old else State.QUEUED,
                    loc.state, T0 + timedelta(minutes=minute))
    rows = [{"name": n, "state": a.state.value, "since": a.since, "reason": a.reason, "capabilities": [],
             "slots": 1, "description": "", "tasks": sorted(view.held.get(n, {})), "last_heartbeat": None,
             "last_assigned_at": None, "registered_at": None} for n, a in sorted(view.agents.items())]
    doc = snapshot(view, led, rows, {}, now=T0 + timedelta(hours=1), head="0" * 40, config_error=None)
    STATE.validate({"version": "x", **doc})
    assert doc["counts"]["queued"] == sum(doc["lanes"].values()) == len(view.queued)
