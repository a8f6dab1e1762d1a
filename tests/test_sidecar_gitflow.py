"""The git workflow in the sidecar, end to end: a real hub, a real sidecar process, the fake agent
committing in the worktree it was given, a bare target repo, and pull requests on the local
forge (through the hub) or on the fake GitHub."""
from __future__ import annotations

import json
import os
import signal

import pytest

from tests.support.gitenv import git
from tests.support.processes import wait_for
from tests.test_sidecar import alive, note, started_run, submit, task


def finished(hub, task_id: str) -> dict:
    """The task once its first attempt is over (queued counts only once an attempt was handed out:
    on a slow machine the agent may not be online yet when the task is submitted)."""
    def over() -> bool:
        t = task(hub, task_id)
        return t["state"] in ("review", "done", "dead") or (t["state"] == "queued" and t.get("attempt", 0) >= 1)

    wait_for(over, timeout=30)
    return task(hub, task_id)


@pytest.mark.slow
def test_a_task_naming_a_repo_runs_on_a_fresh_branch_and_waits_in_review_with_its_pr_on_the_local_forge(
        hub, sidecars, remote):
    ada = sidecars.agent(hub, "ada")
    sidecars.start(ada)
    main = git(remote, "rev-parse", "main").stdout.strip()
    task_id = submit(hub, "commit fix.txt fixed", repo=str(remote), title="Fix it", priority="high")

    done = finished(hub, task_id)

    assert done["state"] == "review", done  # its PR is open on the local forge
    branch = f"agent/ada/{task_id}-fix-it"
    assert done["result"]["pr_url"] == f"{hub.url}/api/prs/1"
    status, record = hub.request("GET", "/api/prs/1")
    assert status == 200 and (record["head"], record["base"], record["author"]) == (branch, "main", "ada")
    assert record["labels"] == ["agent:ada", "priority:high"]
    assert git(remote, "show", f"{branch}:fix.txt").stdout == "fixed\n"
    assert git(remote, "rev-parse", f"{branch}~1").stdout.strip() == main  # branched from the fresh main
    [run] = ada.runs(task_id)
    assert run["env"]["AGENTCOM_BRANCH"] == branch
    worktree = ada.state_dir / "workspaces"
    assert run["cwd"].startswith(str(worktree)) and run["cwd"].endswith(f"/tasks/{task_id}")
    wait_for(lambda: not os.path.exists(run["cwd"]))  # everything pushed: the worktree is gone


@pytest.mark.slow
def test_the_pr_opens_on_github_when_the_sidecar_is_set_up_for_it(hub, sidecars, remote, fake_github, tmp_path):
    fake_github.add_user("fleet-bot", "ghp_fleet")
    repo = fake_github.add_repo("acme/web", remote)
    token_file = tmp_path / "github.token"
    token_file.write_text("ghp_fleet\n")
    token_file.chmod(0o600)
    ada = sidecars.agent(hub, "ada", forge="github", github_api=fake_github.url, github_token_file=str(token_file))
    sidecars.start(ada)
    task_id = submit(hub, "commit fix.txt fixed", repo=str(remote), title="Fix it")

    done = finished(hub, task_id)

    assert done["state"] == "done", done
    assert done["result"]["pr_url"] == f"{fake_github.root}/acme/web/pull/1"
    pull = repo.pulls[1]
    assert (pull.head, pull.user, pull.labels) == (f"agent/ada/{task_id}-fix-it", "fleet-bot",
                                                   ["agent:ada", "priority:normal"])


