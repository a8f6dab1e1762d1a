"""What a human does about a pull request, through a real hub and the real CLI: `agentcom pr` and
/api/pulls (operator token only), and the local forge's verbs under them (close, a label off, a
head branch deleted). Every target is a real bare git repo; the task waits in review until the
human's verb settles it."""
from __future__ import annotations

import json

import pytest

from coordinator.forge.github import GitHubForge
from tests.support.gitenv import git
from tests.support.held import agent_holding_a_task
from tests.support.openapi import validator
from tests.support.processes import agentcom, wait_for
from tests.support.targets import commit, make_remote, push_branch
from tests.test_gatekeeper_webhooks import AGENT_TOKEN, deliver, github_hub  # noqa: F401 (a fixture)


def _task(hub, task_id: str) -> dict:
    status, body = hub.request("GET", f"/api/tasks/{task_id}")
    assert status == 200, body
    return body


def _in_review(hub, tmp_path, name: str = "ada", branch: str | None = None, labels: tuple = ()):
    """An agent's task whose PR is open on the local forge, the task waiting in review on it;
    returns (remote, agent token, task id, PR number)."""
    remote = make_remote(tmp_path / f"remotes-{name}")
    token, task_id = agent_holding_a_task(hub, name, repo=str(remote))
    branch = branch or f"agent/{name}/{task_id}"
    push_branch(remote, tmp_path, branch, {f"{name}.txt": "work\n"}, "the agent's work")
    status, pr = hub.request("POST", "/api/prs", {"repo": str(remote), "head": branch, "base": "main",
                                                  "title": "Fix the login", "task": task_id,
                                                  "labels": list(labels)}, token=token)
    assert status == 201, pr
    status, body = hub.request("POST", f"/api/tasks/{task_id}/report", {"kind": "accepted", "attempt": 1},
                               token=token)
    assert status == 200, body
    status, body = hub.request("POST", f"/api/tasks/{task_id}/report",
                               {"kind": "done", "attempt": 1, "summary": "fixed",
                                "pr_url": f"{hub.url}/api/prs/{pr['number']}"}, token=token)
    assert status == 200, body
    assert _task(hub, task_id)["state"] == "review"
    return remote, token, task_id, pr["number"]


def _cli(hub, *args: str, check: bool = True):
    return agentcom("pr", *args, "--hub", hub.url, "--repo", str(hub.repo), check=check)


def _me(hub) -> str:
    return hub.request("GET", "/api/whoami")[1]["name"]


def test_an_agent_token_is_refused_on_every_human_verb_and_nothing_changes(hub, tmp_path):
    remote, token, task_id, number = _in_review(hub, tmp_path, labels=("agentcom:needs-human",))
    calls = [("GET", "/api/pulls", None), ("GET", f"/api/pulls/{number}", None),
             ("POST", f"/api/pulls/{number}/merge", {}), ("POST", f"/api/pulls/{number}/close", {"reason": "x"}),
             ("POST", f"/api/pulls/{number}/release", {}), ("PATCH", f"/api/prs/{number}", {"state": "closed"}),
             ("DELETE", f"/api/prs/{number}/labels/agentcom:needs-human", None),
             ("DELETE", f"/api/prs/{number}/head", None),
             # how a gatekeeper run beside the hub moves a task in review: the operator's alone
             ("POST", f"/api/reviews/tasks/{task_id}/settle", {"pr_url": f"{hub.url}/api/prs/{number}",
                                                              "merged": True}),
             ("POST", f"/api/reviews/tasks/{task_id}/send-back", {"pr_url": f"{hub.url}/api/prs/{number}",
                                                                 "rework": {"kind": "conflict"}}),
             ("POST", f"/api/prs/{number}/statuses", {"sha": "a" * 40, "state": "success", "context": "ci"})]
    for method, path, body in calls:
        status, answer = hub.request(method, path, body, token=token)
        assert (status, answer["error"]) == (403, "Forbidden"), (method, path, answer)
        assert hub.request(method, path, body, token=None)[0] == 401, (method, path)
    record = hub.request("GET", f"/api/prs/{number}")[1]
    assert (record["state"], record["labels"]) == ("open", ["agentcom:needs-human"])
    assert _task(hub, task_id)["state"] == "review"
    assert git(tmp_path, "--git-dir", str(remote), "rev-parse", "--verify", "-q",
               f"refs/heads/agent/ada/{task_id}", check=False).returncode == 0


