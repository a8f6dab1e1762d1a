"""Agents, scheduling and failure handling, one rule per test: a real hub on a real repo, in this
process, with a clock the test moves."""
from __future__ import annotations

import random
from datetime import datetime

import pytest

from coordinator.core.agent import AgentState, registration
from coordinator.core.layout import State
from coordinator.core.trailers import parse
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from coordinator.wire.errors import AgentNotFound, IllegalTransition, StaleReport
from coordinator.wire.protocol import Heartbeat, parse_report
from tests.support.clock import Clock
from tests.support.gitenv import git


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def hub(repo, clock):
    h = Hub(repo, clock=clock, rng=random.Random(7))
    yield h
    h.close()


def add(hub, name, capabilities=(), slots=1):
    hub.call(Batch.register_agent, registration({"name": name, "capabilities": list(capabilities),
                                               "slots": slots}), "test")


def beat(hub, name, holding=()):
    """A heartbeat, then the batch the hub's loop would run once a timer falls due."""
    hub.heartbeat(name, Heartbeat(holding=tuple(holding)))
    tick(hub)
    return hub.assignments(name, tuple(holding))


def report(hub, name, task_id, kind, attempt, **fields):
    return hub.call(Batch.report, name, task_id, parse_report({"kind": kind, "attempt": attempt, **fields}))


def tick(hub):
    """One batch with nothing to do: what the loop runs when a timer falls due."""
    hub.call(lambda batch: None)


def where(hub, task_id):
    record = hub.view.get(task_id)
    return record.loc.state, record.loc.agent, hub.load_task(record)


def submit(hub, prompt="do it", **fields):
    return hub.call(Batch.submit, {"prompt": prompt, **fields}, "test")["id"]


def agent_state(hub, name):
    return hub.view.agents[name].state


def test_an_idle_agent_gets_queued_work_and_git_records_both_moves(hub, repo):
    add(hub, "ada")
    task_id = submit(hub)
    assert where(hub, task_id)[0] is State.QUEUED  # ada has not heartbeated: offline
    answer = beat(hub, "ada")
    assert [(a["id"], a["attempt"], a["state"]) for a in answer["assignments"]] == [(task_id, 1, "assigned")]
    assert agent_state(hub, "ada") is AgentState.ASSIGNED
    body = git(repo, "log", "-1", "--format=%B").stdout
    assert parse(body).to_state == "assigned" and "Agent-State: ada idle → assigned" in body
    assert f"assigned/ada/{task_id}.yaml" in git(repo, "ls-tree", "-r", "--name-only", "main").stdout
    assert "state: assigned" in git(repo, "show", "main:agents/ada.yaml").stdout


def test_asking_again_gives_the_same_assignment(hub):
    add(hub, "ada")
    task_id = submit(hub)
    first = beat(hub, "ada")
    head = hub.store.base
    assert beat(hub, "ada") == first == hub.assignments("ada")
    assert hub.store.base == head
    assert first["assignments"][0]["id"] == task_id


def test_accept_then_done_finishes_the_task_and_a_duplicate_is_accepted_once(hub):
    add(hub, "ada")
    task_id = submit(hub)
    beat(hub, "ada")
    assert report(hub, "ada", task_id, "accepted", 1)["state"] == "working"
    assert report(hub, "ada", task_id, "accepted", 1)["duplicate"] is True
    done = report(hub, "ada", task_id, "done", 1, summary="did it\nin detail", pr_url="https://x/pr/1",
                  tokens={"input": 100, "output": 20})
    assert done == {"id": task_id, "state": "done", "duplicate": False, "attempt": 1}
    head = hub.store.base
    again = report(hub, "ada", task_id, "done", 1, summary="did it")
    assert again["duplicate"] is True and hub.store.base == head
    state, _, task = where(hub, task_id)
    assert state is State.DONE
    assert task["result"] == {"summary": "did it\nin detail", "pr_url": "https://x/pr/1",
                              "tokens": {"input": 100, "output": 20}}
    assert task["tokens_used"] == 120 and task["outcome"]["kind"] == "done"
    assert agent_state(hub, "ada") is AgentState.IDLE
    assert [h["to"] for h in hub.history(task_id)] == ["queued", "assigned", "working", "done"]