@pytest.mark.slow
def test_work_whose_pr_cannot_be_opened_is_a_failure_and_its_branch_stays_pushed(hub, sidecars, remote, fake_github,
                                                                             tmp_path):
    fake_github.add_user("fleet-bot", "ghp_fleet")  # but no repo acme/web there: GitHub answers 404
    token_file = tmp_path / "github.token"
    token_file.write_text("ghp_fleet\n")
    token_file.chmod(0o600)
    ada = sidecars.agent(hub, "ada", forge="github", github_api=fake_github.url, github_token_file=str(token_file))
    sidecars.start(ada)
    task_id = submit(hub, "commit fix.txt fixed", repo=str(remote), title="Fix it", max_retries=0)

    done = finished(hub, task_id)

    assert done["state"] == "dead", done
    assert done["last_error"] == ("ada reported failure: the agent finished but its work could not be submitted: "
                                  "GitHub could not list pull requests in acme/web: 404 Not Found")
    assert "result" not in done
    branch = f"agent/ada/{task_id}-fix-it"
    assert git(remote, "show", f"{branch}:fix.txt").stdout == "fixed\n"  # pushed before the PR failed: kept


@pytest.mark.slow
def test_an_agent_that_commits_nothing_is_done_without_a_pr_and_says_so(hub, sidecars, remote):
    ada = sidecars.agent(hub, "ada")
    sidecars.start(ada)
    task_id = submit(hub, "done nothing needed", repo=str(remote))

    done = finished(hub, task_id)

    assert done["state"] == "done", done
    assert "pr_url" not in done["result"]
    assert done["result"]["summary"].startswith("nothing needed [no pull request: agent/ada/")
    assert hub.request("GET", "/api/prs")[1]["prs"] == []


@pytest.mark.slow
def test_an_agent_that_gave_its_own_pr_url_is_left_alone(hub, sidecars, remote):
    ada = sidecars.agent(hub, "ada")
    sidecars.start(ada)
    task_id = submit(hub, "pr https://github.com/acme/web/pull/77", repo=str(remote))

    done = finished(hub, task_id)

    assert done["state"] == "done" and done["result"]["pr_url"] == "https://github.com/acme/web/pull/77"
    assert hub.request("GET", "/api/prs")[1]["prs"] == []  # no second PR opened by the sidecar
    assert git(remote, "branch", "--list", "agent/*").stdout == ""  # and nothing pushed for it


@pytest.mark.slow
def test_a_run_lost_with_its_machine_is_run_again_in_the_same_worktree_and_its_work_carried_on(
        hub, sidecars, remote):
    ada = sidecars.agent(hub, "ada")
    first = sidecars.start(ada)
    task_id = submit(hub, "commit-wait log.txt", repo=str(remote), title="Keep a log")
    run = started_run(hub, ada, task_id)
    wait_for(lambda: "log.txt" in git(run["cwd"], "log", "--name-only", "--format=", "-1").stdout)

    first.kill()  # the machine dies: the sidecar, and the agent's whole process group
    wrapper = json.loads((ada.run_dir(task_id) / "wrapper.json").read_text())
    os.killpg(wrapper["pid"], signal.SIGKILL)
    wait_for(lambda: not alive(run) and not alive(wrapper))
    sidecars.start(ada)
    wait_for(lambda: note(hub, task_id).startswith("re-running"))
    wait_for(lambda: len(ada.runs(task_id)) == 2, timeout=15)
    ada.release(task_id)

    done = finished(hub, task_id)
    assert done["state"] == "review", done
    second = ada.runs(task_id)[1]
    assert second["cwd"] == run["cwd"]  # the same worktree, the first run's commit still in it
    branch = f"agent/ada/{task_id}-keep-a-log"
    assert git(remote, "show", f"{branch}:log.txt").stdout == f"run {run['pid']}\nrun {second['pid']}\n"
    assert len(hub.request("GET", "/api/prs")[1]["prs"]) == 1


