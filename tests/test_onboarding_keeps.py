"""add-agent keeps what it knows, through the real commands: the registration across remove-agent
then add-agent, --listen and --base across re-runs; its self-test refuses a missing script before
a task is sent; and it says when this user can read the operator token."""
from __future__ import annotations

import os
import shutil
import socket

import pytest
import yaml

from tests.test_onboarding import add, machine, remove  # noqa: F401  (machine: a fixture)

pytestmark = pytest.mark.slow


def agent_row(hub, name: str) -> dict | None:
    return next((a for a in hub.request("GET", "/api/agents")[1]["agents"] if a["name"] == name), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_remove_agent_then_add_agent_registers_it_with_the_capabilities_it_had(hub, machine):  # noqa: F811
    done = add(machine, "ada", "--hub", hub.url, "--command", "my-agent", "--capabilities", "python,git",
               "--slots", "2", "--description", "the docs one", "--no-self-test")
    assert done.returncode == 0, done.stdout + done.stderr
    assert remove(machine, "ada").returncode == 0
    assert agent_row(hub, "ada") is None

    again = add(machine, "ada", "--no-self-test")  # hub, command and the registration from the config

    assert again.returncode == 0, again.stdout + again.stderr
    assert f"(capabilities git, python; slots 2), as {machine.config('ada')} recorded it" in again.stdout
    row = agent_row(hub, "ada")
    assert (row["capabilities"], row["slots"], row["description"]) == (["git", "python"], 2, "the docs one")
    assert remove(machine, "ada").returncode == 0 and machine.leftovers() == []


def test_listen_and_base_are_written_kept_on_a_rerun_and_base_can_be_dropped(hub, machine):  # noqa: F811
    port = free_port()
    done = add(machine, "ada", "--hub", hub.url, "--command", "my-agent", "--listen", f"127.0.0.1:{port}",
               "--base", "trunk")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"it takes notifications at http://127.0.0.1:{port}" in done.stdout
    doc = yaml.safe_load(machine.config("ada").read_text())
    assert (doc["listen"], doc["base_branch"]) == (f"127.0.0.1:{port}", "trunk")

    again = add(machine, "ada", "--no-self-test")
    assert again.returncode == 0, again.stdout + again.stderr
    doc = yaml.safe_load(machine.config("ada").read_text())
    assert (doc["listen"], doc["base_branch"]) == (f"127.0.0.1:{port}", "trunk")

    dropped = add(machine, "ada", "--base", "", "--no-self-test")
    assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    assert "base_branch" not in yaml.safe_load(machine.config("ada").read_text())
    assert remove(machine, "ada").returncode == 0 and machine.leftovers() == []


@pytest.mark.parametrize("option, value, problem", [
    ("--listen", "127.0.0.1:70000", "--listen: '127.0.0.1:70000' names a port over 65535"),
    ("--listen", "nowhere", "--listen: 'nowhere' is not HOST:PORT"),
    ("--base", "-x", "--base: '-x' is not a branch name"),
])
def test_a_bad_listen_or_base_is_refused_before_anything_changes(hub, machine, option, value, problem):  # noqa: F811
    done = add(machine, "ada", "--hub", hub.url, "--command", "my-agent", option, value)
    assert done.returncode == 1 and f"step 'arguments' failed: {problem}" in done.stderr
    assert not machine.config("ada").exists() and agent_row(hub, "ada") is None


def test_a_missing_script_fails_the_self_test_with_its_path_before_a_task_is_sent(hub, machine):  # noqa: F811
    work = machine.root / "work"
    work.mkdir()
    done = add(machine, "ada", "--hub", hub.url, "--command", "python3 agnet.py -- {prompt}", "--workdir", str(work))

    assert done.returncode == 1, done.stdout + done.stderr
    assert (f"step 'self-test' failed: the script 'agnet.py' of the agent command (python3) is not at "
            f"{work / 'agnet.py'}") in done.stderr
    assert sum(hub.request("GET", "/api/status")[1]["counts"].values()) == 0  # no task was sent
    (work / "agnet.py").write_text("print('hi')\n")
    fixed = add(machine, "ada")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "self-test passed" in fixed.stdout
    assert remove(machine, "ada").returncode == 0 and machine.leftovers() == []


SEPARATION = "note  separation      this user can read the operator token ("


def test_add_agent_notes_when_this_user_can_read_the_operator_token_and_not_otherwise(hub, machine, repo):  # noqa: F811
    token_file = repo / "agentcom" / "operator.token"
    assert token_file.is_file()
    done = add(machine, "ada", "--hub", hub.url, "--command", "my-agent", "--no-self-test",
               env={"AGENTCOM_REPO": str(repo)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{SEPARATION}{token_file}), and so can the agent" in done.stdout
    assert "merge pull requests, post check statuses and use every operator verb" in done.stdout
    assert "docs/operations.md#which-user-runs-what" in done.stdout

    quiet = add(machine, "ada", "--no-self-test")  # no hub repo here, the token from $AGENTCOM_TOKEN
    assert quiet.returncode == 0 and SEPARATION not in quiet.stdout

    copy = machine.root / "operator.token"
    shutil.copy(token_file, copy)
    copy.chmod(0o600)
    given = add(machine, "ada", "--token-file", str(copy), "--no-self-test", env={"AGENTCOM_TOKEN": ""})
    assert given.returncode == 0 and f"{SEPARATION}{copy})" in given.stdout
    assert remove(machine, "ada").returncode == 0 and machine.leftovers() == []
    if os.geteuid() == 0:
        pytest.skip("root reads every file: an operator token this user cannot read cannot be shown")
    copy.chmod(0o000)  # the operator's file, which this user cannot read: no note (and no token either)
    hidden = add(machine, "ada", "--token-file", str(copy), "--no-self-test", env={"AGENTCOM_TOKEN": ""})
    assert hidden.returncode == 2 and "cannot read it" in hidden.stderr and SEPARATION not in hidden.stdout
