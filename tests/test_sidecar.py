"""The sidecar end to end: a real hub on 127.0.0.1, real sidecar processes killed with SIGKILL,
real agent processes (tests/support/fake_agent.py), real git. Each test waits on conditions,
never on the clock."""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

import pytest

from coordinator.wire.protocol import NOTIFY_MAX_AGE, SIGNATURE_HEADER, TIMESTAMP_HEADER, notify_key, sign
from sidecar.runtime.runs import process_start
from tests.support.processes import wait_for
from tests.support.sidecars import FAKE_AGENT


def submit(hub, prompt: str, **fields) -> str:
    status, body = hub.request("POST", "/api/tasks", {"prompt": prompt, **fields})
    assert status == 201, body
    return body["id"]


def task(hub, task_id: str) -> dict:
    status, body = hub.request("GET", f"/api/tasks/{task_id}")
    assert status == 200, body
    return {**body["task"], "state": body["state"]}


def state(hub, task_id: str) -> str:
    return task(hub, task_id)["state"]


def moves(hub, task_id: str) -> list[tuple[str, str, int]]:
    """The task's transitions from git: (from, to, attempt), oldest first."""
    status, body = hub.request("GET", f"/api/tasks/{task_id}/log")
    assert status == 200, body
    return [(m["from"], m["to"], m["attempt"]) for m in body["history"]]


def note(hub, task_id: str) -> str:
    """The task's last progress note as the status page shows it ('' when none)."""
    rows = [t for t in hub.request("GET", "/api/status")[1]["tasks"] if t["id"] == task_id]
    return (rows[0].get("note") or "") if rows else ""


def assert_done_once(hub, task_id: str) -> None:
    history = moves(hub, task_id)
    assert [m for m in history if m[1] == "done"] == [("working", "done", 1)], history
    assert [m for m in history if m[1] == "working"] == [("assigned", "working", 1)], history
    outcome = task(hub, task_id)["outcome"]
    assert (outcome["kind"], outcome["attempt"], outcome["agent"]) == ("done", 1, "ada")


def last_heartbeat(agent) -> float | None:
    """When the agent's sidecar last heard back from the hub (its sidecar.json)."""
    path = agent.state_dir / "sidecar.json"
    return json.loads(path.read_text()).get("last_heartbeat") if path.exists() else None


def alive(process: dict) -> bool:
    return process_start(process["pid"]) == process["start"]


def started_run(hub, agent, task_id: str) -> dict:
    """The one run of the task, once its agent runs and the hub has it working."""
    [run] = wait_for(lambda: agent.runs(task_id), timeout=15)
    wait_for(lambda: state(hub, task_id) == "working")
    return run


# --- crashes -------------------------------------------------------------------------------

def test_a_sidecar_killed_mid_task_picks_its_run_up_again_and_the_task_is_done_once(hub, sidecars):
    ada = sidecars.agent(hub, "ada")
    first = sidecars.start(ada)
    task_id = submit(hub, "wait")
    run = started_run(hub, ada, task_id)
    assert run["sid"] == run["pgid"] != os.getsid(0)  # detached from the sidecar (setsid)

    first.kill()
    assert alive(run)  # the agent outlives its sidecar
    sidecars.start(ada)
    ada.release(task_id)  # the agent finishes under the new sidecar, which did not start it

    wait_for(lambda: state(hub, task_id) == "done", timeout=15)
    assert len(ada.runs(task_id)) == 1  # picked up, not run again
    assert_done_once(hub, task_id)
    wait_for(lambda: ada.finished_dir(task_id).exists())
    assert ada.outbox() == []