def test_a_stale_or_foreign_report_is_refused_and_changes_nothing(hub):
    add(hub, "ada")
    add(hub, "bob")
    task_id = submit(hub)
    beat(hub, "ada")
    head = hub.store.base
    with pytest.raises(StaleReport, match="held by ada"):
        report(hub, "bob", task_id, "done", 1, summary="not mine")
    with pytest.raises(StaleReport, match="attempt 7 was never handed out"):
        report(hub, "ada", task_id, "accepted", 7)
    with pytest.raises(IllegalTransition, match="send 'accepted' first"):
        report(hub, "ada", task_id, "done", 1)
    assert hub.store.base == head
    assert where(hub, task_id)[:2] == (State.ASSIGNED, "ada")


def test_an_assignment_not_accepted_in_time_is_reclaimed_counted_and_retried_after_a_backoff(hub, clock):
    add(hub, "ada")
    task_id = submit(hub)
    beat(hub, "ada")
    clock.advance(119)
    beat(hub, "ada")
    assert where(hub, task_id)[0] is State.ASSIGNED
    clock.advance(2)
    beat(hub, "ada")  # the heartbeat's batch sweeps: 121 s > accept timeout 120 s
    state, agent, task = where(hub, task_id)
    assert (state, agent, task["attempt"]) == (State.QUEUED, None, 1)
    assert "not accepted within 120s" in task["last_error"] and task["outcome"]["kind"] == "accept_timeout"
    wait = (datetime.fromisoformat(task["retry_at"].replace("Z", "+00:00")) - clock.now).total_seconds()
    assert 15 <= wait <= 30  # equal jitter around backoff_base 30 s
    assert beat(hub, "ada")["assignments"] == []  # not before the backoff is over
    clock.advance(wait + 1)
    again = beat(hub, "ada")["assignments"]
    assert [(a["id"], a["attempt"]) for a in again] == [(task_id, 2)]
    with pytest.raises(StaleReport):
        report(hub, "ada", task_id, "accepted", 1)  # the reclaimed attempt cannot come back


def test_a_run_without_progress_is_reclaimed_and_progress_keeps_it(hub, clock):
    add(hub, "ada")
    task_id = submit(hub)
    beat(hub, "ada")
    report(hub, "ada", task_id, "accepted", 1)
    for _ in range(3):
        clock.advance(60 * 20)
        beat(hub, "ada")
        report(hub, "ada", task_id, "progress", 1, note="halfway")
    assert where(hub, task_id)[0] is State.WORKING
    head = hub.store.base
    report(hub, "ada", task_id, "progress", 1)
    assert hub.store.base == head  # progress is not a transition: no commit
    clock.advance(60 * 31)
    beat(hub, "ada")
    state, _, task = where(hub, task_id)
    assert state is State.QUEUED and task["outcome"]["kind"] == "progress_timeout"


def test_a_silent_agent_goes_offline_after_the_grace_and_its_task_is_reclaimed(hub, clock):
    add(hub, "ada")
    task_id = submit(hub)
    beat(hub, "ada")
    report(hub, "ada", task_id, "accepted", 1)
    clock.advance(80)
    tick(hub)
    assert agent_state(hub, "ada") is AgentState.WORKING  # a short silence is forgiven
    clock.advance(20)
    tick(hub)
    assert agent_state(hub, "ada") is AgentState.OFFLINE
    state, _, task = where(hub, task_id)
    assert state is State.QUEUED and task["attempt"] == 1 and "ada is offline" in task["last_error"]
    answer = beat(hub, "ada", holding=[(task_id, 1)])  # it comes back, still thinking it holds the task
    assert answer["state"] == "idle"
    assert answer["drop"] == [{"id": task_id, "attempt": 1,
                               "why": "the task is queued (attempt 1 ended: agent_vanished)"}]


def test_a_permanent_failure_goes_straight_to_the_dead_letter(hub):
    add(hub, "ada")
    task_id = submit(hub)
    beat(hub, "ada")
    report(hub, "ada", task_id, "failed", 1, reason="the repo does not exist", permanent=True)
    state, _, task = where(hub, task_id)
    assert state is State.DEAD and task["attempt"] == 1
    assert "the repo does not exist" in task["last_error"]
    assert agent_state(hub, "ada") is AgentState.IDLE


