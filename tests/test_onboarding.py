"""add-agent and remove-agent end to end: a real hub process, the CLI run as a user would in a
temporary HOME, the sidecar really started (detached: no systemd here) and really answering the
self-test, a fake crontab holding the cron line."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat

import pytest
import yaml

from sidecar.onboard import detach
from sidecar.runtime.outbox import Outbox
from sidecar.runtime.runs import process_start
from tests.support.gitenv import git
from tests.support.machine import make_machine
from tests.support.processes import agentcom, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def machine(tmp_path, hub):
    m = make_machine(tmp_path / "machine", hub.token)
    yield m
    m.kill_leftovers()  # only after a failure: each test stops what it started


def add(machine, *args, env=None):
    return agentcom("add-agent", *args, env={**machine.env, **(env or {})}, timeout=120)


def remove(machine, *args):
    return agentcom("remove-agent", *args, env=machine.env, timeout=120)


def test_add_agent_registers_starts_a_sidecar_and_passes_the_self_test_without_running_the_agent(hub, machine):
    done = add(machine, "ada", "--hub", hub.url, "--capabilities", "python,git", "--command", "my-agent -p -- {prompt}")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for step in ("python", "git", "command", "hub", "operator token", "register", "token", "config",
                 "service", "cron", "start", "heartbeat", "self-test"):
        assert f" {step} " in out, f"step {step} not printed:\n{out}"
    assert hub.token not in out + done.stderr
    config = machine.config("ada")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    doc = yaml.safe_load(config.read_text())
    assert doc["agent"] == "ada" and doc["command"] == ["my-agent", "-p", "--", "{prompt}"] and doc["hub"] == hub.url
    assert doc["token"] not in out
    # the cron fallback: one marked line, polling with this config
    lines = [x for x in machine.crontab() if "agentcom-sidecar:ada" in x]
    assert len(lines) == 1 and "sidecar poll --config" in lines[0] and str(config) in lines[0]
    # the self-test went through the hub, the sidecar answered it, the agent never ran
    status, agents = hub.request("GET", "/api/agents")
    ada = next(a for a in agents["agents"] if a["name"] == "ada")
    assert ada["capabilities"] == ["git", "python"] and ada["state"] == "idle"
    task_id = re.search(r"self-test +task (\S+) done", out).group(1)
    status, shown = hub.request("GET", f"/api/tasks/{task_id}")
    assert shown["state"] == "done" and shown["task"]["self_test"] is True and shown["task"]["pin"] == "ada"
    assert "self-test passed" in shown["task"]["result"]["summary"]
    assert "the agent command was not run" in shown["task"]["result"]["summary"]
    assert not (machine.home / "agent-was-run").exists()
    # the sidecar really runs, detached, beside the cron line
    record = json.loads((machine.state("ada") / "detached.json").read_text())
    assert f"pid {record['pid']}" in out and machine.leftovers()


def test_a_second_add_agent_repairs_and_keeps_the_identity_and_rotate_token_makes_a_new_one(hub, machine):
    first = add(machine, "ada", "--hub", hub.url, "--command", "my-agent")
    assert first.returncode == 0, first.stdout + first.stderr
    token = yaml.safe_load(machine.config("ada").read_text())["token"]
    pid = json.loads((machine.state("ada") / "detached.json").read_text())["pid"]

    with open(machine.config("ada"), "a") as f:
        f.write("heartbeet: 5s\n")  # broken: a misspelt key
    again = add(machine, "ada")  # the hub and the command come from the config
    assert again.returncode == 0, again.stdout + again.stderr
    assert "rewriting it" in again.stdout and "heartbeet" in again.stdout
    assert "identity kept: the token in" in again.stdout
    assert f"stopped the sidecar that ran before (pid {pid})" in again.stdout
    doc = yaml.safe_load(machine.config("ada").read_text())
    assert doc["token"] == token and doc["command"] == ["my-agent"] and "heartbeet" not in doc
    assert len([x for x in machine.crontab() if "agentcom-sidecar:ada" in x]) == 1
    status, body = hub.request("GET", "/api/agents")
    assert [a["name"] for a in body["agents"]] == ["ada"]
    assert hub.request("GET", "/api/agents/ada/assignments", token=token)[0] == 200

    rotated = add(machine, "ada", "--hub", hub.url, "--rotate-token")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert "new token made on request; the old ones are revoked" in rotated.stdout
    new = yaml.safe_load(machine.config("ada").read_text())["token"]
    assert new != token
    assert hub.request("GET", "/api/agents/ada/assignments", token=token)[0] == 401
    assert hub.request("GET", "/api/agents/ada/assignments", token=new)[0] == 200

    machine.config("ada").unlink()  # lost: the agent is still registered and online, its token unknown here
    lost = add(machine, "ada", "--hub", hub.url, "--command", "my-agent")
    assert lost.returncode == 1, lost.stdout + lost.stderr
    assert "step 'register' failed: agent ada is in use elsewhere: the hub shows it idle" in lost.stderr
    assert "--take-over" in lost.stderr and not machine.config("ada").exists()
    assert hub.request("GET", "/api/agents/ada/assignments", token=new)[0] == 200  # unchanged
    taken = add(machine, "ada", "--hub", hub.url, "--command", "my-agent", "--take-over")
    assert taken.returncode == 0, taken.stdout + taken.stderr
    assert "no token saved in" in taken.stdout and "made a new one" in taken.stdout
    assert "taken over from where it ran (idle, holding no task)" in taken.stdout
    assert hub.request("GET", "/api/agents/ada/assignments", token=new)[0] == 401


def test_add_agent_refuses_an_agent_working_elsewhere_naming_its_tasks_and_changes_nothing(hub, machine):
    done = add(machine, "ada", "--hub", hub.url, "--command", "slow-agent", "--no-self-test")
    assert done.returncode == 0, done.stdout + done.stderr
    token = yaml.safe_load(machine.config("ada").read_text())["token"]
    status, body = hub.request("POST", "/api/tasks", {"prompt": "work for a minute", "pin": "ada"})
    task_id = body["id"]
    wait_for(lambda: (machine.home / "slow-agent-started").exists(), timeout=15)
    wait_for(lambda: hub.request("GET", f"/api/tasks/{task_id}")[1]["state"] == "working")
    table = machine.crontab()

    other = machine.root / "other" / "ada.yaml"  # as if on another machine: no token for ada here
    again = add(machine, "ada", "--hub", hub.url, "--command", "my-agent", "--config", str(other))
    assert again.returncode == 1, again.stdout + again.stderr
    assert ("step 'register' failed: agent ada is in use elsewhere: the hub shows it working (last heartbeat "
            in again.stderr) and f"holding {task_id}, and no token saved in {other}" in again.stderr
    assert "`agentcom remove-agent ada` first" in again.stderr and "--take-over" in again.stderr
    assert hub.request("GET", "/api/agents/ada/assignments", token=token)[0] == 200
    shown = hub.request("GET", f"/api/tasks/{task_id}")[1]
    assert shown["state"] == "working" and shown["task"]["attempt"] == 1
    assert not other.exists() and machine.crontab() == table

    gone = remove(machine, "ada")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert machine.leftovers() == []


def test_an_agent_registered_but_offline_and_holding_nothing_gets_a_new_token_with_a_note(hub, machine):
    old = hub.request("POST", "/api/agents", {"name": "ada"})[1]["token"]  # never came online
    done = add(machine, "ada", "--hub", hub.url, "--command", "my-agent")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"note +token +no token saved in \S+: made a new one \(the old ones are revoked\)\n", done.stdout)
    assert hub.request("GET", "/api/agents/ada/assignments", token=old)[0] == 401
    assert remove(machine, "ada").returncode == 0 and machine.leftovers() == []


def test_remove_agent_stops_the_sidecar_and_its_runs_removes_the_cron_line_and_revokes_the_token_keeping_history(
        hub, machine, repo):
    machine.table.write_text("0 3 * * * backup --all # someone else's\n")
    done = add(machine, "ada", "--hub", hub.url, "--command", "slow-agent")
    assert done.returncode == 0, done.stdout + done.stderr
    token = yaml.safe_load(machine.config("ada").read_text())["token"]
    assert len(machine.crontab()) == 2
    status, body = hub.request("POST", "/api/tasks", {"prompt": "work for a minute", "pin": "ada"})
    task_id = body["id"]
    wait_for(lambda: (machine.home / "slow-agent-started").exists(), timeout=15)

    gone = remove(machine, "ada")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert "this agent's cron line removed" in gone.stdout and "sidecar stopped" in gone.stdout
    assert "stopped the agent's runs in progress" in gone.stdout
    assert hub.request("GET", f"/api/tasks/{task_id}")[1]["state"] == "queued"
    assert "1 token(s) revoked" in gone.stdout and str(machine.state("ada")) in gone.stdout
    assert machine.crontab() == ["0 3 * * * backup --all # someone else's"]
    assert machine.leftovers() == []
    assert hub.request("GET", "/api/agents/ada/assignments", token=token)[0] == 401
    assert hub.request("GET", "/api/agents")[1]["agents"] == []
    assert machine.state("ada").is_dir() and machine.config("ada").exists()
    history = git(repo, "log", "--format=%s", "--", "agents/ada.yaml").stdout.splitlines()
    assert len(history) >= 2  # registered ... removed: the agent's history stays in git

    again = remove(machine, "ada")
    assert again.returncode == 0 and "has no agent ada (already removed)" in again.stdout


def test_remove_agent_with_a_wrong_operator_token_fails_before_it_changes_anything(hub, machine):
    done = add(machine, "ada", "--hub", hub.url, "--command", "my-agent", "--no-self-test")
    assert done.returncode == 0, done.stdout + done.stderr
    token = yaml.safe_load(machine.config("ada").read_text())["token"]
    pid = json.loads((machine.state("ada") / "detached.json").read_text())["pid"]
    table = machine.crontab()

    refused = agentcom("remove-agent", "ada", env={**machine.env, "AGENTCOM_TOKEN": "acm_op_not-a-real-one"},
                       timeout=120)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "step 'operator token' failed: the hub does not accept the operator token (401" in refused.stderr
    assert process_start(pid) is not None and machine.crontab() == table  # sidecar and cron line untouched
    assert hub.request("GET", "/api/agents/ada/assignments", token=token)[0] == 200
    assert remove(machine, "ada").returncode == 0 and machine.leftovers() == []


def test_remove_agent_first_delivers_a_done_report_left_in_the_outbox(hub, machine):
    done = add(machine, "ada", "--hub", hub.url, "--command", "slow-agent", "--no-self-test")
    assert done.returncode == 0, done.stdout + done.stderr
    status, body = hub.request("POST", "/api/tasks", {"prompt": "open a PR", "pin": "ada"})
    task_id = body["id"]
    wait_for(lambda: hub.request("GET", f"/api/tasks/{task_id}")[1]["state"] == "working")
    # the agent finished and its sidecar wrote the report, then died before it could send it
    detach.stop(machine.state("ada"), machine.config("ada"))
    Outbox(machine.state("ada") / "outbox").put(task_id, {
        "kind": "done", "attempt": 1, "summary": "fixed the redirect", "pr_url": "https://forge.test/pr/7"})

    gone = remove(machine, "ada")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert "ok    outbox          delivered 1 waiting report(s) to the hub" in gone.stdout
    assert gone.stdout.index(" outbox ") < gone.stdout.index(" runs ") < gone.stdout.index(" revoke ")
    shown = hub.request("GET", f"/api/tasks/{task_id}")[1]
    assert shown["state"] == "done" and shown["task"]["result"]["pr_url"] == "https://forge.test/pr/7"
    assert "(0 undelivered report(s) in its outbox/)" in gone.stdout and machine.leftovers() == []


def test_remove_agent_refuses_while_reports_cannot_be_delivered_and_force_removes_keeping_them(hub, machine):
    done = add(machine, "ada", "--hub", hub.url, "--command", "my-agent", "--no-self-test")
    assert done.returncode == 0, done.stdout + done.stderr
    detach.stop(machine.state("ada"), machine.config("ada"))
    box = machine.state("ada") / "outbox"
    Outbox(box).put("20261130-000000-000-abcd", {"kind": "done", "attempt": 1, "summary": "did it"})
    hub.request("POST", "/api/agents", {"name": "ada", "rotate_token": True})  # the saved token no longer works
    table = machine.crontab()

    refused = remove(machine, "ada")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert (f"step 'outbox' failed: 1 report(s) in {box} could not be delivered: the hub refuses the agent's "
            "token") in refused.stderr and "--force" in refused.stderr
    assert machine.crontab() == table and [a["name"] for a in hub.request("GET", "/api/agents")[1]["agents"]] == ["ada"]

    forced = agentcom("remove-agent", "ada", "--force", env=machine.env, timeout=120)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert f"note  outbox          1 report(s) in {box} could not be delivered" in forced.stdout
    assert "(1 undelivered report(s) in its outbox/)" in forced.stdout and len(list(box.glob("*.json"))) == 1
    assert hub.request("GET", "/api/agents")[1]["agents"] == [] and machine.leftovers() == []


@pytest.mark.parametrize("case", ["git", "command", "workdir", "cron path", "hub", "token", "agent token"])
def test_each_failed_prerequisite_names_its_step_and_the_fix_and_changes_nothing(hub, machine, case):
    args, env = ["ada", "--hub", hub.url, "--command", "my-agent"], {}
    expected = {"git": "step 'git' failed: the `git` command is not on PATH",
                "command": "step 'command' failed: the agent command's program 'no-such-agent' is not found",
                "workdir": "step 'workdir' failed: ",
                "cron path": "holds a newline, which a crontab line cannot carry",
                "hub": "step 'hub' failed: the hub at http://127.0.0.1:9 does not answer",
                "token": "step 'operator token' failed: the hub does not accept the operator token (401",
                "agent token": "step 'operator token' failed: that is an agent token (of bob)"}[case]
    if case == "git":
        env["PATH"] = str(machine.bin)  # my-agent is there, git is not
    elif case == "command":
        args[-1] = "no-such-agent --go"
    elif case == "workdir":
        args += ["--workdir", str(machine.root / "missing")]
    elif case == "cron path":
        args += ["--config", str(machine.root / "a\n* * * * * b" / "ada.yaml")]
    elif case == "hub":
        args[2] = "http://127.0.0.1:9"
    elif case == "token":
        env["AGENTCOM_TOKEN"] = "acm_op_not-a-real-one"
    else:
        env["AGENTCOM_TOKEN"] = hub.request("POST", "/api/agents", {"name": "bob"})[1]["token"]
    done = add(machine, *args, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert expected in done.stderr and "fix: " in done.stderr
    assert not machine.config("ada").exists() and machine.crontab() == [] and machine.leftovers() == []
    assert "ada" not in [a["name"] for a in hub.request("GET", "/api/agents")[1]["agents"]]
    assert env.get("AGENTCOM_TOKEN", hub.token) not in done.stdout + done.stderr


def test_a_rerun_finds_a_vanished_workdir_and_json_names_the_failed_step(hub, machine):
    (machine.root / "work").mkdir()
    done = add(machine, "ada", "--hub", hub.url, "--command", "my-agent", "--workdir", str(machine.root / "work"),
               "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    (machine.root / "work").rmdir()  # the agent's workdir vanishes
    again = add(machine, "ada", "--hub", hub.url, "--json")
    assert again.returncode == 1, again.stdout + again.stderr
    answer = json.loads(again.stdout)
    assert answer["ok"] is False and answer["failed_step"] == "workdir"
    assert answer["fix"].startswith("create it")
    assert str(machine.root / "work") in answer["problem"]
    assert [s["step"] for s in answer["steps"]][-1] == "workdir"
    assert remove(machine, "ada").returncode == 0 and machine.leftovers() == []


@pytest.fixture
def systemd_machine(tmp_path, hub):
    m = make_machine(tmp_path / "machine", hub.token, systemd=True)
    yield m
    m.kill_leftovers()


def test_with_systemd_the_unit_is_written_enabled_and_started_and_remove_agent_takes_it_away(hub, systemd_machine):
    m = systemd_machine
    done = add(m, "ada", "--hub", hub.url, "--command", "my-agent")
    assert done.returncode == 0, done.stdout + done.stderr
    unit = m.home / ".config" / "systemd" / "user" / "agentcom-ada.service"
    assert f"systemd user unit {unit} enabled and (re)started" in done.stdout
    text = unit.read_text()
    assert f"sidecar --config {m.config('ada')}" in text and "KillMode=process" in text
    assert "Restart=on-failure" in text and "WantedBy=default.target" in text
    assert re.search(r"self-test +task \S+ done", done.stdout) and m.crontab() == []
    calls = (m.root / "systemd" / "calls").read_text().splitlines()
    assert calls == ["show-environment", "daemon-reload", "enable agentcom-ada.service", "restart agentcom-ada.service"]

    again = add(m, "ada", "--hub", hub.url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(m.leftovers()) == 1  # restarted, not doubled

    gone = remove(m, "ada")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert "systemd unit agentcom-ada.service stopped, disabled and removed" in gone.stdout
    assert not unit.exists() and m.leftovers() == []
    assert (m.root / "systemd" / "calls").read_text().splitlines()[-2:] == ["disable --now agentcom-ada.service",
                                                                          "daemon-reload"]


def test_without_a_crontab_command_add_agent_says_so_prints_the_line_and_still_runs_the_sidecar(hub, machine):
    (machine.bin / "crontab").unlink()
    tools = machine.root / "tools"
    tools.mkdir()
    (tools / "git").symlink_to(shutil.which("git"))
    done = add(machine, "ada", "--hub", hub.url, "--command", "my-agent",
               env={"PATH": f"{machine.bin}{os.pathsep}{tools}"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "note  cron            there is no `crontab` command on this machine" in done.stdout
    assert "add this line yourself (`crontab -e`): * * * * * " in done.stdout
    assert "# agentcom-sidecar:ada" in done.stdout and re.search(r"self-test +task \S+ done", done.stdout)
    gone = remove(machine, "ada")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert machine.leftovers() == []


def test_add_agent_with_no_hub_anywhere_names_the_missing_argument(machine):
    done = add(machine, "ada", "--command", "my-agent")
    assert done.returncode == 1
    assert "step 'arguments' failed: no hub address" in done.stderr and "give --hub URL" in done.stderr