def test_closing_from_the_cli_cancels_the_task_with_the_reason_and_records_who(hub, tmp_path):
    remote, _, task_id, number = _in_review(hub, tmp_path)
    listed = json.loads(_cli(hub, "list", "--json").stdout)
    assert [(r["number"], r["task"], r["agent"], r["repo"]) for r in listed] == [(number, task_id, "ada", str(remote))]
    validator("Pull").validate(listed[0])

    done = _cli(hub, "close", str(number), "--reason", "the login page is being rewritten")
    assert f"closed {remote}#{number}; task {task_id} settled" in done.stdout
    task = _task(hub, task_id)
    assert task["state"] == "cancelled"
    assert "the login page is being rewritten" in task["task"]["last_error"]
    record = hub.request("GET", f"/api/prs/{number}")[1]
    assert (record["state"], record.get("merged", False), record["closed_by"]) == ("closed", False, _me(hub))
    validator("PullRequest").validate(record)
    log = git(tmp_path, "--git-dir", str(hub.repo), "log", "--format=%s", "-5", "main").stdout
    assert f"pr #{number}: closed by {_me(hub)}" in log
    assert json.loads(_cli(hub, "list", "--json").stdout) == []
    # closing again changes nothing and settles nothing twice
    assert hub.request("POST", f"/api/pulls/{number}/close", {})[0] == 200
    assert _task(hub, task_id)["state"] == "cancelled"


def test_merging_from_the_cli_ends_the_task_done_and_main_carries_the_trailers(hub, tmp_path):
    remote, _, task_id, number = _in_review(hub, tmp_path)
    head = git(tmp_path, "--git-dir", str(remote), "rev-parse", f"agent/ada/{task_id}").stdout.strip()

    done = _cli(hub, "merge", str(number))
    assert f"merged {remote}#{number} at {head[:12]}" in done.stdout and f"task {task_id} settled" in done.stdout
    assert _task(hub, task_id)["state"] == "done"
    message = git(tmp_path, "--git-dir", str(remote), "log", "-1", "--format=%B", "main").stdout
    assert message.startswith(f"Fix the login (#{number})\n\n")
    trailers = git(tmp_path, "--git-dir", str(remote), "log", "-1", "--format=%(trailers)", "main").stdout
    assert trailers.strip().splitlines() == [f"Task: {task_id}", "Agent: ada", f"Reviewed-Head: {head}",
                                     f"Merged-By: {_me(hub)}"]
    assert git(tmp_path, "--git-dir", str(remote), "show", "main:ada.txt").stdout == "work\n"
    # merged is final: a second merge is refused clearly, and the CLI says so in one line
    again = _cli(hub, "merge", str(number), check=False)
    assert again.returncode == 1 and "cannot be merged: it is closed" in again.stderr


def test_a_merge_meant_for_a_head_the_agent_has_since_pushed_past_is_refused(hub, tmp_path):
    remote, _, task_id, number = _in_review(hub, tmp_path)
    seen = git(tmp_path, "--git-dir", str(remote), "rev-parse", f"agent/ada/{task_id}").stdout.strip()
    push_branch(remote, tmp_path, f"agent/ada/{task_id}", {"ada.txt": "work, and something else\n"}, "later")
    status, body = hub.request("POST", f"/api/pulls/{number}/merge", {"sha": seen})
    assert status == 409 and seen[:12] in body["message"]
    assert _task(hub, task_id)["state"] == "review"
    assert git(tmp_path, "--git-dir", str(remote), "show", "main:ada.txt", check=False).returncode != 0
    assert hub.request("POST", f"/api/pulls/{number}/merge", {"sha": "nope"})[0] == 400


