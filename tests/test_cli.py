"""The CLI as a user runs it: against a running hub (HTTP) and, with none, straight on the repo."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.processes import CLI, agentcom


def test_submit_without_a_hub_commits_into_the_repo(repo):
    done = agentcom("submit", "Fix the login redirect", "--title", "Login", "--priority", "high",
                    "--needs", "python,git", "--to", "ada", "--after", "a-1,a-2", "--max-retries", "5",
                    "--deadline", "30m", "--repo", str(repo), check=True)
    task_id = done.stdout.strip()
    shown = json.loads(agentcom("show", task_id, "--repo", str(repo), "--json", check=True).stdout)
    task = shown["task"]
    assert shown["path"] == f"queue/high/{task_id}.yaml"
    assert (task["title"], task["needs"], task["pin"], task["depends_on"], task["max_retries"]) == \
        ("Login", ["python", "git"], "ada", ["a-1", "a-2"], 5)
    assert task["deadline"].endswith("Z")


def test_every_verb_works_through_a_running_hub(hub, repo):
    task_id = agentcom("submit", "hello", "--repo", str(repo), check=True).stdout.strip()
    status = json.loads(agentcom("status", "--json", "--repo", str(repo), check=True).stdout)
    assert [t["id"] for t in status["tasks"]] == [task_id] and status["lanes"]["normal"] == 1
    table = agentcom("status", "--repo", str(repo), check=True).stdout
    assert task_id in table and "queued" in table
    assert "cancelled" in agentcom("cancel", task_id, "--hub", hub.url, "--repo", str(repo), check=True).stdout
    assert "queued in urgent" in agentcom("retry", task_id, "--lane", "urgent", "--repo", str(repo), check=True).stdout
    log = agentcom("log", task_id, "--repo", str(repo), check=True).stdout.splitlines()
    assert [line.split("  ")[2] for line in log] == ["new → queued", "queued → cancelled", "cancelled → queued"]
    assert "submitted by api (local operator)" in log[0]


def test_a_change_without_the_operator_token_is_refused(hub):
    status, body = hub.request("POST", "/api/tasks", {"prompt": "x"}, token=None)
    assert status == 401 and "operator token" in body["message"]
    status, body = hub.request("POST", "/api/tasks", {"prompt": "x"}, token="acm_op_forged")
    assert status == 401
    assert hub.request("GET", "/api/status", token=None)[0] == 200


def test_api_errors_are_clear_and_change_nothing(hub):
    head = hub.request("GET", "/api/health")[1]["head"]
    status, body = hub.request("POST", "/api/tasks", {"prompt": "x", "priority": "asap"})
    assert status == 422 and any("priority" in p for p in body["problems"])
    status, body = hub.request("POST", "/api/tasks/nope/cancel", {})
    assert status == 404 and "no task with id 'nope'" in body["message"]
    status, body = hub.request("GET", "/api/tasks/..%2Fetc")
    assert status in (400, 404)
    assert hub.request("GET", "/api/health")[1]["head"] == head


def test_exit_codes_and_messages(repo, tmp_path):
    missing = agentcom("status", "--repo", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "is not an AgentCom coordination repo" in missing.stderr
    bad_id = agentcom("show", "../x", "--repo", str(repo))
    assert bad_id.returncode == 2 and "is not a task id" in bad_id.stderr
    unknown = agentcom("cancel", "no-such", "--repo", str(repo))
    assert unknown.returncode == 1 and "no task with id 'no-such'" in unknown.stderr
    usage = agentcom("submit", "x", "--priority", "asap", "--repo", str(repo))
    assert usage.returncode == 2
    invalid = agentcom("submit", "x", "--deadline", "soonish", "--repo", str(repo))
    assert invalid.returncode == 1 and "deadline: 'soonish'" in invalid.stderr


def test_second_hub_on_the_same_repo_refuses_at_once_saying_where_the_first_serves(hub, repo):
    second = agentcom("hub", "--repo", str(repo), "--port", "0", timeout=20)  # no wait for a hub
    assert second.returncode == 1, second.stderr
    assert f"a hub already serves {repo} at {hub.url}: use it" in second.stderr
    assert f"--hub {hub.url}" in second.stderr and "waiting" not in second.stdout + second.stderr


def test_hub_with_no_repo_makes_the_default_one_and_prints_its_address(tmp_path):
    default = tmp_path / "default.git"
    p = subprocess.Popen([sys.executable, str(CLI), "hub", "--port", "0"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env={**os.environ, "AGENTCOM_REPO": str(default)})
    try:
        first, second = p.stdout.readline(), p.stdout.readline()
    finally:
        p.terminate()
        p.communicate(timeout=30)
    assert f"Created the coordination repo {default}" in first
    assert "AgentCom hub running at http://127.0.0.1:" in second
    assert (default / "HEAD").is_file() and (default / "agentcom" / "operator.token").is_file()


def test_a_mirror_moved_to_a_new_place_is_adopted_by_init_and_served(repo, tmp_path):
    task_id = agentcom("submit", "carry me over", "--repo", str(repo), check=True).stdout.strip()
    moved = tmp_path / "moved.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(repo), str(moved)], check=True, timeout=60)
    refused = agentcom("status", "--repo", str(moved))
    assert refused.returncode == 1 and "adopts a mirror" in refused.stderr
    assert "is a coordination repo; its hooks and push settings are in place" in \
        agentcom("init", str(moved), check=True).stdout
    assert task_id in agentcom("status", "--repo", str(moved), check=True).stdout
    hook = subprocess.run(["git", "config", "--file", str(moved / "config"), "receive.denyNonFastForwards"],
                          capture_output=True, text=True, timeout=30)
    assert hook.stdout.strip() == "true" and os.access(moved / "hooks" / "pre-receive", os.X_OK)


def test_api_bodies_that_are_not_json_objects_get_a_json_error(hub):
    import urllib.request
    task = hub.request("POST", "/api/tasks", {"prompt": "x"})[1]["task"]
    hub.request("POST", f"/api/tasks/{task['id']}/cancel", {})
    status, body = hub.request("POST", f"/api/tasks/{task['id']}/retry", [1])
    assert status == 400 and "JSON object" in body["message"]
    req = urllib.request.Request(hub.url + "/api/tasks", data=b"not json", method="POST",
                                 headers={"Authorization": f"Bearer {hub.token}"})
    try:
        urllib.request.urlopen(req, timeout=30)
    except urllib.error.HTTPError as e:
        assert e.code == 400 and json.loads(e.read())["error"] == "BadJson"
    status, body = hub.request("POST", f"/api/tasks/{task['id']}/retry", {"lane": "urgent"})
    assert status == 200 and body["task"]["priority"] == "urgent"


def test_a_token_removed_from_the_table_stops_working_at_once(hub, repo):
    assert hub.request("POST", "/api/tasks", {"prompt": "x"})[0] == 201
    (repo / "agentcom" / "tokens.json").write_text("{}")
    assert hub.request("POST", "/api/tasks", {"prompt": "x"})[0] == 401


def test_show_says_what_a_queued_task_waits_on(hub, repo):
    from tests.support.fleet_api import beat, register, submit, take
    token = register(hub, "ada")
    beat(hub, "ada", token)
    beat(hub, "bob", register(hub, "bob"))  # free, yet it is not given the task that would collide
    web = "https://example.com/acme/web"
    take(hub, "ada", token, submit(hub, id="old", repo=web, scope=["src/a/**"]))
    submit(hub, id="new", repo=web, scope=["src/a/b.py"])
    text = agentcom("show", "new", "--hub", hub.url, "--repo", str(repo), check=True).stdout
    assert "(queued)" in text and "waiting on: old" in text
    shown = json.loads(agentcom("show", "old", "--hub", hub.url, "--repo", str(repo), "--json", check=True).stdout)
    assert (shown["state"], shown["waiting_on"], shown["collides_with"]) == ("working", [], [])


def test_help_lists_every_verb_a_newcomer_needs_and_version_answers():
    shown = agentcom("--help", check=True).stdout
    listed = {line.split()[0] for line in shown.split("Commands:")[1].splitlines() if line.strip()}
    assert {"init", "hub", "submit", "status", "health", "log", "demo", "add-agent", "test", "lint"} <= listed
    from coordinator import __version__

    for flag in ("--version", "-V"):
        assert agentcom(flag, check=True).stdout.strip() == f"agentcom {__version__}"
