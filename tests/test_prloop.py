"""A task's pull request after its agent is done (coordinator/hub/prloop.py), through a real hub on a
real coordination repo: which reports make a task wait in review, and what settles or sends it back,
including the messages an agent or a stranger could forge."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from coordinator.wire.protocol import parse_report
from tests.support.held import hand_over

PR = "https://github.com/acme/web/pull/7"


@pytest.fixture
def hub(repo):
    h = Hub(repo, role="cli")
    h.prloop.watched.add("acme/web")   # as when the hub runs the gatekeeper for acme/web
    yield h
    h.close()


def done_with(hub, pr_url: str, task_id: str = "T-1") -> str:
    """T-1 on acme/web, run by ada and reported done with `pr_url`; returns its state."""
    hub.call(Batch.submit, {"id": task_id, "title": "Fix it", "prompt": "fix it", "repo": "acme/web"}, "test")
    hand_over(hub, task_id, "ada")
    for body in ({"kind": "accepted", "attempt": 1}, {"kind": "done", "attempt": 1, "pr_url": pr_url}):
        hub.call(Batch.report, "ada", task_id, parse_report(body))
    return hub.show(task_id)["state"]


def test_a_pr_of_the_tasks_repo_makes_it_wait_in_review(hub):
    assert done_with(hub, PR) == "review"
    assert hub.prloop.reviewing("acme/web") == [{"id": "T-1", "agent": "ada", "repo": "acme/web", "pr_url": PR,
                                                 "created_at": hub.show("T-1")["task"]["created_at"]}]


@pytest.mark.parametrize("url", ["https://github.com/evil/other/pull/7", "https://example.com/nothing",
                                 "http://127.0.0.1:1/api/prs/99"])
def test_an_agent_naming_a_pr_that_is_not_its_repos_is_done_not_held_in_review_for_ever(hub, url):
    assert done_with(hub, url) == "done"


def test_a_merge_settles_it_once_and_news_of_another_pr_changes_nothing(hub):
    done_with(hub, PR)
    assert hub.call(Batch.settle_pr, "T-1", "https://github.com/acme/web/pull/8", merged=True, by="x") is None
    assert hub.show("T-1")["state"] == "review"
    hub.call(Batch.settle_pr, "T-1", PR, merged=True, by="grace", merge_sha="c" * 40)
    shown = hub.show("T-1")
    assert shown["state"] == "done" and shown["task"]["result"]["merged_by"] == "grace"
    assert hub.call(Batch.settle_pr, "T-1", PR, merged=False, by="mallory") is None   # a repeat is harmless
    assert hub.show("T-1")["state"] == "done"


def test_a_close_cancels_it_with_the_reason(hub):
    done_with(hub, PR)
    hub.call(Batch.settle_pr, "T-1", PR, merged=False, by="grace", why="not wanted")
    shown = hub.show("T-1")
    assert shown["state"] == "cancelled" and "not wanted" in shown["task"]["last_error"]
    assert shown["task"]["result"]["merged"] is False


def test_sent_back_it_keeps_id_title_and_scope_and_counts_each_send_but_not_a_branch_merely_behind(hub):
    done_with(hub, PR)
    back = hub.call(Batch.send_back, "T-1", PR, {"kind": "behind", "branch": "agent/ada/T-1-fix"}, "gatekeeper")
    assert back["state"] == "queued" and back["title"] == "Fix it" and back["rework"]["count"] == 0
    assert hub.call(Batch.send_back, "T-1", PR, {"kind": "conflict"}, "gatekeeper") is None   # not in review now
    hand_over(hub, "T-1", "ada")
    hub.call(Batch.report, "ada", "T-1", parse_report({"kind": "accepted", "attempt": 2}))
    hub.call(Batch.report, "ada", "T-1", parse_report({"kind": "done", "attempt": 2, "pr_url": PR}))
    again = hub.call(Batch.send_back, "T-1", PR, {"kind": "check", "detail": "FAILED x"}, "gatekeeper")
    assert again["rework"]["count"] == 1 and again["rework"]["detail"] == "FAILED x"
    assert again["attempt_base"] == 2   # a fresh retry budget: being sent back is not a failure


def test_a_pr_merged_while_its_task_is_back_at_work_settles_the_task(hub):
    done_with(hub, PR)
    hub.call(Batch.send_back, "T-1", PR, {"kind": "check"}, "gatekeeper")
    hub.call(Batch.settle_pr, "T-1", PR, merged=True, by="grace")
    assert hub.show("T-1")["state"] == "done"


def test_a_retry_after_its_pr_was_closed_starts_afresh(hub):
    done_with(hub, PR)
    hub.call(Batch.send_back, "T-1", PR, {"kind": "conflict"}, "gatekeeper")
    hub.call(Batch.settle_pr, "T-1", PR, merged=False, by="grace")
    assert "rework" not in hub.show("T-1")["task"]   # cancelled: the closed PR is not worked on again
    assert "rework" not in hub.call(Batch.retry, "T-1", "grace")


def test_a_sent_back_task_goes_to_its_agent_while_online_and_to_another_once_it_is_not(repo):
    now = [datetime.now(UTC)]
    hub = Hub(repo, role="cli", fleet=True, clock=lambda: now[0])   # every batch ends with the scheduling pass
    try:
        hub.prloop.watched.add("acme/web")
        hub.call(Batch.register_agent, {"name": "ada"}, "test")
        hub.call(Batch.connect, "ada")
        hub.call(Batch.submit, {"id": "T-1", "title": "Fix it", "prompt": "fix it", "repo": "acme/web"}, "test")
        for body in ({"kind": "accepted", "attempt": 1}, {"kind": "done", "attempt": 1, "pr_url": PR}):
            hub.call(Batch.report, "ada", "T-1", parse_report(body))
        hub.call(Batch.register_agent, {"name": "bob"}, "test")
        hub.call(Batch.connect, "bob")   # bob is idle, ada was assigned last: bob would win a fair pick
        hub.call(Batch.send_back, "T-1", PR, {"kind": "conflict"}, "gatekeeper")
        assert hub.show("T-1")["task"]["agent"] == "ada"   # the agent whose branch it is
        hub.call(Batch.remove_agent, "ada", "test")         # its machine is gone: queued again, after a backoff
        now[0] += timedelta(hours=2)
        hub.call(Batch.connect, "bob")                      # bob's next heartbeat
        shown = hub.show("T-1")
        assert (shown["state"], shown["task"]["agent"]) == ("assigned", "bob")
    finally:
        hub.close()