def test_release_takes_the_escalation_labels_off_and_records_who_on_the_review(hub, tmp_path):
    remote, _, task_id, number = _in_review(hub, tmp_path, labels=("agentcom:needs-human", "agentcom:blocked",
                                                                   "area:login"))
    head = hub.request("GET", f"/api/prs/{number}")[1]["head_sha"]
    review = {"repo": str(remote), "pull": number, "head_sha": head, "action": "escalate", "score": 50,
              "rules": ["protected.ci"], "reasons": [{"rule": "protected.ci", "severity": "gate", "points": 50,
                                                      "explanation": "it changes the CI workflow"}],
              "why": "Escalated to a human: a protected path", "url": f"{hub.url}/api/prs/{number}",
              "task": task_id, "agent": "ada", "title": "Fix the login", "state": "open"}
    assert hub.request("POST", "/api/reviews", review)[0] == 201
    [row] = json.loads(_cli(hub, "list", "--json").stdout)
    assert (row["action"], row["why"], row["labels"]) == (
        "escalate", review["why"], ["agentcom:needs-human", "agentcom:blocked", "area:login"])
    assert "escalate" in _cli(hub, "list").stdout and f"#{number}" in _cli(hub, "list").stdout

    done = _cli(hub, "release", str(number), "--reason", "the CI change is mine")
    assert "took off agentcom:needs-human, agentcom:blocked" in done.stdout
    assert hub.request("GET", f"/api/prs/{number}")[1]["labels"] == ["area:login"]
    [kept] = hub.request("GET", f"/api/reviews?repo={remote}")[1]["reviews"]
    assert kept["human"]["verb"] == "release" and kept["human"]["by"] == _me(hub)
    assert kept["human"]["reason"] == "the CI change is mine" and kept["state"] == "open"
    log = git(tmp_path, "--git-dir", str(hub.repo), "log", "-1", "--format=%B", "main").stdout
    assert log.startswith(f"human: {remote}#{number} release by {_me(hub)}")
    assert f"Human: release by {_me(hub)}: the CI change is mine" in log
    validator("Pull").validate(hub.request("GET", f"/api/pulls/{number}")[1])
    shown = _cli(hub, "show", str(number)).stdout
    assert "it changes the CI workflow" in shown and f"last human action: release by {_me(hub)}" in shown
    assert _task(hub, task_id)["state"] == "review"  # released, not settled: the gatekeeper decides


def test_a_head_branch_is_deleted_only_once_its_pr_is_closed_and_never_a_base_or_an_open_head(hub, tmp_path):
    remote = make_remote(tmp_path / "remotes")

    def branch(name):
        return git(tmp_path, "--git-dir", str(remote), "rev-parse", "--verify", "-q", f"refs/heads/{name}",
                   check=False).stdout.strip()

    def open_pr(head, base="main"):
        status, body = hub.request("POST", "/api/prs", {"repo": str(remote), "head": head, "base": base,
                                                        "title": f"{head} into {base}"})
        assert status == 201, body
        return body["number"]

    push_branch(remote, tmp_path, "release", {"r.txt": "1\n"})
    first = open_pr("release")
    status, body = hub.request("DELETE", f"/api/prs/{first}/head")
    assert (status, body["error"]) == (422, "BranchInUse") and "is open; merge or close it first" in body["message"]
    assert hub.request("PATCH", f"/api/prs/{first}", {"state": "closed"})[0] == 200
    second = open_pr("release")  # the same branch, proposed again
    status, body = hub.request("DELETE", f"/api/prs/{first}/head")
    assert status == 422 and f"head of open pull request #{second}" in body["message"] and branch("release")
    assert hub.request("PATCH", f"/api/prs/{second}", {"state": "closed"})[0] == 200
    push_branch(remote, tmp_path, "topic", {"t.txt": "1\n"})
    git(tmp_path / "push-topic", "fetch", "-q", "origin")
    git(tmp_path / "push-topic", "rebase", "-q", "origin/release")
    git(tmp_path / "push-topic", "push", "-q", "-f", "origin", "HEAD:refs/heads/topic")
    third = open_pr("topic", "release")
    status, body = hub.request("DELETE", f"/api/prs/{first}/head")
    assert status == 422 and f"base of open pull request #{third}" in body["message"] and branch("release")
    assert hub.request("PATCH", f"/api/prs/{third}", {"state": "closed"})[0] == 200

    status, body = hub.request("DELETE", f"/api/prs/{first}/head")
    assert (status, body["deleted"], body["branch"]) == (200, True, "release") and not branch("release")
    assert hub.request("DELETE", f"/api/prs/{first}/head")[1]["deleted"] is False  # gone already: no error
    assert hub.request("GET", f"/api/prs/{first}")[1]["head_deleted"]["by"] == _me(hub)

    # the target's default branch is never deleted, even as the head of a closed PR
    git(tmp_path, "--git-dir", str(remote), "branch", "old", "main")
    work = tmp_path / "push-release"
    git(work, "checkout", "-q", "-B", "main", "origin/main")
    (work / "new.txt").write_text("new\n")
    commit(work, "on main")
    git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
    fourth = open_pr("main", "old")
    assert hub.request("PATCH", f"/api/prs/{fourth}", {"state": "closed"})[0] == 200
    status, body = hub.request("DELETE", f"/api/prs/{fourth}/head")
    assert status == 422 and "default branch" in body["message"] and branch("main")