@pytest.mark.slow
def test_a_push_slower_than_the_heartbeat_grace_keeps_the_task_with_its_agent(hub, sidecars, remote):
    from sidecar.fleet.hubrepo import change_settings, contains

    pushed = change_settings(hub.repo, {"timeouts": {"heartbeat_grace": "2s"}})
    wait_for(lambda: contains(hub.repo, pushed, hub.request("GET", "/api/health")[1]["head"]))
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\ncat >/dev/null\nsleep 5\n")  # a slow link: 2.5 times the grace
    hook.chmod(0o755)
    ada = sidecars.agent(hub, "ada", heartbeat="1s")
    sidecars.start(ada)
    task_id = submit(hub, "commit fix.txt fixed", repo=str(remote), title="Fix it")

    done = finished(hub, task_id)

    assert done["state"] == "review" and done["attempt"] == 1, done  # never taken back for silence
    assert done["result"]["pr_url"] == f"{hub.url}/api/prs/1"


@pytest.mark.slow
def test_a_start_slower_than_the_heartbeat_grace_keeps_the_task_with_its_agent(hub, sidecars, remote, tmp_path):
    from sidecar.fleet.hubrepo import change_settings, contains
    from sidecar.gitflow.workspace import key

    pushed = change_settings(hub.repo, {"timeouts": {"heartbeat_grace": "2s"}})
    wait_for(lambda: contains(hub.repo, pushed, hub.request("GET", "/api/health")[1]["head"]))
    ada = sidecars.agent(hub, "ada", heartbeat="1s")
    # the sidecar's clone of the target, made beforehand, with a real hook that makes making the
    # task's branch take 2.5 times the grace (as a slow fetch would)
    clone = ada.state_dir / "workspaces" / key(str(remote)) / "clone"
    clone.parent.mkdir(parents=True)
    git(clone.parent, "clone", "-q", "--no-checkout", str(remote), str(clone))
    hook = clone / ".git" / "hooks" / "reference-transaction"
    hook.write_text(f"""#!/bin/sh
[ "$1" = committed ] || exit 0
grep -q ' refs/heads/agent/' || exit 0
[ -e "{tmp_path}/slowed" ] && exit 0
touch "{tmp_path}/slowed"
sleep 5
""")
    hook.chmod(0o755)
    sidecars.start(ada)
    task_id = submit(hub, "commit fix.txt fixed", repo=str(remote), title="Fix it")

    done = finished(hub, task_id)

    assert (tmp_path / "slowed").exists()
    assert done["state"] == "review" and done["attempt"] == 1, done  # never taken back for silence


@pytest.mark.slow
def test_a_target_on_master_runs_end_to_end_with_no_base_setting(hub, sidecars, tmp_path):
    from tests.support.targets import make_remote

    target = make_remote(tmp_path / "remotes", "acme/api", branch="master")
    ada = sidecars.agent(hub, "ada")
    sidecars.start(ada)
    task_id = submit(hub, "commit fix.txt fixed", repo=str(target), title="Fix it")

    done = finished(hub, task_id)

    assert done["state"] == "review" and done["attempt"] == 1, done
    status, record = hub.request("GET", "/api/prs/1")
    assert status == 200 and (record["head"], record["base"]) == (f"agent/ada/{task_id}-fix-it", "master")
    master = git(target, "rev-parse", "master").stdout.strip()
    assert git(target, "rev-parse", f"agent/ada/{task_id}-fix-it~1").stdout.strip() == master


@pytest.mark.slow
def test_a_base_branch_the_target_lacks_fails_the_task_permanently_at_its_first_attempt(hub, sidecars, remote):
    ada = sidecars.agent(hub, "ada", base_branch="develop")
    sidecars.start(ada)
    task_id = submit(hub, "commit fix.txt fixed", repo=str(remote), title="Fix it")

    done = finished(hub, task_id)

    assert (done["state"], done["attempt"]) == ("dead", 1), done  # not four tries of the same mistake
    assert "the remote 'origin' has no branch develop; it has branches main and its HEAD is main; name the base: " \
           "`base_branch: BRANCH` in the sidecar config (or `agentcom add-agent NAME --base BRANCH`)" \
           in done["last_error"]
    assert git(remote, "branch", "--list", "agent/*").stdout == ""
