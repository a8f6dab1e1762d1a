"""The review loop closing by itself, end to end on a real local target: a hub with its gatekeeper
on the local forge, real sidecars running a scripted agent, and a CI that posts a commit status on
every new head (as the operator's CI would). No human step unless a human was asked."""
from __future__ import annotations

import json
import threading

import pytest

from tests.support.gitenv import git
from tests.support.processes import HubProcess, agentcom, wait_for
from tests.support.targets import make_remote, push_branch
from tests.test_sidecar import state, submit, task

pytestmark = pytest.mark.slow

RULES = """merge:
  required_checks: [ci]
repos:
  acme/web: {auto_merge: true}
trust:
  default: trusted
"""


class CI:
    """Posts `ci` on every open PR's new head: success, or a failure with a log for the heads
    `fail` names (by task id, first head only)."""

    def __init__(self, hub, fail: set[str] = frozenset()):
        self.hub, self.fail, self.seen = hub, set(fail), set()
        self.failed: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(0.2):
            status, body = self.hub.request("GET", "/api/prs?state=open")
            for pr in body.get("prs", []) if status == 200 else []:
                if pr["head_sha"] in self.seen:
                    continue
                self.seen.add(pr["head_sha"])
                failing = pr.get("task") in self.fail
                self.fail.discard(pr.get("task"))
                item = {"sha": pr["head_sha"], "state": "failure" if failing else "success", "context": "ci",
                        "description": "1 test failed" if failing else "all green"}
                if failing:
                    item["log"] = "FAILED tests/test_fix.py::test_fix - expected a second line"
                    self.failed.append(pr["task"])
                self.hub.request("POST", f"/api/prs/{pr['number']}/statuses", item)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture
def loop(repo, clone, tmp_path, sidecars):
    (clone / "gatekeeper.yaml").write_text(RULES)
    git(clone, "commit", "-qam", "gatekeeper rules: auto-merge on green ci")
    git(clone, "push", "-q", "origin", "HEAD:main")
    remote = make_remote(tmp_path / "remotes")
    hub = HubProcess(repo, args=("--forge", "local", "--target", str(remote)))
    yield hub, remote
    hub.stop()


def merged(hub, task_id: str) -> bool:
    shown = task(hub, task_id)
    return shown["state"] == "done" and shown["result"].get("merged") is True


def target_log(remote) -> list[str]:
    return git(remote, "log", "--format=%s", "main").stdout.splitlines()


def branches(remote) -> list[str]:
    return git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads").stdout.split()


def pipeline_matches_states(hub) -> None:
    """The page's pipeline counts are the task states' counts."""
    shown = hub.request("GET", "/api/state")[1]
    stages = {p["stage"]: p["count"] for p in shown["pipeline"]}
    assert {k: stages[k] for k in ("queued", "assigned", "working", "review", "done")} == \
        {k: shown["counts"][k] for k in ("queued", "assigned", "working", "review", "done")}


def test_two_tasks_on_the_same_lines_both_merge_the_second_updated_on_its_own_pr(loop, sidecars):
    hub, remote = loop
    ci = CI(hub)
    try:
        agents = [sidecars.agent(hub, name) for name in ("ada", "bob")]
        for agent in agents:
            sidecars.start(agent)
        first = submit(hub, "commit-wait fix.txt", repo=str(remote), title="First fix")
        second = submit(hub, "commit-wait fix.txt", repo=str(remote), title="Second fix")
        wait_for(lambda: state(hub, first) == state(hub, second) == "working", timeout=30)   # both from one main
        for agent in agents:
            agent.release(first)
            agent.release(second)
        wait_for(lambda: merged(hub, first) and merged(hub, second), timeout=120)
    finally:
        ci.close()
    status, prs = hub.request("GET", "/api/prs")
    assert sorted(p["number"] for p in prs["prs"]) == [1, 2]   # no third PR: the later one was updated in place
    assert all(p["state"] == "closed" and p["merged"] for p in prs["prs"])
    log = target_log(remote)
    titles = {"First fix": first, "Second fix": second}
    last, earlier = (titles[next(t for t in titles if log[i].startswith(t))] for i in (0, 1))
    assert {last, earlier} == {first, second}   # each under its task's title, not "Rebase ..."
    late = task(hub, last)
    assert late["rework"]["kind"] == "conflict" and late["rework"]["url"] == late["result"]["pr_url"]
    assert "rework" not in task(hub, earlier)
    trailers = git(remote, "log", "-1", "--format=%(trailers:key=Task,valueonly)", "main").stdout.strip()
    assert trailers == last
    assert branches(remote) == ["main"]   # no branch of a merged task is left
    pipeline_matches_states(hub)
    assert {p["stage"]: p["count"] for p in hub.request("GET", "/api/state")[1]["pipeline"]}["merged"] == 2