@pytest.mark.parametrize("body, why", [
    ({"reason": "x" * 501}, "reason is text of at most 500 characters"),
    ({"reason": 7}, "reason is text of at most 500 characters"),
    ({"why": "typo"}, "unknown field(s) why"),
    ({"repo": ""}, "repo is the repo's OWNER/NAME or path"),
])
def test_a_bad_action_body_is_a_clear_400_and_changes_nothing(hub, tmp_path, body, why):
    _, _, task_id, number = _in_review(hub, tmp_path)
    status, answer = hub.request("POST", f"/api/pulls/{number}/close", body)
    assert status == 400 and why in answer["message"], answer
    assert _task(hub, task_id)["state"] == "review"


def test_unknown_pulls_and_verbs_are_clear_errors(hub):
    assert hub.request("GET", "/api/pulls/77")[0] == 404
    assert hub.request("POST", "/api/pulls/77/close", {})[0] == 404
    assert hub.request("POST", "/api/pulls/77/reopen", {})[0] == 404
    status, body = hub.request("PATCH", "/api/prs/77", {"state": "open"})
    assert status == 400 and '{"state": "closed"}' in body["message"]


def test_the_pr_verbs_say_plainly_that_they_need_a_running_hub(repo):
    done = agentcom("pr", "list", "--repo", str(repo))
    assert done.returncode == 1 and "needs a running hub" in done.stderr and "agentcom hub" in done.stderr


def test_on_github_a_human_releases_then_merges_an_escalated_pr_through_the_hubs_gatekeeper(request, fake_github,
                                                                                              repo):
    hub, remote, tmp = request.getfixturevalue("github_hub")
    token, _ = agent_holding_a_task(hub, "ada", id="T-7", prompt="add a CI step", repo="acme/web")
    head = push_branch(remote, tmp, "agent/ada/T-7-ci", {".github/workflows/ci.yml": "on: push\n"})
    pr = GitHubForge("acme/web", AGENT_TOKEN, fake_github.url).open_pr(
        "agent/ada/T-7-ci", "main", "Add CI", "AgentCom task `T-7`, by agent `ada`.")
    for body in ({"kind": "accepted", "attempt": 1}, {"kind": "done", "attempt": 1, "pr_url": pr.url}):
        assert hub.request("POST", "/api/tasks/T-7/report", body, token=token)[0] == 200
    deliver(hub, "pull_request", {"action": "opened", "number": pr.number, "repository": {"full_name": "acme/web"},
                                  "pull_request": {"number": pr.number}}, "d-7")
    pull = fake_github.repos["acme/web"].pulls[pr.number]
    wait_for(lambda: "agentcom:needs-human" in pull.labels, timeout=20)
    [row] = json.loads(_cli(hub, "list", "--json").stdout)
    assert (row["number"], row["action"], row["task"], row["agent"]) == (pr.number, "escalate", "T-7", "ada")
    fake_github.add_review("acme/web", pr.number, "grace", "APPROVED", "the step is fine")
    shown = json.loads(_cli(hub, "show", str(pr.number), "--json").stdout)
    assert [(r["user"]["login"], r["state"]) for r in shown["reviews"]] == [("grace", "APPROVED")]

    assert "released acme/web" in _cli(hub, "release", str(pr.number), "--reason", "reviewed").stdout
    assert "agentcom:needs-human" not in pull.labels
    human = f"human: acme/web#{pr.number} release by {_me(hub)}"
    wait_for(lambda: human in git(repo, "log", "--format=%s", "main").stdout, timeout=20)
    # the gatekeeper decides again: the same escalation for the same head, so nothing new to commit,
    # and it does not label the PR again (the human who released it decides)
    wait_for(lambda: fake_github.repos["acme/web"].pulls[pr.number].labels.count("agentcom:needs-human") == 0)

    done = json.loads(_cli(hub, "merge", str(pr.number), "--json").stdout)
    # the task is done whether it waited in review on this PR (settled now) or not (done at its report)
    assert (done["verb"], done["head_sha"], done["task"]) == ("merge", head, "T-7")
    assert pull.merged and _task(hub, "T-7")["state"] == "done"
    message = git(tmp, "--git-dir", str(remote), "log", "-1", "--format=%B", "main").stdout
    assert message.startswith(f"Add CI (#{pr.number})\n\n")
    assert f"Task: T-7\nAgent: ada\nReviewed-Head: {head}\nMerged-By: {_me(hub)}" in message
    [kept] = hub.request("GET", "/api/reviews")[1]["reviews"]
    assert (kept["state"], kept["human"]["verb"], kept["human"]["by"]) == ("closed", "merge", _me(hub))


