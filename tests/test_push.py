"""Enqueue by git: real clones pushing through the real hooks to the hub's bare repo."""
from __future__ import annotations

from pathlib import Path

from coordinator.core.layout import State
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from tests.support.gitenv import git
from tests.support.processes import wait_for


def _commit(clone: Path, files: dict[str, bytes], message="add tasks") -> str:
    for name, data in files.items():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_bytes(data)
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", message)
    return git(clone, "rev-parse", "HEAD").stdout.strip()


def _tree(repo: Path) -> list[str]:
    return git(repo, "ls-tree", "-r", "--name-only", "main").stdout.split()


def test_pushed_inbox_task_is_queued_at_once_by_a_running_hub(hub, clone, repo):
    _commit(clone, {"inbox/fix-login.yaml": b"title: Fix login\nprompt: keep next\npriority: high\n"})
    git(clone, "push", "-q")
    status = wait_for(lambda: (s := hub.request("GET", "/api/status")[1])["lanes"]["high"] == 1 and s, timeout=10)
    [task] = status["tasks"]
    assert task["title"] == "Fix login" and task["path"].startswith("queue/high/")
    assert "inbox/fix-login.yaml" not in _tree(repo)
    history = hub.request("GET", f"/api/tasks/{task['id']}/log")[1]["history"]
    assert history[0]["from"] == "inbox" and "push by Test User" in history[0]["reason"]


def test_malformed_push_is_refused_naming_each_file_and_the_commit_stays_local(repo, clone):
    head_before = git(repo, "rev-parse", "main").stdout
    local = _commit(clone, {"inbox/ok.yaml": b"prompt: fine\n",
                            "inbox/bad.yaml": b"prompt: [oops\n",
                            "queue/high/typo.yaml": b"prompt: x\nprioirty: high\n",
                            "inbox/big.yaml": b"prompt: " + b"x" * 70000 + b"\n",
                            "done/sneaky.yaml": b"prompt: x\n"})
    push = git(clone, "push", check=False)
    assert push.returncode != 0
    assert "inbox/bad.yaml: not valid YAML" in push.stderr
    assert "queue/high/typo.yaml: unknown field 'prioirty'; did you mean 'priority'?" in push.stderr
    assert "inbox/big.yaml: file is" in push.stderr and "the limit is 65536" in push.stderr
    assert "done/sneaky.yaml; done/ is written by the coordinator only" in push.stderr
    assert "inbox/ok.yaml" not in push.stderr
    assert git(repo, "rev-parse", "main").stdout == head_before
    assert git(clone, "rev-parse", "HEAD").stdout.strip() == local  # nothing lost on the user's side


def test_symlink_and_wrong_directory_pushes_are_refused(clone):
    (clone / "inbox" / "link.yaml").symlink_to("/etc/passwd")
    _commit(clone, {"queue/medium/x.yaml": b"prompt: x\n"})
    push = git(clone, "push", check=False)
    assert push.returncode != 0
    assert "inbox/link.yaml is a symlink" in push.stderr
    assert "queue/medium/x.yaml: tasks go in inbox/NAME.yaml or queue/LANE/NAME.yaml" in push.stderr


def test_push_that_moves_or_edits_coordinator_files_is_refused(repo, clone):
    h = Hub(repo)
    task = h.call(Batch.submit, {"prompt": "x", "id": "t-1"}, "test")
    h.close()
    git(clone, "pull", "-q")
    path = f"queue/normal/{task['id']}.yaml"
    git(clone, "mv", path, "done/t-1.yaml")
    git(clone, "commit", "-q", "-m", "finish it myself")
    push = git(clone, "push", check=False)
    assert push.returncode != 0 and "done/t-1.yaml" in push.stderr
    git(clone, "reset", "-q", "--hard", "origin/main")
    (clone / path).write_text("prompt: changed\n")
    _commit(clone, {})
    push = git(clone, "push", check=False)
    assert push.returncode != 0 and f"push changes {path}; queue/ is written by the coordinator only" in push.stderr


