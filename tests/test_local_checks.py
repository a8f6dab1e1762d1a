"""The checks the hub runs itself for the local forge (`checks:` in gatekeeper.yaml), on real bare
targets through a real hub: a passing check merges an agent's PR with no other CI, a failing one
holds it and sends its output back to the agent, a check a stopped hub left pending runs again at
the next start; and what a hostile check cannot do: read a token, outlive its timeout, flood the
log, or leave anything in the target."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from coordinator.forge.local import LocalForge
from coordinator.gatekeeper.rules import HUB_SOURCE, Check
from coordinator.reviewer import checkproc
from coordinator.reviewer.checkrun import CheckRunner, due, log_name
from coordinator.reviewer.options import read_local
from coordinator.wire.client import HttpBackend
from coordinator.wire.errors import ConfigError
from tests.support.gitenv import git
from tests.support.held import agent_holding_a_task
from tests.support.processes import HubProcess, wait_for
from tests.support.pulls import status
from tests.support.targets import make_remote, push_branch

# the check: print the file the agent changed; fail when it holds "bad"
CHECK = ("import pathlib, sys; text = pathlib.Path('fix.txt').read_text(); print('checked:', text.strip()); "
         "sys.exit(1 if 'bad' in text else 0)")


def _rules(check: list[str], timeout: str = "1m") -> str:
    words = ", ".join(repr(w) for w in check)
    return (f"merge:\n  auto_merge: true\n  checks:\n    test: {{run: [{words}], timeout: {timeout}}}\n"
            "trust:\n  default: trusted\n")


def _push_rules(clone: Path, text: str) -> None:
    (clone / "gatekeeper.yaml").write_text(text)
    git(clone, "commit", "-qam", "gatekeeper rules: a check the hub runs")
    git(clone, "push", "-q", "origin", "HEAD:main")


def _agent_pr(hub, tmp_path: Path, remote: Path, content: str, name: str = "ada") -> tuple[str, int, str]:
    """An agent's PR on the local forge changing fix.txt, its task waiting in review on it; (task, PR, head)."""
    token, task_id = agent_holding_a_task(hub, name, repo=str(remote))
    branch = f"agent/{name}/{task_id}"
    head = push_branch(remote, tmp_path, branch, {"fix.txt": content}, "the agent's work")
    pr = LocalForge(HttpBackend(hub.url, token), str(remote), task_id).open_pr(
        branch, "main", "Fix it", f"AgentCom task `{task_id}`, by agent `{name}`.")
    for report in ({"kind": "accepted", "attempt": 1}, {"kind": "done", "attempt": 1, "pr_url": pr.url}):
        assert hub.request("POST", f"/api/tasks/{task_id}/report", report, token=token)[0] == 200
    return task_id, pr.number, head


def _task(hub, task_id: str) -> dict:
    return hub.request("GET", f"/api/tasks/{task_id}")[1]["task"]


def _statuses(hub, number: int) -> list[dict]:
    return hub.request("GET", f"/api/prs/{number}")[1]["statuses"]


def _target_files(remote: Path) -> list[str]:
    """Every file of the target but its objects and refs (what the merge itself changes)."""
    return sorted(str(p.relative_to(remote)) for p in remote.rglob("*")
                  if not {"objects", "refs", "logs"} & set(p.relative_to(remote).parts) and p.name != "packed-refs")


@pytest.fixture
def checked(repo, clone, tmp_path):
    """A hub with its gatekeeper on a local target; `start(rules)` pushes the rules and starts it."""
    remote = make_remote(tmp_path / "remotes")
    hubs = []

    def start(rules: str | None = None, port: int = 0) -> HubProcess:
        if rules is not None:
            _push_rules(clone, rules)
        hubs.append(HubProcess(repo, port=port, args=("--forge", "local", "--target", str(remote))))
        return hubs[-1]

    yield start, remote
    for hub in hubs:
        hub.stop()


def test_a_pr_whose_check_passes_is_merged_with_no_other_ci_and_the_output_is_in_the_log(checked, repo, tmp_path):
    start, remote = checked
    hub = start(_rules([sys.executable, "-c", CHECK]))
    task_id, number, head = _agent_pr(hub, tmp_path, remote, "good fix\n")
    before = _target_files(remote)
    wait_for(lambda: _task(hub, task_id).get("result", {}).get("merged"), timeout=60)
    assert git(remote, "show", "main:fix.txt").stdout == "good fix\n"
    states = [(s["context"], s["state"], s["by"]) for s in _statuses(hub, number)]
    assert states == [("test", "success", HUB_SOURCE), ("test", "pending", HUB_SOURCE)]   # newest first
    passed = _statuses(hub, number)[0]
    log = repo / "agentcom" / "checks" / "acme+web" / log_name(head, "test")   # the repo's key, / as +
    assert passed["description"].startswith("passed in ") and log.name in passed["description"]
    text = log.read_text()
    assert f"check test on {head}" in text and "exit 0" in text and "checked: good fix" in text
    assert _target_files(remote) == before   # the checkout wrote nothing into the target


