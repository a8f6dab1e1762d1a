"""Self-tests and revoked tokens with a real hub and real sidecar processes: the sidecar answers
a self-test itself (the agent never runs), only the hub can mark one, add-agent's last step names
what failed, and a revoked token is refused at once, even for a sidecar already connected."""
from __future__ import annotations

import json
import re
import time

import pytest

from coordinator.wire.client import HttpBackend
from sidecar.onboard.steps import StepFailed
from sidecar.onboard.verify import self_test
from tests.support.gitenv import git
from tests.support.processes import wait_for

pytestmark = pytest.mark.slow


def api(hub) -> HttpBackend:
    return HttpBackend(hub.url, hub.token, timeout=10)


def shown(hub, task_id: str) -> dict:
    status, body = hub.request("GET", f"/api/tasks/{task_id}")
    assert status == 200, body
    return {**body["task"], "state": body["state"]}


def test_the_sidecar_answers_a_self_test_itself_and_the_agent_never_runs(hub, sidecars):
    agent = sidecars.agent(hub, "ada")
    sidecars.start(agent)
    result = self_test(api(hub), "ada", agent.state_dir, timeout=20)
    assert "warning" not in result
    task = shown(hub, result["task"])
    assert task["state"] == "done" and task["self_test"] is True and task["pin"] == "ada"
    assert task["result"]["summary"].startswith("self-test passed: command resolves to ")
    assert agent.runs(result["task"]) == [] and not list(agent.records.glob("run.*"))
    assert (agent.state_dir / "finished" / f"{result['task']}.1").is_dir()
    assert hub.request("GET", "/api/state")[1]["health"]["total"] == 0


def test_a_failed_self_test_names_the_reason_and_is_cancelled_so_health_stays_clear(hub, sidecars, repo):
    agent = sidecars.agent(hub, "ada", command=["no-such-agent-program", "--", "{prompt}"])
    sidecars.start(agent)
    with pytest.raises(StepFailed) as failed:
        self_test(api(hub), "ada", agent.state_dir, timeout=20)
    assert failed.value.step == "self-test"
    assert ("agent run failed: ada reported failure: self-test failed: command: 'no-such-agent-program' is not found"
            in failed.value.problem)
    task_id = re.search(r"\(task (\S+); cancelled; its history stays in git\)", failed.value.problem).group(1)
    # ended, not left dead: a dead task would keep `agentcom health` failing for ever
    assert shown(hub, task_id)["state"] == "cancelled"
    assert hub.request("GET", "/api/state")[1]["health"]["total"] == 0
    moves = git(repo, "log", "--format=%s", "--", f"*{task_id}*").stdout
    assert "→ dead" in moves and "dead → cancelled" in moves, moves


def test_with_no_sidecar_running_the_self_test_names_the_missing_heartbeat_and_is_cancelled(hub, sidecars):
    agent = sidecars.agent(hub, "ada")
    with pytest.raises(StepFailed) as failed:
        self_test(api(hub), "ada", agent.state_dir, timeout=1.5)
    assert failed.value.problem.startswith("no heartbeat: the hub has not heard from the sidecar")
    task_id = failed.value.problem.split("(task ")[1].split()[0]
    assert shown(hub, task_id)["state"] == "cancelled"


def test_a_sidecar_the_hub_cannot_notify_is_named_not_notified(hub, sidecars):
    agent = sidecars.agent(hub, "ada", heartbeat="60s", advertise="http://127.0.0.1:9/notify")
    sidecars.start(agent)
    wait_for(lambda: (agent.state_dir / "sidecar.json").exists())
    with pytest.raises(StepFailed) as failed:
        self_test(api(hub), "ada", agent.state_dir, timeout=2)
    assert failed.value.problem.startswith("not notified: the hub assigned the task")
    assert "http://127.0.0.1:9/notify" in failed.value.problem and "advertise" in failed.value.fix


def test_a_self_test_that_only_a_heartbeat_delivered_passes_with_a_not_notified_warning(hub, sidecars):
    agent = sidecars.agent(hub, "ada", heartbeat="9s", advertise="http://127.0.0.1:9/notify")
    sidecars.start(agent)
    wait_for(lambda: (agent.state_dir / "sidecar.json").exists())
    result = self_test(api(hub), "ada", agent.state_dir, timeout=20)
    assert shown(hub, result["task"])["state"] == "done"
    assert result["warning"].startswith("not notified: the sidecar took the task ")
    assert "http://127.0.0.1:9/notify" in result["warning"]


def test_only_the_hub_marks_a_self_test(hub, clone, sidecars):
    status, body = hub.request("POST", "/api/tasks", {"prompt": "done", "self_test": True})
    assert status == 422 and "field 'self_test' is written by the coordinator; remove it" in body["message"]
    (clone / "inbox" / "sneaky.yaml").write_text("prompt: done\nself_test: true\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "a real task dressed as a self-test")
    pushed = git(clone, "push", "-q", "origin", "main", check=False)
    assert pushed.returncode != 0 and "self_test" in pushed.stderr
    assert hub.request("POST", "/api/agents/nobody/self-test", {})[0] == 404
    agent = sidecars.agent(hub, "ada")
    assert hub.request("POST", "/api/agents/ada/self-test", {}, token=agent.token)[0] == 403
    assert hub.request("POST", "/api/agents/ada/self-test", {}, token=None)[0] == 401


def test_a_revoked_token_is_refused_at_once_for_a_connected_sidecar_which_says_so_and_keeps_its_outbox(hub, sidecars):
    agent = sidecars.agent(hub, "ada", heartbeat="1s")
    process = sidecars.start(agent)
    status, body = hub.request("POST", "/api/tasks", {"prompt": "wait", "pin": "ada"})
    task_id = body["id"]
    wait_for(lambda: agent.runs(task_id), timeout=15)
    wait_for(lambda: shown(hub, task_id)["state"] == "working")

    revoked_at = time.time()
    status, body = hub.request("DELETE", "/api/agents/ada")
    assert status == 200 and body["tokens_revoked"] == 1
    assert hub.request("GET", "/api/agents/ada/assignments", token=agent.token)[0] == 401  # at once

    def refused():
        info = json.loads((agent.state_dir / "sidecar.json").read_text())
        return info if info.get("hub_refused") == 401 else None
    info = wait_for(refused, timeout=10)
    noticed = time.time() - revoked_at
    print(f"a connected sidecar was refused {noticed:.2f}s after its token was revoked (heartbeat 1s)")
    assert noticed < 5
    assert "its token was revoked or replaced" in info["hub_error"]
    assert "`agentcom add-agent ada --hub URL`" in info["hub_error"]

    agent.release(task_id)  # the agent finishes: its report cannot be delivered, and is kept
    kept = wait_for(lambda: [x for x in agent.outbox() if x["body"]["kind"] == "done"], timeout=15)
    assert kept[0]["task_id"] == task_id
    wait_for(lambda: "the hub refuses this sidecar (401 Unauthorized)" in process.output(), timeout=10)
    assert process.proc.poll() is None  # it keeps running, and keeps the report for a human