def test_a_run_lost_with_its_machine_is_run_again_visibly_and_the_task_ends_done(hub, sidecars):
    ada = sidecars.agent(hub, "ada")
    first = sidecars.start(ada)
    task_id = submit(hub, "wait")
    run = started_run(hub, ada, task_id)

    first.kill()  # the machine dies: the sidecar, and the agent's whole process group
    wrapper = json.loads((ada.run_dir(task_id) / "wrapper.json").read_text())
    assert alive(wrapper) and wrapper["pid"] == run["pgid"]
    os.killpg(wrapper["pid"], signal.SIGKILL)
    wait_for(lambda: not alive(run) and not alive(wrapper))

    second = sidecars.start(ada)
    wait_for(lambda: note(hub, task_id).startswith("re-running"))
    wait_for(lambda: len(ada.runs(task_id)) == 2, timeout=15)
    ada.release(task_id)

    wait_for(lambda: state(hub, task_id) == "done", timeout=15)
    history = hub.request("GET", f"/api/tasks/{task_id}/log")[1]["history"]
    assert [(h["from"], h["to"], h["attempt"], h["run"]) for h in history] == [
        ("new", "queued", 0, 1), ("queued", "assigned", 1, 1), ("assigned", "working", 1, 1),
        ("working", "working", 1, 2), ("working", "done", 1, 2)]  # the second run on the record
    assert history[3]["reason"] == "run 2 of attempt 1: the run vanished (the sidecar or its machine restarted)"
    assert task(hub, task_id)["outcome"]["runs"] == 2
    assert "re-running (run 2): the run vanished" in second.output()
    wait_for(lambda: ada.finished_dir(task_id).exists())
    assert (ada.finished_dir(task_id) / "run1.wrapper.json").exists()  # the lost run is kept aside


def test_a_result_made_while_the_hub_is_down_waits_in_the_outbox_until_it_is_back(hubs, sidecars):
    hub = hubs()
    ada = sidecars.agent(hub, "ada")
    sidecars.start(ada)
    task_id = submit(hub, "wait")
    started_run(hub, ada, task_id)

    hub.kill()
    ada.release(task_id)
    waiting = wait_for(lambda: ada.outbox(), timeout=15)
    assert [(w["task_id"], w["body"]["kind"], w["body"]["attempt"]) for w in waiting] == [(task_id, "done", 1)]
    assert ada.run_dir(task_id).exists()  # held until the hub has it

    again = hubs(port=hub.port)
    wait_for(lambda: state(again, task_id) == "done", timeout=20)
    assert_done_once(again, task_id)
    wait_for(lambda: ada.outbox() == [] and ada.finished_dir(task_id).exists())


# --- the cron fallback ---------------------------------------------------------------------

def test_a_lost_notification_leaves_the_task_assigned_until_a_cron_poll_runs_it(hub, sidecars):
    with socket.create_server(("127.0.0.1", 0)) as nowhere:
        nowhere.settimeout(10)
        ada = sidecars.agent(hub, "ada", heartbeat="60s",
                             advertise=f"http://127.0.0.1:{nowhere.getsockname()[1]}/notify")
        live = sidecars.start(ada)
        wait_for(lambda: last_heartbeat(ada))  # answered (before the task existed); the next is a minute away
        task_id = submit(hub, "done")
        poke, _ = nowhere.accept()  # the hub's notification goes astray
        with poke:
            assert poke.recv(65536).startswith(b"POST /notify")
    assert state(hub, task_id) == "assigned"
    assert not ada.run_dir(task_id).exists() and ada.runs(task_id) == []
    live.stop()

    polled = sidecars.poll(ada)  # cron, with no sidecar running
    assert polled.returncode == 0, polled.stdout + polled.stderr
    assert "1 run(s) held" in polled.stdout
    assert state(hub, task_id) == "working"
    wait_for(lambda: (ada.run_dir(task_id) / "exit.json").exists(), timeout=15)

    polled = sidecars.poll(ada)
    assert polled.returncode == 0, polled.stdout + polled.stderr
    assert "0 run(s) held" in polled.stdout
    assert_done_once(hub, task_id)
    assert len(ada.runs(task_id)) == 1


def test_a_cron_poll_beside_a_live_sidecar_says_so_and_starts_nothing_twice(hub, sidecars):
    ada = sidecars.agent(hub, "ada")
    sidecars.start(ada)
    task_id = submit(hub, "wait")
    started_run(hub, ada, task_id)

    polled = sidecars.poll(ada)
    assert polled.returncode == 0, polled.stdout + polled.stderr
    assert "a sidecar runs for ada" in polled.stdout and "nothing to do" in polled.stdout

    ada.release(task_id)
    wait_for(lambda: state(hub, task_id) == "done", timeout=15)
    assert_done_once(hub, task_id)
    assert len(ada.runs(task_id)) == 1