def test_git_mv_of_a_dead_task_into_a_lane_retries_it(repo, clone):
    h = Hub(repo)
    try:
        h.call(Batch.submit, {"prompt": "flaky", "id": "t-dead"}, "test")
        h.call(Batch.transition, "t-dead", State.DEAD, reason="out of retries", updates={"last_error": "timeout"})
        git(clone, "pull", "-q")
        git(clone, "mv", "dead/t-dead.yaml", "queue/urgent/t-dead.yaml")
        git(clone, "commit", "-q", "-m", "retry t-dead")
        git(clone, "push", "-q")
        h.call(lambda batch: None)  # what the push notification triggers in a running hub
        shown = h.show("t-dead")
        assert shown["path"] == "queue/urgent/t-dead.yaml"
        assert shown["task"]["state"] == "queued" and shown["task"]["priority"] == "urgent"
        assert shown["task"]["last_error"] == "timeout"
        assert h.history("t-dead")[-1]["reason"] == "retried by push by Test User <test@example.com> (" + \
            git(repo, "rev-parse", "--short=10", "main~1").stdout.strip() + ")"
    finally:
        h.close()


def test_git_mv_between_lanes_reprioritises(repo, clone):
    h = Hub(repo)
    h.call(Batch.submit, {"prompt": "x", "id": "t-lane"}, "test")
    h.close()
    git(clone, "pull", "-q")
    git(clone, "mv", "queue/normal/t-lane.yaml", "queue/high/t-lane.yaml")
    git(clone, "commit", "-q", "-m", "bump")
    git(clone, "push", "-q")
    h = Hub(repo)  # no hub ran during the push: it is taken in at start
    try:
        assert h.show("t-lane")["task"]["priority"] == "high"
        assert h.history("t-lane")[-1]["reason"].startswith("re-prioritised by push by Test User")
    finally:
        h.close()


def test_config_push_must_parse(clone):
    (clone / "agentcom.yaml").write_text("retry:\n  max_retires: 5\n")
    _commit(clone, {})
    push = git(clone, "push", check=False)
    assert push.returncode != 0 and "retry.max_retires: unknown key; did you mean 'retry.max_retries'?" in push.stderr


def test_other_branches_are_not_checked(clone):
    git(clone, "checkout", "-q", "-b", "agent/ada/t-1")
    _commit(clone, {"src/app.py": b"print('hi')\n", "done/whatever.txt": b"x"})
    git(clone, "push", "-q", "origin", "agent/ada/t-1")


def test_a_push_is_judged_by_the_settings_it_brings(clone):
    (clone / "agentcom.yaml").write_text("limits:\n  task_bytes: 1000\n")
    _commit(clone, {"inbox/long.yaml": b"prompt: " + b"x" * 2000 + b"\n"})
    push = git(clone, "push", check=False)
    assert push.returncode != 0 and "inbox/long.yaml: file is 2009 bytes; the limit is 1000" in push.stderr


def test_a_running_hub_checks_pushes_itself_and_without_one_the_hook_fails_closed(repo, clone):
    from tests.support.processes import HubProcess

    hub = HubProcess(repo)
    # the local check cannot run (set after the start, which points the hooks at the hub's checkout)
    git(repo, "config", "agentcom.cli", str(repo / "no-such-agentcom.py"))
    try:
        _commit(clone, {"inbox/bad.yaml": b"prompt: [oops\n"})
        refused = git(clone, "push", "-q", check=False)
        assert refused.returncode != 0 and "inbox/bad.yaml: not valid YAML" in refused.stderr
        git(clone, "reset", "-q", "--hard", "origin/main")
        _commit(clone, {"inbox/good.yaml": b"prompt: fine\n"})
        git(clone, "push", "-q")  # checked and let through by the hub
        status, body = hub.request("POST", "/api/hooks/pre-receive", {"updates": [], "objects": "/"})
        assert status == 400 and "inside the repo's objects directory" in body["message"]
    finally:
        hub.stop()
    git(clone, "pull", "-q", "--rebase")  # the hub took good.yaml in: main moved
    _commit(clone, {"inbox/more.yaml": b"prompt: fine too\n"})
    blind = git(clone, "push", "-q", check=False)
    assert blind.returncode != 0 and "pre-receive hook declined" in blind.stderr  # nobody could check it
    assert "inbox/more.yaml" not in git(repo, "ls-tree", "-r", "--name-only", "main").stdout