def test_transient_failures_retry_with_growing_backoff_until_the_cap_then_dead(hub, clock):
    add(hub, "ada")
    task_id = submit(hub, max_retries=2)
    waits = []
    for attempt in (1, 2, 3):
        answer = beat(hub, "ada")
        assert [(a["id"], a["attempt"]) for a in answer["assignments"]] == [(task_id, attempt)]
        report(hub, "ada", task_id, "accepted", attempt)
        report(hub, "ada", task_id, "failed", attempt, reason=f"crash {attempt}")
        state, _, task = where(hub, task_id)
        if attempt < 3:
            assert state is State.QUEUED
            wait = (datetime.fromisoformat(task["retry_at"].replace("Z", "+00:00")) - clock.now).total_seconds()
            waits.append(wait)
            clock.advance(wait + 1)
    assert state is State.DEAD and task["attempt"] == 3 and task["last_error"].endswith("crash 3")
    assert 15 <= waits[0] <= 30 and 30 <= waits[1] <= 60
    assert [h["to"] for h in hub.history(task_id)] == ["queued"] + ["assigned", "working", "queued"] * 2 + \
        ["assigned", "working", "dead"]


def test_a_human_retry_of_a_dead_task_gives_a_fresh_budget_and_keeps_the_attempt_counting_up(hub):
    add(hub, "ada")
    task_id = submit(hub, max_retries=0)
    beat(hub, "ada")
    report(hub, "ada", task_id, "failed", 1, reason="flaky")
    assert where(hub, task_id)[0] is State.DEAD
    hub.call(Batch.retry, task_id, "operator")
    answer = beat(hub, "ada")
    assert [(a["id"], a["attempt"]) for a in answer["assignments"]] == [(task_id, 2)]
    assert where(hub, task_id)[2]["attempt_base"] == 1


def test_cancelling_a_running_task_stops_its_reports(hub):
    add(hub, "ada")
    task_id = submit(hub)
    beat(hub, "ada")
    report(hub, "ada", task_id, "accepted", 1)
    hub.call(Batch.cancel, task_id, "operator")
    with pytest.raises(StaleReport, match="cancelled"):
        report(hub, "ada", task_id, "done", 1, summary="too late")
    assert beat(hub, "ada", holding=[(task_id, 1)])["drop"][0]["id"] == task_id
    assert agent_state(hub, "ada") is AgentState.IDLE


@pytest.mark.parametrize("policy, final", [("fail", State.DEAD), ("retry", State.QUEUED)])
def test_a_running_task_past_its_deadline_is_failed_or_retried_as_its_policy_says(hub, clock, policy, final):
    add(hub, "ada")
    task_id = submit(hub, deadline="10m", on_deadline=policy)
    beat(hub, "ada")
    report(hub, "ada", task_id, "accepted", 1)
    clock.advance(5 * 60)
    beat(hub, "ada")
    report(hub, "ada", task_id, "progress", 1)
    clock.advance(5 * 60 + 1)
    beat(hub, "ada")
    state, _, task = where(hub, task_id)
    assert state is final and "deadline passed" in task["last_error"]
    assert ("deadline" in task) is (policy == "fail")  # retry spends the deadline


def test_queued_work_is_never_expired_by_age(hub, clock):
    task_id = submit(hub)
    for _ in range(30):
        clock.advance(86400)
        tick(hub)
    assert where(hub, task_id)[0] is State.QUEUED


def test_a_blocked_agent_keeps_its_task_past_the_progress_timeout_until_it_resumes(hub, clock):
    add(hub, "ada")
    task_id = submit(hub)
    beat(hub, "ada")
    report(hub, "ada", task_id, "accepted", 1)
    report(hub, "ada", task_id, "blocked", 1, note="waiting for a human to approve a migration")
    assert agent_state(hub, "ada") is AgentState.BLOCKED
    assert hub.view.agents["ada"].reason.endswith("approve a migration")
    for _ in range(4):
        clock.advance(60 * 20)
        beat(hub, "ada")
    assert where(hub, task_id)[0] is State.WORKING
    report(hub, "ada", task_id, "progress", 1, note="approved")
    assert agent_state(hub, "ada") is AgentState.WORKING