# --- task text is data ---------------------------------------------------------------------

def test_task_text_reaches_the_agent_byte_for_byte_and_no_shell_ever_runs_it(hub, sidecars, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    m = {n: marks / n for n in "abcdefghijk"}
    prompt = (f"done $(touch {m['a']}) `touch {m['b']}`; touch {m['c']} | touch {m['d']} && touch {m['e']}\n"
              f"\"double $(touch {m['f']})\" 'single `touch {m['g']}`' \\\n"
              f"{{prompt}} {{prompt_file}} {{title}} {{task_id}} ${{HOME}} $AGENTCOM_TASK_ID %s %(x)s {{}}\n"
              f"> {m['h']} < /etc/passwd & touch {m['i']} ;\n"
              f"tab\there, \r carriage return, ünïcödé, 🤖, $'\\x41' !! \n"
              f"--help\n-rf\n\n  indented; touch {m['j']}  \n")
    ada = sidecars.agent(hub, "ada", stdin="prompt", prompt_footer=False,
                         command=[sys.executable, str(FAKE_AGENT), "--title={title}", "{task_id}", "--", "{prompt}"],
                         env={"FROM_CONFIG": f"$(touch {m['k']})"})
    sidecars.start(ada)
    task_id = submit(hub, prompt)
    wait_for(lambda: state(hub, task_id) == "done", timeout=15)

    [run] = ada.runs(task_id)
    title = task(hub, task_id)["title"]
    assert run["argv"] == [f"--title={title}", task_id, "--", prompt]
    assert ada.stdin(task_id) == [prompt.encode()]
    assert run["env"]["AGENTCOM_PROMPT"] == prompt and run["env"]["AGENTCOM_TITLE"] == title
    assert run["env"]["FROM_CONFIG"] == f"$(touch {m['k']})"
    wait_for(lambda: ada.finished_dir(task_id).exists())
    assert (ada.finished_dir(task_id) / "prompt.md").read_bytes() == prompt.encode()
    assert sorted(marks.iterdir()) == []


# --- failure is failure --------------------------------------------------------------------

@pytest.mark.parametrize("prompt, ends_in, reason", [
    ("no-result", "queued", "the agent exited with code 0 without writing a result"),
    ("exit 3 disk on fire: cannot write /tmp/x", "queued",
     "the agent exited with code 3 without writing a result; last output: disk on fire: cannot write /tmp/x"),
    ("fail permanent: the repository does not exist", "dead", "ada reported failure: the repository does not exist"),
], ids=["exit-0-without-result", "exit-3-with-stderr", "permanent-failure"])
def test_an_agent_that_does_not_report_done_fails_its_attempt(hub, sidecars, prompt, ends_in, reason):
    ada = sidecars.agent(hub, "ada")
    sidecars.start(ada)
    task_id = submit(hub, prompt)
    wait_for(lambda: task(hub, task_id).get("outcome"), timeout=15)

    ended = task(hub, task_id)
    assert ended["state"] == ends_in
    assert reason in ended["last_error"]
    assert (ended["outcome"]["kind"], ended["outcome"]["attempt"]) == ("failed", 1)
    assert "done" not in [to for _, to, _ in moves(hub, task_id)]
    wait_for(lambda: ada.finished_dir(task_id).exists())


def test_a_hung_agent_is_killed_with_its_process_group_after_run_timeout_and_fails(hub, sidecars):
    ada = sidecars.agent(hub, "ada", run_timeout="2s")
    sidecars.start(ada)
    task_id = submit(hub, "hang")
    run = started_run(hub, ada, task_id)
    [child] = wait_for(lambda: [json.loads(p.read_text()) for p in ada.records.glob(f"child.{task_id}.*.json")])

    wait_for(lambda: state(hub, task_id) == "queued", timeout=15)  # SIGTERM is ignored: SIGKILL follows
    wait_for(lambda: not alive(run) and not alive(child), timeout=2)
    ended = task(hub, task_id)
    assert "killed: still running after run_timeout (2s)" in ended["last_error"]
    assert (ended["outcome"]["kind"], ended["outcome"]["attempt"]) == ("failed", 1)


# --- the hub's notifications ---------------------------------------------------------------

def test_the_notify_endpoint_takes_only_fresh_notifications_signed_for_its_agent(hub, sidecars):
    ada = sidecars.agent(hub, "ada")
    bob = sidecars.agent(hub, "bob")
    sidecar = sidecars.start(ada)
    answered = wait_for(lambda: last_heartbeat(ada))

    def post(body: dict, key: str | None, stamp: int | None = None, sent: dict | None = None) -> int:
        data = json.dumps(body).encode()
        stamp = int(time.time()) if stamp is None else stamp
        headers = {"Content-Type": "application/json"}
        if key:
            headers.update({TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(key, stamp, data)})
        sent_data = json.dumps(sent).encode() if sent is not None else data
        req = urllib.request.Request(sidecar.url, data=sent_data, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            return e.code

    to_ada, to_bob = {"agent": "ada", "event": "assignments", "head": "x"}, {"agent": "bob", "event": "assignments"}
    assert post(to_ada, None) == 401
    assert post(to_ada, notify_key("not the token")) == 401
    assert post(to_ada, notify_key(ada.token), sent={**to_ada, "head": "y"}) == 401  # changed on the way
    assert post(to_ada, notify_key(ada.token), stamp=int(time.time()) - NOTIFY_MAX_AGE - 5) == 401
    assert post(to_bob, notify_key(bob.token)) == 401  # bob's key is not ada's
    assert post(to_bob, notify_key(ada.token)) == 403
    assert post(to_ada, notify_key(ada.token)) == 202
    wait_for(lambda: last_heartbeat(ada) != answered, timeout=5)  # woken: it asks the hub at once


def test_cancelling_a_running_task_stops_its_agent_and_closes_the_run(hub, sidecars):
    ada = sidecars.agent(hub, "ada")
    sidecars.start(ada)
    task_id = submit(hub, "wait")
    run = started_run(hub, ada, task_id)

    status, body = hub.request("POST", f"/api/tasks/{task_id}/cancel", {})
    assert status == 200, body
    wait_for(lambda: not alive(run), timeout=5)  # the hub's poke, not a heartbeat 30 s away
    wait_for(lambda: ada.finished_dir(task_id).exists(), timeout=5)
    closed = json.loads((ada.finished_dir(task_id) / "run.json").read_text())
    assert "cancelled" in closed["closed"]
    assert state(hub, task_id) == "cancelled"
    assert moves(hub, task_id)[-1] == ("working", "cancelled", 1)
    assert ada.outbox() == [] and list((ada.state_dir / "outbox" / "refused").iterdir()) == []


# --- tokens --------------------------------------------------------------------------------

def test_an_agent_cannot_report_on_another_agents_task_and_never_sees_a_token(hub, sidecars):
    ada = sidecars.agent(hub, "ada")
    bob = sidecars.agent(hub, "bob", token=None)  # the token comes from the environment instead
    sidecars.start(bob, env={"AGENTCOM_AGENT_TOKEN": bob.token, "AGENTCOM_TOKEN": hub.token})
    task_id = submit(hub, "wait")
    run = started_run(hub, bob, task_id)

    status, body = hub.request("POST", f"/api/tasks/{task_id}/report",
                               {"kind": "done", "attempt": 1, "summary": "not mine"}, token=ada.token)
    assert status == 409 and body["error"] == "StaleReport" and "held by bob" in body["message"], body
    assert state(hub, task_id) == "working"

    assert "AGENTCOM_TOKEN" not in run["env"] and "AGENTCOM_AGENT_TOKEN" not in run["env"]
    seen = json.dumps(run) + b"".join(bob.stdin(task_id)).decode()
    seen += "".join(p.read_text(errors="replace") for p in bob.run_dir(task_id).iterdir() if p.is_file())
    for secret in (bob.token, ada.token, hub.token, notify_key(bob.token)):
        assert secret not in seen

    bob.release(task_id)
    wait_for(lambda: state(hub, task_id) == "done", timeout=15)