@pytest.mark.parametrize(("path", "body", "why"), [
    ("settle", {"merged": True}, "pr_url must be"),
    ("settle", {"pr_url": "x" * 2001, "merged": True}, "pr_url must be"),
    ("settle", {"pr_url": "http://h/api/prs/1", "merged": "yes"}, "merged must be true or false"),
    ("settle", {"pr_url": "http://h/api/prs/1", "merged": False, "why": "w" * 501}, "at most 500"),
    ("send-back", {"pr_url": "http://h/api/prs/1", "rework": {"kind": "rm -rf"}}, "kind is one of"),
    ("send-back", {"pr_url": "http://h/api/prs/1", "rework": "conflict"}, "kind is one of"),
    ("send-back", {"pr_url": "http://h/api/prs/1", "rework": {"kind": "check", "detail": "d" * 65537}}, "detail"),
    ("send-back", {"pr_url": "http://h/api/prs/1", "rework": {"kind": "check", "branch": ["x"]}}, "branch"),
])
def test_a_bad_settle_or_send_back_is_a_clear_400_and_the_task_stays_in_review(hub, tmp_path, path, body, why):
    _, _, task_id, _ = _in_review(hub, tmp_path)
    status, answer = hub.request("POST", f"/api/reviews/tasks/{task_id}/{path}", body)
    assert status == 400 and why in answer["message"], answer
    assert _task(hub, task_id)["state"] == "review"


def test_settle_and_send_back_through_the_api_move_only_a_task_waiting_on_that_very_pr(hub, tmp_path):
    _, _, task_id, number = _in_review(hub, tmp_path)
    url = f"{hub.url}/api/prs/{number}"
    other = hub.request("POST", f"/api/reviews/tasks/{task_id}/settle", {"pr_url": f"{hub.url}/api/prs/999",
                                                                        "merged": True})
    assert other == (200, {"task": None, "settled": False}) and _task(hub, task_id)["state"] == "review"
    status, body = hub.request("POST", f"/api/reviews/tasks/{task_id}/send-back",
                               {"pr_url": url, "rework": {"kind": "check", "detail": "FAILED test_x"}})
    assert status == 200 and body["sent"] and body["task"]["rework"]["detail"] == "FAILED test_x"
    assert hub.request("GET", "/api/reviews/tasks")[1] == {"tasks": []}   # nothing waits in review now
    again = hub.request("POST", f"/api/reviews/tasks/{task_id}/send-back", {"pr_url": url,
                                                                           "rework": {"kind": "check"}})
    assert again == (200, {"task": None, "sent": False})   # a repeat changes nothing


@pytest.mark.parametrize("log", ["x" * 8001, 42, ["FAILED"]])
def test_a_status_log_past_its_bound_or_not_text_is_refused(hub, tmp_path, log):
    remote, _, task_id, number = _in_review(hub, tmp_path)
    head = git(tmp_path, "--git-dir", str(remote), "rev-parse", f"agent/ada/{task_id}").stdout.strip()
    status, body = hub.request("POST", f"/api/prs/{number}/statuses",
                               {"sha": head, "state": "failure", "context": "ci", "log": log})
    assert status == 400 and "log must be text of at most 8000" in body["message"]
    assert hub.request("GET", f"/api/prs/{number}")[1].get("statuses", []) == []
