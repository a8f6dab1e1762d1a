"""Agents through a real hub process on 127.0.0.1: roles, tokens, heartbeats, reports, timers,
and the git paths (a refused push to agents/, a dead task retried by `git mv`)."""
from __future__ import annotations

import json

from tests.support.gitenv import git
from tests.support.processes import agentcom, wait_for


def register(hub, name, **fields):
    status, body = hub.request("POST", "/api/agents", {"name": name, **fields})
    assert status == 201, body
    return body["token"]


def beat(hub, name, token, **body):
    return hub.request("POST", f"/api/agents/{name}/heartbeat", body, token=token)


def report(hub, task_id, token, **body):
    return hub.request("POST", f"/api/tasks/{task_id}/report", body, token=token)


def submit(hub, **fields):
    status, body = hub.request("POST", "/api/tasks", {"prompt": "do it", **fields})
    assert status == 201, body
    return body["id"]


def test_roles_keep_agents_and_operators_apart(hub):
    ada = register(hub, "ada")
    bob = register(hub, "bob")
    assert hub.request("POST", "/api/tasks", {"prompt": "x"}, token=ada)[0] == 403
    assert hub.request("POST", "/api/agents", {"name": "eve"}, token=ada)[0] == 403
    status, body = beat(hub, "ada", "operator")
    assert status == 403 and "needs the agent role" in body["message"]
    status, body = beat(hub, "bob", ada)
    assert status == 403 and "belongs to agent ada" in body["message"]
    assert beat(hub, "ada", None)[0] == 401
    assert beat(hub, "bob", bob)[0] == 200


def test_work_flows_from_submit_to_done_over_http_and_a_stale_report_is_refused(hub):
    token = register(hub, "ada", capabilities=["python"])
    status, body = beat(hub, "ada", token, url="http://127.0.0.1:9/notify")
    assert (status, body["state"], body["assignments"]) == (200, "idle", [])
    task_id = submit(hub, needs=["python"])
    # scheduling follows the event itself: no heartbeat is needed to get the work
    mine = wait_for(lambda: hub.request("GET", "/api/agents/ada/assignments", token=token)[1]["assignments"])
    assert [(a["id"], a["attempt"]) for a in mine] == [(task_id, 1)]
    assert report(hub, task_id, token, kind="accepted", attempt=1)[0] == 200
    status, body = report(hub, task_id, token, kind="done", attempt=2, summary="wrong attempt")
    assert status == 409 and body["error"] == "StaleReport" and "attempt 2 was never handed out" in body["message"]
    status, body = report(hub, task_id, token, kind="done", attempt=1, summary="ok", tokens={"total": 42})
    assert (status, body["state"], body["duplicate"]) == (200, "done", False)
    assert report(hub, task_id, token, kind="done", attempt=1, summary="ok")[1]["duplicate"] is True
    agents = hub.request("GET", "/api/agents")[1]["agents"]
    assert [(a["name"], a["state"], a["tasks"]) for a in agents] == [("ada", "idle", [])]
    assert agents[0]["last_heartbeat"]


def test_a_bad_report_names_the_field(hub):
    token = register(hub, "ada")
    task_id = submit(hub)
    status, body = report(hub, task_id, token, kind="finished", attempt=1)
    assert status == 400 and "kind" in body["message"]
    status, body = report(hub, task_id, token, kind="failed", attempt=1)
    assert status == 400 and "'reason' is a required property" in body["message"]
    status, body = report(hub, task_id, token, kind="done", attempt=0)
    assert status == 400 and "attempt" in body["message"]


def test_a_revoked_or_rotated_token_stops_working_at_once(hub):
    old = register(hub, "ada")
    assert beat(hub, "ada", old)[0] == 200
    status, body = hub.request("POST", "/api/agents", {"name": "ada", "rotate_token": True})
    assert status == 200 and body["token"] and not body["created"]
    assert beat(hub, "ada", old)[0] == 401
    assert beat(hub, "ada", body["token"])[0] == 200
    status, body = hub.request("DELETE", "/api/agents/ada")
    assert status == 200 and body["tokens_revoked"] == 1
    assert beat(hub, "ada", old)[0] == 401


def test_the_loop_wakes_for_a_not_before_time_without_any_request(hub):
    token = register(hub, "ada")
    beat(hub, "ada", token)
    task_id = submit(hub, not_before="1s")
    assert hub.request("GET", "/api/agents/ada/assignments", token=token)[1]["assignments"] == []
    # the rescan interval is 30 s: only the timer can make this happen within a few seconds
    wait_for(lambda: hub.request("GET", f"/api/tasks/{task_id}")[1]["state"] == "assigned", timeout=8)


def test_a_push_that_edits_an_agent_file_is_refused(hub, repo, tmp_path):
    register(hub, "ada")
    clone = tmp_path / "c"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    (clone / "agents" / "ada.yaml").write_text("name: ada\ncapabilities: [root]\n")
    git(clone, "commit", "-qam", "give ada more rights")
    pushed = git(clone, "push", "-q", "origin", "main", check=False)
    assert pushed.returncode != 0 and "agents/ is written by the coordinator only" in pushed.stderr


def test_a_dead_task_moved_back_by_git_mv_runs_again_with_a_fresh_budget(hub, repo, tmp_path):
    token = register(hub, "ada")
    beat(hub, "ada", token)
    task_id = submit(hub, max_retries=0)
    wait_for(lambda: hub.request("GET", "/api/agents/ada/assignments", token=token)[1]["assignments"])
    report(hub, task_id, token, kind="failed", attempt=1, reason="broke")
    assert hub.request("GET", f"/api/tasks/{task_id}")[1]["state"] == "dead"
    clone = tmp_path / "c"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "mv", f"dead/{task_id}.yaml", f"queue/high/{task_id}.yaml")
    git(clone, "commit", "-qm", "try again")
    git(clone, "push", "-q", "origin", "main")
    mine = wait_for(lambda: hub.request("GET", "/api/agents/ada/assignments", token=token)[1]["assignments"])
    assert [(a["id"], a["attempt"], a["task"]["attempt_base"], a["task"]["priority"]) for a in mine] == \
        [(task_id, 2, 1, "high")]


def test_the_cli_registers_lists_and_removes_agents(repo):
    added = agentcom("agent", "register", "ada", "--capabilities", "python,git", "--repo", str(repo), check=True)
    assert "registered agent ada (capabilities: git, python; slots 1; offline)" in added.stdout
    assert "token (shown once" in added.stdout
    again = agentcom("agent", "add", "ada", "--capabilities", "python,git", "--repo", str(repo), check=True)
    assert "token is unchanged" in again.stdout
    listed = json.loads(agentcom("agent", "list", "--json", "--repo", str(repo), check=True).stdout)
    assert [(a["name"], a["state"]) for a in listed] == [("ada", "offline")]
    removed = agentcom("agent", "remove", "ada", "--repo", str(repo), check=True)
    assert "1 token(s) revoked" in removed.stdout
    bad = agentcom("agent", "register", "no/slash", "--repo", str(repo))
    assert bad.returncode == 1 and "name" in bad.stderr


def test_agent_add_still_registers_but_the_help_names_only_register(repo):
    added = agentcom("agent", "add", "ada", "--repo", str(repo), check=True)
    assert "registered agent ada" in added.stdout
    shown = agentcom("agent", "--help", check=True).stdout
    assert "register" in shown and " add " not in shown