def test_a_pr_whose_check_fails_is_not_merged_and_goes_back_to_its_agent_with_the_output(checked, tmp_path):
    start, remote = checked
    hub = start(_rules([sys.executable, "-c", CHECK]))
    task_id, number, head = _agent_pr(hub, tmp_path, remote, "bad fix\n")
    wait_for(lambda: (_task(hub, task_id).get("rework") or {}).get("kind") == "check", timeout=60)
    failed = _statuses(hub, number)[0]
    assert (failed["context"], failed["state"], failed["by"]) == ("test", "failure", HUB_SOURCE)
    assert failed["description"].startswith("exit 1 after ") and "checked: bad fix" in failed["log"]
    rework = _task(hub, task_id)["rework"]
    assert "checked: bad fix" in rework["detail"]   # what the agent is told
    record = hub.request("GET", f"/api/prs/{number}")[1]
    assert (record["state"], record.get("merged")) == ("open", None)
    assert "bad fix" not in git(remote, "log", "-p", "main").stdout


def test_a_check_a_stopped_hub_left_pending_runs_again_at_the_next_start(checked, tmp_path):
    start, remote = checked
    first_run = tmp_path / "first-run"
    # the first run marks itself and hangs (the hub is stopped under it); any later run passes
    script = ("import pathlib, sys, time, os; mark = pathlib.Path(sys.argv[1]); "
              "first = not mark.exists(); mark.write_text(str(os.getpid())); time.sleep(300 if first else 0)")
    hub = start(_rules([sys.executable, "-c", script, str(first_run)], timeout="10m"))
    task_id, number, head = _agent_pr(hub, tmp_path, remote, "fix\n")
    wait_for(lambda: first_run.exists() and _statuses(hub, number)[:1] and
             _statuses(hub, number)[0]["state"] == "pending", timeout=60)
    pid = int(first_run.read_text())
    hub.stop()
    wait_for(lambda: _gone(pid))   # stopping the hub killed the check's group
    hub = start(port=hub.port)   # the same address: the task recorded its PR's URL
    assert _statuses(hub, number)[0]["state"] == "pending"   # as the stopped hub left it
    wait_for(lambda: _task(hub, task_id).get("result", {}).get("merged"), timeout=60)
    assert [s["state"] for s in _statuses(hub, number)] == ["success", "pending", "pending"]


def test_a_github_target_never_runs_checks_and_the_hub_says_so_at_start(repo, clone, fake_github):
    from tests.test_gatekeeper_webhooks import GATE_TOKEN, _local_settings, _secret_file

    fake_github.add_user("agentcom-gatekeeper", GATE_TOKEN)
    _secret_file(repo / "agentcom" / "secrets" / "github.token", GATE_TOKEN)
    _local_settings(repo, f"gatekeeper:\n  forge: github\n  target: acme/web\n  github_api: {fake_github.url}\n"
                          "  github_token_file: github.token\n")
    _push_rules(clone, _rules(["pytest", "-q"]))
    hub = HubProcess(repo)
    output = hub.stop()
    assert "checks: test of acme/web are not run on GitHub (only on the local forge)" in output
    assert not (repo / "agentcom" / "checks").exists()


# --- a hostile check, against the runner itself (a real hub records its statuses) ---------------

@pytest.fixture
def runner(hub, tmp_path):
    """A CheckRunner on a real target with an open agent PR; (runner, forge, PR head, logs folder)."""
    remote = make_remote(tmp_path / "remotes")
    task_id, number, head = _agent_pr(hub, tmp_path, remote, "fix\n")
    forge = LocalForge(HttpBackend(hub.url, hub.token), str(remote))
    logs = tmp_path / "logs"
    made = CheckRunner(forge, remote, logs, grace=0.5)
    made.start()
    yield made, forge, head, logs
    made.close()


def _ran(runner, forge, head, logs, run: list[str], timeout: int = 60) -> tuple[dict, str]:
    runner.offer(1, head, {"test": Check(tuple(run), timeout)}, [])
    wait_for(lambda: forge.statuses(head) and forge.statuses(head)[0]["state"] != "pending", timeout=60)
    return forge.statuses(head)[0], (logs / log_name(head, "test")).read_text(errors="replace")


def test_a_checks_code_finds_no_token_and_no_agentcom_variable_in_its_environment(runner, monkeypatch):
    made, forge, head, logs = runner
    for key, value in {"AGENTCOM_TOKEN": "acm_op_secret", "AGENTCOM_HUB": "http://x", "GITHUB_TOKEN": "ghp_x",
                       "LC_ALL": "C.UTF-8"}.items():
        monkeypatch.setenv(key, value)   # the hub's own environment, which its worker threads inherit
    script = "import os, sys; print(sorted(os.environ.items())); print('cwd', os.getcwd())"
    result, log = _ran(made, forge, head, logs, [sys.executable, "-c", script])
    assert result["state"] == "success"
    shown = log.split("--- output ---", 1)[1]
    assert "AGENTCOM" not in shown and "acm_op_secret" not in shown and "GITHUB_TOKEN" not in shown
    assert "'LC_ALL', 'C.UTF-8'" in shown and "('PATH'," in shown   # what a check needs is kept
    home = shown.split("('HOME', '")[1].split("'")[0]
    assert Path(home).name == "home" and not Path(home).parent.exists()   # its own, removed afterwards