def test_a_yaml_file_outside_inbox_and_the_lanes_lands_with_a_note_saying_where_tasks_go(repo, clone):
    _commit(clone, {"inbx/fix.yaml": b"prompt: typo in the folder\n", "tasks/more.yml": b"prompt: x\n",
                    "docs/notes.md": b"plain notes\n"})
    push = git(clone, "push", check=False)
    assert push.returncode == 0, push.stderr
    assert ("agentcom: note: inbx/fix.yaml is not where tasks go, so the hub leaves it alone (did you mean "
            "inbox/?); a task goes in inbox/NAME.yaml or queue/LANE/NAME.yaml (lanes: urgent, high, normal, low)"
            in push.stderr)
    assert "agentcom: note: tasks/more.yml is not where tasks go" in push.stderr
    assert "docs/notes.md" not in push.stderr
    assert {"inbx/fix.yaml", "tasks/more.yml", "docs/notes.md"} <= set(_tree(repo))
    _commit(clone, {"README.md": b"an ordinary change\n"})
    quiet = git(clone, "push", check=False)
    assert quiet.returncode == 0 and "agentcom" not in quiet.stderr


def test_a_wrong_lane_or_a_coordinator_folder_in_another_case_is_refused(repo, clone):
    head = git(repo, "rev-parse", "main").stdout
    _commit(clone, {"queue/nromal/x.yaml": b"prompt: x\n", "Inbox/y.yaml": b"prompt: y\n",
                    "QUEUE/high/z.yaml": b"prompt: z\n", "Done/old.txt": b"x\n"})
    push = git(clone, "push", check=False)
    assert push.returncode != 0
    assert ("queue/nromal/x.yaml: tasks go in inbox/NAME.yaml or queue/LANE/NAME.yaml (lanes: urgent, high, "
            "normal, low); 'nromal' is not a lane (did you mean 'normal'?)") in push.stderr
    assert ("Inbox/y.yaml: 'Inbox' is the coordinator's 'inbox' in another case, and macOS and Windows take "
            "the two for one name; tasks go in inbox/NAME.yaml") in push.stderr
    assert "QUEUE/high/z.yaml: 'QUEUE' is the coordinator's 'queue' in another case" in push.stderr
    assert "Done/old.txt: 'Done' is the coordinator's 'done' in another case" in push.stderr
    assert "name it something else" in push.stderr
    assert git(repo, "rev-parse", "main").stdout == head


def done_task(repo: Path, task_id: str) -> str:
    """A task `task_id` made and finished by a hub that then stops; its path in done/."""
    h = Hub(repo, fleet=False)
    try:
        h.call(Batch.submit, {"prompt": "x", "id": task_id}, "test")
        h.call(Batch.transition, task_id, State.DONE, reason="merged")
        return h.show(task_id)["path"]
    finally:
        h.close()


def test_a_pushed_id_in_use_is_refused_naming_where_it_is_and_in_what_state(repo, clone):
    done_path = done_task(repo, "T-1")
    git(clone, "pull", "-q")
    _commit(clone, {"inbox/early.yaml": b"prompt: first\nid: T-2\n"})
    git(clone, "push", "-q")  # no hub runs: it waits in inbox/ until one does
    _commit(clone, {"inbox/again.yaml": b"prompt: again\nid: T-1\n", "inbox/twin.yaml": b"prompt: twin\nid: T-2\n"})
    push = git(clone, "push", check=False)
    assert push.returncode != 0
    assert f"inbox/again.yaml: id 'T-1' is already used by a task that is done ({done_path})" in push.stderr
    assert ("inbox/twin.yaml: id 'T-2' is already used by inbox/early.yaml, a task the hub has not taken in "
            "yet") in push.stderr


def test_a_rewrite_of_main_or_main_pushed_with_another_branch_is_refused_before_it_can_hold_the_hub(repo, clone):
    _commit(clone, {"inbox/a.yaml": b"prompt: a\n"})
    git(clone, "push", "-q")
    head = git(repo, "rev-parse", "main").stdout
    git(clone, "reset", "-q", "--hard", "HEAD~1")
    _commit(clone, {"inbox/b.yaml": b"prompt: b\n"})
    forced = git(clone, "push", "--force", "origin", "HEAD:main", check=False)
    assert forced.returncode != 0 and "main's history cannot be rewritten" in forced.stderr
    git(clone, "pull", "-q", "--rebase")
    both = git(clone, "push", "--atomic", "origin", "HEAD:main", "HEAD:refs/heads/side", check=False)
    assert both.returncode != 0 and "push main on its own" in both.stderr
    assert git(repo, "rev-parse", "main").stdout == head
    assert git(clone, "push", "-q", "origin", "HEAD:main", check=False).returncode == 0
