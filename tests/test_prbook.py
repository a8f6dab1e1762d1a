"""Who may record what on the local forge, through a real hub: an agent's token opens pull
requests only for its own task, on that task's repo, from its own branches, and labels and
comments only on its own; the operator's token may do anything."""
from __future__ import annotations

from tests.support.gitenv import git
from tests.support.held import agent_holding_a_task
from tests.support.targets import make_remote, push_branch


def _request(remote, head: str, task: str | None, **changes) -> dict:
    sha = git(remote, "rev-parse", f"refs/heads/{head}").stdout.strip() if "head_sha" not in changes else None
    body = {"repo": str(remote), "head": head, "base": "main", "head_sha": sha, "title": "A change", "task": task}
    return {k: v for k, v in {**body, **changes}.items() if v is not None}


def test_an_agent_opens_a_pr_only_for_its_own_task_repo_and_branch(hub, tmp_path):
    remote = make_remote(tmp_path / "remotes")
    elsewhere = make_remote(tmp_path / "remotes", "acme/other")
    ada, ada_task = agent_holding_a_task(hub, "ada", repo=str(remote))
    bob, bob_task = agent_holding_a_task(hub, "bob", repo=str(remote))
    push_branch(remote, tmp_path, "agent/ada/x", {"a.txt": "1\n"})
    push_branch(remote, tmp_path, "agent/bob/y", {"b.txt": "2\n"})
    (tmp_path / "e").mkdir()
    push_branch(elsewhere, tmp_path / "e", "agent/ada/x", {"a.txt": "1\n"})

    refusals = [
        (_request(remote, "agent/ada/x", None), "must name its task"),
        (_request(remote, "agent/ada/x", bob_task), f"task {bob_task} is not held by this agent"),
        (_request(remote, "agent/ada/x", "T-none"), "there is no task T-none"),
        (_request(elsewhere, "agent/ada/x", ada_task), f"is not the repo of task {ada_task}"),
        (_request(remote, "agent/bob/y", ada_task), "head agent/bob/y is not one of this agent's branches"),
        ({**_request(remote, "agent/ada/x", ada_task), "repo": "/etc"}, f"is not the repo of task {ada_task}"),
    ]
    for request, why in refusals:
        status, body = hub.request("POST", "/api/prs", request, token=ada)
        assert (status, body["error"]) == (403, "NotYours") and why in body["message"], (request, body)
    status, body = hub.request("POST", "/api/prs", _request(remote, "agent/ada/x", ada_task, head_sha="a" * 40),
                               token=ada)
    assert status == 422 and body["problems"] == ["head_sha is not the commit agent/ada/x is at in the repo"]
    assert hub.request("GET", "/api/prs")[1]["prs"] == []  # nothing was recorded

    status, body = hub.request("POST", "/api/prs", _request(remote, "agent/ada/x", ada_task), token=ada)
    assert status == 201 and (body["author"], body["task"]) == ("ada", ada_task)
    # the operator may open any, with or without a task
    assert hub.request("POST", "/api/prs", _request(remote, "agent/bob/y", None))[0] == 201


def test_an_agent_labels_and_comments_only_on_its_own_prs(hub, tmp_path):
    remote = make_remote(tmp_path / "remotes")
    ada, ada_task = agent_holding_a_task(hub, "ada", repo=str(remote))
    bob, _ = agent_holding_a_task(hub, "bob", repo=str(remote))
    push_branch(remote, tmp_path, "agent/ada/x", {"a.txt": "1\n"})
    number = hub.request("POST", "/api/prs", _request(remote, "agent/ada/x", ada_task), token=ada)[1]["number"]

    status, body = hub.request("POST", f"/api/prs/{number}/labels", {"labels": ["approved"]}, token=bob)
    assert (status, body["error"]) == (403, "NotYours") and f"#{number} was opened by someone else" in body["message"]
    status, body = hub.request("POST", f"/api/prs/{number}/comments", {"body": "LGTM"}, token=bob)
    assert (status, body["error"]) == (403, "NotYours")
    record = hub.request("GET", f"/api/prs/{number}")[1]
    assert (record["labels"], record["comments"]) == ([], [])

    assert hub.request("POST", f"/api/prs/{number}/labels", {"labels": ["mine"]}, token=ada)[0] == 200
    assert hub.request("POST", f"/api/prs/{number}/comments", {"body": "ready"}, token=ada)[0] == 201
    assert hub.request("POST", f"/api/prs/{number}/labels", {"labels": ["checked"]})[0] == 200  # the operator
    assert hub.request("GET", f"/api/prs/{number}")[1]["labels"] == ["mine", "checked"]


def test_the_list_of_prs_holds_summaries_and_a_prs_comments_are_bounded_in_all(hub, tmp_path):
    remote = make_remote(tmp_path / "remotes")
    push_branch(remote, tmp_path, "agent/ada/x", {"a.txt": "1\n"})
    number = hub.request("POST", "/api/prs", _request(remote, "agent/ada/x", None, body="the long story"))[1]["number"]
    for _ in range(16):  # 16 comments at their own limit: 1 MiB in all
        assert hub.request("POST", f"/api/prs/{number}/comments", {"body": "x" * 65536})[0] == 201

    status, body = hub.request("POST", f"/api/prs/{number}/comments", {"body": "one more"})
    assert status == 400 and "comments would pass 1048576 bytes in all (1048576 held)" in body["message"]
    [listed] = hub.request("GET", "/api/prs")[1]["prs"]
    assert "body" not in listed and "comments" not in listed
    assert (listed["number"], listed["head"], listed["comment_count"]) == (number, "agent/ada/x", 16)
    whole = hub.request("GET", f"/api/prs/{number}")[1]
    assert whole["body"] == "the long story" and len(whole["comments"]) == 16


def test_a_push_of_a_file_named_prs_is_refused_and_prs_still_open(hub, clone, tmp_path):
    (clone / "prs").write_text("a file where the records' directory goes\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "a file named prs")
    pushed = git(clone, "push", "origin", "HEAD:main", check=False)
    assert pushed.returncode != 0
    assert "prs: the coordinator keeps a directory prs/ here; name the file something else" in pushed.stderr

    remote = make_remote(tmp_path / "remotes")
    push_branch(remote, tmp_path, "agent/ada/x", {"a.txt": "1\n"})
    assert hub.request("POST", "/api/prs", _request(remote, "agent/ada/x", None))[0] == 201