def test_a_check_leaving_a_background_sleeper_has_its_whole_group_killed_at_the_timeout(runner, tmp_path):
    made, forge, head, logs = runner
    pidfile = tmp_path / "sleeper.pid"
    script = ("import subprocess, sys, time; p = subprocess.Popen(['sleep', '300']); "
              "open(sys.argv[1], 'w').write(str(p.pid)); time.sleep(300)")
    result, log = _ran(made, forge, head, logs, [sys.executable, "-c", script, str(pidfile)], timeout=1)
    assert result["state"] == "failure" and result["description"].startswith("timed out after 1s")
    assert "process group killed" in log
    wait_for(lambda: _gone(int(pidfile.read_text())))


def test_a_check_that_finishes_leaving_a_sleeper_behind_does_not_leave_it_running(tmp_path):
    script = "import subprocess; p = subprocess.Popen(['sleep', '300']); print(p.pid)"
    ran = checkproc.run([sys.executable, "-c", script], str(tmp_path), {"PATH": os.defpath}, 60, grace=0.5)
    assert (ran.code, ran.timed_out) == (0, False)
    wait_for(lambda: _gone(int(ran.output)))


def test_a_check_printing_megabytes_leaves_a_bounded_log_that_says_what_was_cut(runner):
    made, forge, head, logs = runner
    script = "import sys; sys.stdout.write('x' * 5_000_000 + 'THE END')"
    result, log = _ran(made, forge, head, logs, [sys.executable, "-c", script])
    assert result["state"] == "success"
    path = logs / log_name(head, "test")
    assert path.stat().st_size < checkproc.KEEP + 1000
    assert f"{5_000_007 - checkproc.KEEP} bytes of output cut from the start" in log and log.endswith("THE END")


def test_the_hubs_check_runner_goes_before_every_checks_argv(hub, tmp_path):
    remote = make_remote(tmp_path / "remotes")
    _, _, head = _agent_pr(hub, tmp_path, remote, "fix\n")
    forge = LocalForge(HttpBackend(hub.url, hub.token), str(remote))
    made = CheckRunner(forge, remote, tmp_path / "logs", prefix=("env", "SANDBOXED=yes"), grace=0.5)
    made.start()
    try:
        script = "import os; print('sandboxed:', os.environ.get('SANDBOXED'))"
        result, log = _ran(made, forge, head, tmp_path / "logs", [sys.executable, "-c", script])
    finally:
        made.close()
    assert result["state"] == "success" and "sandboxed: yes" in log and "run: env SANDBOXED=yes " in log


def test_the_check_runner_is_an_argv_list_set_on_the_hubs_machine(repo):
    path = repo / "agentcom" / "local.yaml"
    path.write_text("gatekeeper:\n  check_runner: [sudo, -n, -u, agentcom-ci, --]\n  check_workers: 2\n")
    path.chmod(0o600)
    assert (read_local(repo).check_runner, read_local(repo).check_workers) == (
        ("sudo", "-n", "-u", "agentcom-ci", "--"), 2)
    path.write_text("gatekeeper:\n  check_runner: sudo -u agentcom-ci\n")
    with pytest.raises(ConfigError, match="check_runner: expected a list of words: an argv, never a shell string"):
        read_local(repo)
    path.write_text("gatekeeper:\n  check_workers: 0\n")
    with pytest.raises(ConfigError, match="check_workers: expected a whole number from 1 to 8"):
        read_local(repo)


def test_a_program_that_is_not_there_fails_the_check_saying_so(runner):
    made, forge, head, logs = runner
    result, log = _ran(made, forge, head, logs, ["no-such-program-here", "-q"])
    assert result["state"] == "failure" and "no-such-program-here could not start" in result["description"]


def test_only_a_check_without_the_hubs_result_is_due_and_one_held_here_is_not_run_twice():
    checks = {"test": Check(("true",)), "lint": Check(("true",))}
    sha = "a" * 40
    assert due(checks, [], sha, set()) == ["test", "lint"]
    done = [status("test", "success", by=HUB_SOURCE), status("lint", "failure", by=HUB_SOURCE)]
    assert due(checks, done, sha, set()) == []
    # someone else's green never counts for the hub's check; a pending one of the hub's runs unless held here
    assert due(checks, [status("test", "success", by="ada"), status("lint", "pending", by=HUB_SOURCE)],
               sha, set()) == ["test", "lint"]
    assert due(checks, [status("lint", "pending", by=HUB_SOURCE)], sha, {(sha, "lint"), (sha, "test")}) == []


def _gone(pid: int) -> bool:
    """The process has ended: no such pid, or a zombie nobody has reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
