"""Every run of an attempt on the record, and an interrupted run that costs no attempt: the hub's
side, one rule per test (a real hub on a real repo, in this process, with a clock the test
moves), the pure parts beneath it, and the attacker's reports over real HTTP."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from coordinator.core.agent import registration
from coordinator.core.layout import State, location
from coordinator.core.retry import FREE_INTERRUPTIONS, RETRY, given_back
from coordinator.core.trailers import Transition, message, parse
from coordinator.core.transitions import move, rerun
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from coordinator.wire.errors import IllegalTransition, StaleReport, UsageError
from coordinator.wire.protocol import REPORT_SCHEMA, RUN_MAX, parse_report
from tests.support.clock import Clock
from tests.support.fleet_api import holding
from tests.support.gitenv import git
from tests.support.openapi import validator


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def hub(repo, clock):
    h = Hub(repo, clock=clock, rng=random.Random(7))
    yield h
    h.close()


def working(hub, name="ada", **fields) -> str:
    """A task `name` has accepted (attempt 1)."""
    hub.call(Batch.register_agent, registration({"name": name}), "test")
    task_id = hub.call(Batch.submit, {"prompt": "do it", **fields}, "test")["id"]
    beat(hub, name)
    report(hub, name, task_id, "accepted", 1)
    return task_id


def beat(hub, name):
    from coordinator.wire.protocol import Heartbeat
    hub.heartbeat(name, Heartbeat())
    hub.call(lambda batch: None)
    return hub.assignments(name, ())


def report(hub, name, task_id, kind, attempt, **fields):
    return hub.call(Batch.report, name, task_id, parse_report({"kind": kind, "attempt": attempt, **fields}))


def task(hub, task_id) -> dict:
    return hub.load_task(hub.view.get(task_id))


def state(hub, task_id) -> State:
    return hub.view.get(task_id).loc.state


def task_at(repo, commit: str, task_id: str) -> dict:
    """The task file as a commit left it, read with git."""
    paths = git(repo, "ls-tree", "-r", "--name-only", commit).stdout.split()
    [path] = [p for p in paths if p.endswith(f"{task_id}.yaml")]
    return yaml.safe_load(git(repo, "show", f"{commit}:{path}").stdout)


def runs_of(hub, task_id, attempt) -> int:
    """The contract: the runs recorded for an attempt are the largest `run` among its entries."""
    return max(h["run"] for h in hub.history(task_id) if h["attempt"] == attempt)


# --- every run on the record ---------------------------------------------------------------

def test_a_rerun_is_one_commit_the_task_stays_working_and_a_repeat_changes_nothing(hub, repo):
    task_id = working(hub)
    head = hub.store.base
    report(hub, "ada", task_id, "progress", 1, run=2, note="the run vanished (the sidecar restarted)")
    assert hub.store.base != head
    assert state(hub, task_id) is State.WORKING and task(hub, task_id)["runs"] == 2
    last = hub.history(task_id)[-1]
    assert (last["from"], last["to"], last["attempt"], last["run"]) == ("working", "working", 1, 2)
    assert last["reason"] == "run 2 of attempt 1: the run vanished (the sidecar restarted)"
    status = [t for t in hub.status()["tasks"] if t["id"] == task_id][0]
    assert status["note"] == "re-running (run 2): the run vanished (the sidecar restarted)"

    head = hub.store.base
    report(hub, "ada", task_id, "progress", 1, run=2, note="the run vanished (the sidecar restarted)")
    report(hub, "ada", task_id, "progress", 1, run=1, note="an older run's late word")
    report(hub, "ada", task_id, "done", 1, run=1, summary="the first run's late result")
    assert hub.store.base != head  # the done landed (the attempt ended)...
    assert [h["run"] for h in hub.history(task_id)].count(2) == 2  # ...as run 2: no second re-run record
    assert task(hub, task_id)["outcome"]["runs"] == 2


def test_git_alone_shows_the_run_in_a_trailer(hub, repo):
    task_id = working(hub)
    report(hub, "ada", task_id, "progress", 1, run=2, note="lost with its machine")
    out = git(repo, "log", "-1", "--format=%s|%(trailers:key=Run,valueonly,separator=)"
                                 "|%(trailers:key=Reason,valueonly,separator=)")
    assert out.stdout.strip() == f"{task_id}: working → working (ada)|2|run 2 of attempt 1: lost with its machine"


def test_the_final_report_records_its_run_when_the_reruns_own_record_was_lost(hub):
    task_id = working(hub)
    report(hub, "ada", task_id, "done", 1, run=3, summary="third time lucky")
    done = task(hub, task_id)
    assert done["outcome"]["runs"] == 3 and "runs" not in done  # the count lives on in the outcome only
    assert hub.history(task_id)[-1]["run"] == 3 and runs_of(hub, task_id, 1) == 3


def test_ordinary_transitions_are_run_1_and_a_reclaim_keeps_the_runs_it_had(hub, clock):
    task_id = working(hub)
    report(hub, "ada", task_id, "progress", 1, run=2, note="again")
    assert [h["run"] for h in hub.history(task_id)] == [1, 1, 1, 2]
    report(hub, "ada", task_id, "failed", 1, reason="broke")
    assert task(hub, task_id)["outcome"]["runs"] == 2 and runs_of(hub, task_id, 1) == 2
    clock.now += timedelta(minutes=5)
    beat(hub, "ada")
    assert task(hub, task_id)["attempt"] == 2 and "runs" not in task(hub, task_id)  # a new attempt: run 1 again
    assert runs_of(hub, task_id, 2) == 1


def test_a_run_report_on_an_assigned_task_is_refused(hub):
    hub.call(Batch.register_agent, registration({"name": "ada"}), "test")
    task_id = hub.call(Batch.submit, {"prompt": "do it"}, "test")["id"]
    beat(hub, "ada")
    with pytest.raises(IllegalTransition, match="send 'accepted' first"):
        report(hub, "ada", task_id, "progress", 1, run=2, note="never accepted")


# --- an interrupted run is not the agent's failure ------------------------------------------

def test_an_interrupted_run_is_queued_again_at_once_without_spending_its_attempt(hub, repo):
    task_id = working(hub, max_retries=0)  # a counted failure would kill it
    report(hub, "ada", task_id, "failed", 1, interrupted=True, run=2, tokens={"input": 7, "output": 3},
           reason="stopped by the operator (signal 2)")
    *_, back, given = hub.history(task_id)
    assert (back["from"], back["to"], back["attempt"], back["run"]) == ("working", "queued", 1, 2)
    assert back["reason"].startswith("ada's run 2 of attempt 1 was interrupted: stopped by the operator")
    assert "not counted as an attempt" in back["reason"]
    queued = task_at(repo, back["commit"], task_id)
    assert queued["attempt"] - queued["attempt_base"] == 0  # as before it ran
    assert "retry_at" not in queued and "last_error" not in queued and queued["interruptions"] == 1
    assert queued["outcome"]["kind"] == "interrupted" and queued["outcome"]["runs"] == 2
    assert queued["tokens_used"] == 10

    # no backoff: the same batch gave it out again, and it still has its one attempt
    assert (given["from"], given["to"], given["attempt"]) == ("queued", "assigned", 2)
    t = task(hub, task_id)
    assert t["attempt"] - t["attempt_base"] == 1 and "retry_at" not in t

    head = hub.store.base
    again = report(hub, "ada", task_id, "failed", 1, interrupted=True, reason="stopped by the operator (signal 2)")
    assert again["duplicate"] and hub.store.base == head
    with pytest.raises(StaleReport):  # the same attempt cannot end twice in two ways
        report(hub, "ada", task_id, "failed", 1, reason="and failed as well")
    report(hub, "ada", task_id, "accepted", 2)
    report(hub, "ada", task_id, "done", 2, summary="finished")
    assert state(hub, task_id) is State.DONE


def test_interruptions_past_the_free_ones_count_like_any_failure(hub, clock):
    task_id = working(hub, max_retries=0)
    for attempt in range(1, FREE_INTERRUPTIONS + 1):
        report(hub, "ada", task_id, "failed", attempt, interrupted=True, reason="stopped")
        report(hub, "ada", task_id, "accepted", attempt + 1)  # given out again in the same batch
    report(hub, "ada", task_id, "failed", FREE_INTERRUPTIONS + 1, interrupted=True, reason="stopped")
    t = task(hub, task_id)
    assert state(hub, task_id) is State.DEAD and t["interruptions"] == FREE_INTERRUPTIONS + 1
    assert t["outcome"]["kind"] == "interrupted" and "was interrupted: stopped" in t["last_error"]
    assert hub.history(task_id)[-1]["reason"].endswith("max_retries is 0")


# --- the pure parts ----------------------------------------------------------------------

def test_a_run_trailer_is_written_only_past_the_first_run_and_read_back():
    plain = message(Transition("T-1", "working", "done", "ada", 1, "done by ada"))
    assert "Run:" not in plain and parse(plain).run == 1
    again = message(Transition("T-1", "working", "working", "ada", 1, "run 3 of attempt 1: lost", 3))
    assert again.splitlines()[-1] == "Run: 3" and parse(again).run == 3


@given(st.integers(1, 999_999), st.integers(0, 10**6),
       st.text(alphabet=st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=80))
def test_a_transition_with_any_run_reads_back_as_written(run, attempt, reason):  # one-line values: folding aside
    t = Transition("T-1", "working", "working", "ada", attempt, reason, run)
    assert parse(message(t)) == t


@pytest.mark.parametrize("value", ["0", "-1", "two", "²", "1234567", ""])
def test_a_run_trailer_that_is_not_a_small_whole_number_reads_as_run_1(value):
    text = message(Transition("T-1", "working", "working", "ada", 1, "x")) + f"Run: {value}\n"
    assert parse(text).run == 1


def test_rerun_raises_runs_only_upward_and_only_while_working():
    now = datetime(2026, 11, 25, tzinfo=UTC)
    t = {"id": "T-1", "state": "working", "agent": "ada", "attempt": 4, "prompt": "p"}
    loc = location(State.WORKING, "T-1", agent="ada", when=now)
    m = rerun(t, loc, 2, now, reason="why")
    assert m.task["runs"] == 2 and m.new == loc and (m.transition.attempt, m.transition.run) == (4, 2)
    assert rerun(m.task, loc, 2, now, reason="why") is None and rerun(m.task, loc, 1, now, reason="why") is None
    with pytest.raises(IllegalTransition):
        rerun(t, location(State.QUEUED, "T-1", lane="normal", when=now), 2, now, reason="why")
    ended = move({**m.task, "runs": 3}, loc, State.DONE, now, reason="done")
    assert ended.transition.run == 3 and "runs" not in ended.task


def test_only_the_first_free_interruptions_are_given_back():
    assert all(given_back(n).action == RETRY and given_back(n).wait == 0 for n in range(FREE_INTERRUPTIONS))
    assert given_back(FREE_INTERRUPTIONS) is None
    with pytest.raises(ValueError):
        given_back(-1)


@pytest.mark.parametrize("body, says", [
    ({"kind": "accepted", "attempt": 1, "run": 2}, "only a progress, done or failed report names a run"),
    ({"kind": "blocked", "attempt": 1, "note": "n", "run": 2}, "only a progress, done or failed"),
    ({"kind": "progress", "attempt": 1, "run": 0}, "run: 0 is less than the minimum of 1"),
    ({"kind": "progress", "attempt": 1, "run": RUN_MAX + 1}, "run: 101 is greater than the maximum"),
    ({"kind": "progress", "attempt": 1, "run": "2"}, "run: '2' is not of type 'integer'"),
    ({"kind": "done", "attempt": 1, "interrupted": True}, "only a failed report can say the run was interrupted"),
    ({"kind": "failed", "attempt": 1, "reason": "r", "interrupted": 1}, "interrupted: 1 is not of type 'boolean'"),
    ({"kind": "failed", "attempt": 1, "reason": "r", "interrupted": True, "permanent": True},
     "an interrupted run is not a permanent failure"),
])
def test_a_bad_run_or_interrupted_field_is_refused_with_what_is_wrong(body, says):
    with pytest.raises(UsageError, match="bad report: .*" + says.replace("(", r"\(").replace(")", r"\)")):
        parse_report(body)


def test_a_whole_number_written_as_2_0_is_read_as_the_integer_2():
    r = parse_report({"kind": "done", "attempt": 1.0, "run": 2.0, "tokens": {"input": 5.0}})
    assert (r.attempt, r.run, r.tokens, r.tokens_total) == (1, 2, {"input": 5}, 5)
    assert all(type(n) is int for n in (r.attempt, r.run, r.tokens["input"]))


def test_the_published_report_matches_the_one_the_hub_checks():
    from tests.support.openapi import OPENAPI
    published = OPENAPI["components"]["schemas"]["Report"]
    tokens = OPENAPI["components"]["schemas"]["ReportTokens"]
    assert set(published["properties"]) == set(REPORT_SCHEMA["properties"])
    assert published["required"] == REPORT_SCHEMA["required"]
    for name, field in REPORT_SCHEMA["properties"].items():
        shown = tokens if name == "tokens" else published["properties"][name]
        assert {k: v for k, v in shown.items() if k != "description"} == field, name


# --- the attacker over HTTP --------------------------------------------------------------

def test_run_and_interrupted_from_the_wrong_agent_or_malformed_change_nothing(hub_process):
    token, held, attempt = holding(hub_process, "ada")
    other, _, _ = holding(hub_process, "bob")
    head = hub_process.request("GET", "/api/health")[1]["head"]
    bad = [({"kind": "failed", "attempt": attempt, "reason": "r", "interrupted": True}, other, 409),
           ({"kind": "failed", "attempt": attempt + 1, "reason": "r", "interrupted": True}, token, 409),
           ({"kind": "progress", "attempt": attempt, "run": 10**6}, token, 400),
           ({"kind": "progress", "attempt": attempt, "run": True}, token, 400),
           ({"kind": "accepted", "attempt": attempt, "run": 2}, token, 400),
           ({"kind": "failed", "attempt": attempt, "reason": "r", "interrupted": "yes"}, token, 400)]
    for body, who, code in bad:
        status, answer = hub_process.request("POST", f"/api/tasks/{held}/report", body, token=who)
        assert status == code and answer["error"], (body, status, answer)
    assert hub_process.request("GET", "/api/health")[1]["head"] == head
    shown = hub_process.request("GET", f"/api/tasks/{held}")[1]
    assert shown["state"] == "working" and "runs" not in shown["task"]

    ok = {"kind": "progress", "attempt": attempt, "run": 2, "note": "lost with its machine"}
    assert hub_process.request("POST", f"/api/tasks/{held}/report", ok, token=token)[0] == 200
    entries = hub_process.request("GET", f"/api/tasks/{held}/log")[1]["history"]
    entry = validator("HistoryEntry")
    for h in entries:
        entry.validate(h)  # as docs/openapi.yaml describes it
    assert (entries[-1]["to"], entries[-1]["run"]) == ("working", 2)


@pytest.fixture
def hub_process(repo):
    from tests.support.processes import HubProcess
    process = HubProcess(repo)
    yield process
    process.stop()
