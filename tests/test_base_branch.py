"""A target's base branch found from its remote's HEAD, on real bare repos: a target on `master`
needs no setting, a remote whose HEAD moves is followed, and a base the remote lacks is a
permanent failure that names the remote's branches and the setting to change."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from coordinator.forge.local import LocalForge
from coordinator.wire.client import HttpBackend
from sidecar.gitflow.basebranch import MissingBase
from sidecar.gitflow.flow import TaskInfo, start_task, status, submit
from sidecar.gitflow.rework import Rework, take_up
from sidecar.gitflow.workspace import prepare
from tests.support.gitenv import git
from tests.support.held import agent_holding_a_task
from tests.support.processes import agentcom
from tests.support.targets import commit, make_remote, write

TASK = TaskInfo("T-7", "Fix the login redirect!", "Keep `next`.")
BRANCH = "agent/ada/T-7-fix-the-login-redirect"
FIX = ("name the base: `base_branch: BRANCH` in the sidecar config (or `agentcom add-agent NAME --base BRANCH`), "
       "or --base BRANCH for `agentcom git`")


@pytest.fixture
def master(tmp_path) -> Path:
    """A target whose one branch, and HEAD, is master."""
    return make_remote(tmp_path / "remotes", "acme/api", branch="master")


def clone_of(remote: Path, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(remote), str(where))
    return where


def tip(remote: Path, branch: str) -> str:
    return git(remote, "rev-parse", f"refs/heads/{branch}").stdout.strip()


def test_a_master_target_branches_from_master_and_its_pr_goes_into_master_with_no_setting(master, tmp_path, hub):
    token, task_id = agent_holding_a_task(hub, "ada", repo=str(master))
    forge = LocalForge(HttpBackend(hub.url, token), str(master), task_id)
    work = clone_of(master, tmp_path / "work")
    task = TaskInfo(task_id, TASK.title, TASK.prompt)

    started = start_task(work, task, "ada")
    write(work, {"fix.py": "x = 1\n"})
    commit(work, "fix")
    done = submit(work, task, "ada", forge)

    assert (started.base, started.base_sha) == ("master", tip(master, "master"))
    pr = forge.get_pr(done.number)
    assert (pr.head, pr.base) == (started.branch, "master")
    assert status(work).as_dict()["base"] == "master"


def test_a_remote_whose_head_moves_to_another_branch_is_followed(remote, tmp_path):
    work = clone_of(remote, tmp_path / "work")  # the clone recorded origin/HEAD -> main
    other = clone_of(remote, tmp_path / "other")
    git(other, "push", "-q", "origin", "main:refs/heads/trunk")
    write(other, {"t.txt": "trunk\n"})
    commit(other, "trunk moves on")
    git(other, "push", "-q", "origin", "HEAD:refs/heads/trunk")
    git(remote, "symbolic-ref", "HEAD", "refs/heads/trunk")  # the project renames its main branch

    started = start_task(work, TASK, "ada")

    assert (started.base, started.base_sha) == ("trunk", tip(remote, "trunk"))
    assert (work / "t.txt").read_text() == "trunk\n"
    assert git(work, "symbolic-ref", "refs/remotes/origin/HEAD").stdout.strip() == "refs/remotes/origin/trunk"
    assert status(work, fetch=False).base == "trunk"  # as last asked, with no network


def test_a_base_the_remote_lacks_is_permanent_and_names_its_branches_its_head_and_the_setting(remote, tmp_path):
    work = clone_of(remote, tmp_path / "work")
    git(work, "push", "-q", "origin", "main:refs/heads/release", f"main:refs/heads/{BRANCH}")

    with pytest.raises(MissingBase) as raised:
        start_task(work, TASK, "ada", base="develop")

    assert raised.value.permanent is True
    assert str(raised.value) == ("the remote 'origin' has no branch develop; it has branches main, release and its "
                                 f"HEAD is main; {FIX}")  # the task branch is not offered as a base
    assert git(work, "symbolic-ref", "--short", "HEAD").stdout.strip() == "main"  # nothing was switched


def test_a_remote_whose_head_leads_to_no_branch_is_permanent_with_the_fix(remote, tmp_path):
    git(remote, "symbolic-ref", "HEAD", "refs/heads/gone")
    state = tmp_path / "state"

    with pytest.raises(MissingBase) as raised:
        prepare(state, str(remote), TASK, "ada")

    assert str(raised.value) == ("the remote 'origin' names no usable default branch (its HEAD leads to no branch); "
                                 f"it has branches main; {FIX}")
    found = prepare(state, str(remote), TASK, "ada", base="main")[1]  # the override settles it
    assert found.base == "main"


def test_the_cli_starts_a_task_on_a_master_target_with_no_base_given(master, tmp_path):
    work = clone_of(master, tmp_path / "work")
    task_file = tmp_path / "task.json"
    task_file.write_text(json.dumps({"id": "T-9", "title": "Add a page", "prompt": "p"}))

    done = agentcom("git", "start-task", "T-9", "--agent", "bob", "--task-file", str(task_file), "-C", str(work))

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"On agent/bob/T-9-add-a-page, from origin/master at {tip(master, 'master')[:10]}")
    shown = agentcom("git", "status", "--json", "-C", str(work))
    assert json.loads(shown.stdout)["problems"] == ["no commits ahead of origin/master"]
    wrong = agentcom("git", "status", "--base", "develop", "-C", str(work))
    assert wrong.returncode == 1 and "the remote 'origin' has no branch develop; it has branches master" in wrong.stdout


def test_a_rework_that_names_no_base_updates_onto_the_base_its_run_found(master, tmp_path):
    state = tmp_path / "state"
    tree, started = prepare(state, str(master), TASK, "ada")
    write(tree, {"fix.py": "x = 1\n"})
    commit(tree, "fix")
    git(tree, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
    other = clone_of(master, tmp_path / "other")
    write(other, {"b.txt": "2\n"})
    commit(other, "master moves")
    git(other, "push", "-q", "origin", "HEAD:master")
    rework = Rework.of({"id": "T-7", "title": TASK.title, "rework": {"agent": "ada", "kind": "behind", "pr": 3,
                                                                    "branch": BRANCH}}, "ada")

    plan = take_up(tree, rework, BRANCH, TASK, "ada", base=started.base)

    assert plan.notes()["base"] == "master" and plan.how == "rebased" and not plan.wake
    assert (tree / "b.txt").read_text() == "2\n"