def test_a_failed_check_goes_back_with_its_log_and_merges_after_the_fix(loop, sidecars):
    hub, remote = loop
    sidecars.start(sidecars.agent(hub, "ada"))
    task_id = submit(hub, "commit fix.txt a line", repo=str(remote), title="Fix with a test")
    ci = CI(hub, fail={task_id})
    try:
        wait_for(lambda: merged(hub, task_id), timeout=90)
    finally:
        ci.close()
    assert ci.failed == [task_id]
    rework = task(hub, task_id)["rework"]
    assert rework["kind"] == "check" and "expected a second line" in rework["detail"]
    moves = [(h["from"], h["to"]) for h in hub.request("GET", f"/api/tasks/{task_id}/log")[1]["history"]
             if h["from"] != "gatekeeper"]   # the task's own moves, not the gatekeeper's decisions
    assert ("review", "queued") in moves and moves[-1] == ("review", "done")


def test_a_task_after_another_on_the_same_lines_merges_after_it(loop, sidecars):
    hub, remote = loop
    ci = CI(hub)
    try:
        sidecars.start(sidecars.agent(hub, "ada"))
        first = submit(hub, "commit fix.txt first", repo=str(remote), title="Lay the ground")
        second = submit(hub, "commit fix.txt second", repo=str(remote), title="Build on it", depends_on=[first])
        wait_for(lambda: state(hub, first) == "review", timeout=60)
        assert state(hub, second) == "queued"   # its dependency's PR is open, not merged
        wait_for(lambda: merged(hub, first) and merged(hub, second), timeout=120)
    finally:
        ci.close()
    assert "rework" not in task(hub, second)   # it branched from a main that had the first
    log = target_log(remote)
    assert log[0].startswith("Build on it") and log[1].startswith("Lay the ground")
    assert branches(remote) == ["main"]


def test_an_escalated_pr_stays_with_its_human_when_main_moves_and_health_says_so(loop, sidecars, tmp_path):
    hub, remote = loop
    ci = CI(hub)
    try:
        sidecars.start(sidecars.agent(hub, "ada"))
        task_id = submit(hub, "commit Makefile build: all", repo=str(remote), title="Touch the build")
        wait_for(lambda: any(c["kind"] == "pr_escalated" for c in
                             hub.request("GET", "/api/state")[1]["health"]["items"]), timeout=60)
        push_branch(remote, tmp_path, "human", {"Makefile": "# a human's build\n"})   # main moves under it
        git(remote, "update-ref", "refs/heads/main", "refs/heads/human")
        head = hub.request("GET", "/api/prs/1")[1]["head_sha"]   # CI runs again: the gatekeeper looks again
        assert hub.request("POST", "/api/prs/1/statuses", {"sha": head, "state": "success", "context": "ci"})[0] == 201
        wait_for(lambda: "checks.conflict" in json.dumps(hub.request("GET", "/api/reviews")[1]), timeout=30)
    finally:
        ci.close()
    assert state(hub, task_id) == "review" and "rework" not in task(hub, task_id)   # never sent back
    health = agentcom("health", "--hub", hub.url, check=False)
    assert health.returncode == 1 and "pr_escalated" in health.stdout
    pipeline_matches_states(hub)
    agentcom("pr", "close", "1", "--reason", "the build stays as it is", "--hub", hub.url, check=True,
             env={"AGENTCOM_TOKEN": hub.token})
    shown = task(hub, task_id)
    assert shown["state"] == "cancelled" and "the build stays as it is" in shown["last_error"]
    wait_for(lambda: agentcom("health", "--hub", hub.url).returncode == 0, timeout=30)   # nothing waits now
    assert len(branches(remote)) == 3   # a closed PR's branch is kept (its work is nowhere else): main, human, it