def test_a_block_ends_with_the_task_it_was_on(hub, clock):
    add(hub, "ada", slots=2)
    first, second = submit(hub, id="first"), submit(hub, id="second")
    beat(hub, "ada")
    for task_id in (first, second):
        report(hub, "ada", task_id, "accepted", 1)
    report(hub, "ada", first, "blocked", 1, note="which database?")
    report(hub, "ada", second, "progress", 1)  # progress on another task does not unblock
    assert (agent_state(hub, "ada"), hub.view.agents["ada"].blocked_on) == (AgentState.BLOCKED, first)
    report(hub, "ada", first, "done", 1, summary="asked and answered")
    assert (agent_state(hub, "ada"), hub.view.agents["ada"].blocked_on) == (AgentState.WORKING, None)
    clock.advance(60 * 31)  # second's progress clock never stopped
    hub.heartbeat("ada", Heartbeat())
    tick(hub)
    assert where(hub, second)[0] is State.QUEUED


def test_a_ready_task_nobody_can_take_does_not_wake_the_loop(hub, clock):
    add(hub, "ada", ["python"])
    beat(hub, "ada")
    submit(hub, needs=["go"], not_before="1s")
    assert 0.9 <= hub.wake_in() <= 1.0  # the not-before time
    clock.advance(2)
    tick(hub)
    assert hub.wake_in() == pytest.approx(88)  # ada's heartbeat grace, not 0 (a spin)


def test_updating_an_agent_changes_only_what_is_given(hub):
    hub.call(Batch.register_agent, registration({"name": "ada", "capabilities": ["go"], "slots": 2,
                                                 "description": "the fast one"}), "test")
    hub.call(Batch.register_agent, registration({"name": "ada", "slots": 3}), "test")
    agent = hub.view.agents["ada"]
    assert (agent.capabilities, agent.slots, agent.description) == (("go",), 3, "the fast one")


def test_work_waits_for_its_dependencies_and_starts_when_they_are_done(hub):
    add(hub, "ada", slots=2)
    first = submit(hub, id="first")
    second = submit(hub, id="second", depends_on=["first"])
    assert [a["id"] for a in beat(hub, "ada")["assignments"]] == [first]
    report(hub, "ada", first, "accepted", 1)
    report(hub, "ada", first, "done", 1, summary="ok")
    assert [a["id"] for a in hub.assignments("ada")["assignments"]] == [second]


def test_capabilities_pins_and_fair_spreading_between_idle_agents(hub):
    add(hub, "ada", ["python"])
    add(hub, "bob", ["go"])
    add(hub, "cy", ["python"])
    for name in ("ada", "bob", "cy"):
        beat(hub, name)
    go = submit(hub, needs=["go"])
    pinned = submit(hub, pin="cy")
    assert where(hub, go)[1] == "bob" and where(hub, pinned)[1] == "cy"
    py = submit(hub, needs=["python"])
    assert where(hub, py)[1] == "ada"  # cy was assigned more recently


def test_a_restart_gives_agents_a_fresh_grace_instead_of_reclaiming_at_once(repo, clock):
    h = Hub(repo, clock=clock, rng=random.Random(1))
    add(h, "ada")
    task_id = submit(h)
    beat(h, "ada")
    report(h, "ada", task_id, "accepted", 1)
    h.close()
    clock.advance(3600)  # the hub was down an hour
    h = Hub(repo, clock=clock, rng=random.Random(1))
    try:
        assert where(h, task_id)[:2] == (State.WORKING, "ada")
        clock.advance(60)
        report(h, "ada", task_id, "progress", 1)
        beat(h, "ada")
        assert where(h, task_id)[0] is State.WORKING
        clock.advance(91)
        tick(h)
        assert where(h, task_id)[0] is State.QUEUED
    finally:
        h.close()


def test_removing_an_agent_requeues_its_work_and_keeps_its_history(hub, repo):
    add(hub, "ada")
    task_id = submit(hub)
    beat(hub, "ada")
    hub.call(Batch.remove_agent, "ada", "operator")
    assert where(hub, task_id)[0] is State.QUEUED and "ada" not in hub.view.agents
    with pytest.raises(AgentNotFound):
        beat(hub, "ada")
    assert "agent ada: idle → removed" in git(repo, "log", "--format=%s").stdout
    assert "agents/ada.yaml" not in git(repo, "ls-tree", "-r", "--name-only", "main").stdout
