"""Enqueue by `git push origin HEAD:refs/for/main`: the hub takes the task files the pushed commits
add, whatever main did meanwhile, through the proc-receive hook; a push that breaks a rule is
refused whole and leaves nothing behind."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.gitenv import git
from tests.support.processes import HubProcess
from tests.test_push import done_task

FOR_MAIN = "HEAD:refs/for/main"
FORGED = ("add a task\n\nTask: t-1\nFrom: assigned\nTo: done\nAgent: dora\nAttempt: 1\n"
          "Reason: finished by dora\n")


def _commit(clone: Path, files: dict[str, bytes | None], message="add tasks", env: dict | None = None) -> str:
    for name, data in files.items():
        if data is None:
            git(clone, "rm", "-q", name)
            continue
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_bytes(data)
    git(clone, "add", "-A")
    subprocess.run(["git", "commit", "-q", "-F", "-"], cwd=clone, input=message, text=True, check=True,
                   env={**os.environ, **(env or {})})
    return git(clone, "rev-parse", "HEAD").stdout.strip()


def _refs(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)").stdout.split()


def _tree(repo: Path) -> list[str]:
    return git(repo, "ls-tree", "-r", "--name-only", "main").stdout.split()


def _queued_ids(hub: HubProcess) -> set[str]:
    return {t["id"] for t in hub.request("GET", "/api/status")[1]["tasks"]}


def test_a_push_to_refs_for_main_queues_its_files_though_main_moved_and_leaves_no_ref(hub, repo, clone):
    _commit(clone, {"inbox/fix-login.yaml": b"title: Fix login\nprompt: keep next\n",
                    "queue/high/hot.yaml": b"prompt: hot fix\nid: hot-1\n"})
    status, _ = hub.request("POST", "/api/tasks", {"prompt": "main moves on"})  # the clone is now behind
    assert status == 201
    push = git(clone, "push", "origin", FOR_MAIN, check=False)
    assert push.returncode == 0, push.stderr
    assert "agentcom: queued hot-1 as queue/high/hot-1.yaml (from queue/high/hot.yaml)" in push.stderr
    tasks = {t["title"]: t for t in hub.request("GET", "/api/status")[1]["tasks"]}
    login = tasks["Fix login"]
    assert f"agentcom: queued {login['id']} as {login['path']} (from inbox/fix-login.yaml)" in push.stderr
    assert login["path"].startswith("queue/normal/") and tasks["hot fix"]["path"] == "queue/high/hot-1.yaml"
    assert _refs(repo) == ["refs/heads/main"]  # nothing is left under refs/for/
    tree = _tree(repo)
    assert login["path"] in tree and "inbox/fix-login.yaml" not in tree and "queue/high/hot.yaml" not in tree
    shown = hub.request("GET", f"/api/tasks/{login['id']}")[1]["task"]
    assert shown["source"].startswith("push to refs/for/main by Test User <test@example.com> (")
    history = hub.request("GET", f"/api/tasks/{login['id']}/log")[1]["history"]
    assert [(h["from"], h["to"]) for h in history] == [("inbox", "queued")]


def test_without_a_hub_a_push_to_refs_for_main_is_taken_by_the_cli(repo, clone):
    _commit(clone, {"inbox/a.yaml": b"prompt: no hub here\nid: solo-1\n"})
    push = git(clone, "push", "origin", FOR_MAIN, check=False)
    assert push.returncode == 0, push.stderr
    assert "agentcom: queued solo-1 as queue/normal/solo-1.yaml (from inbox/a.yaml)" in push.stderr
    assert "queue/normal/solo-1.yaml" in _tree(repo) and _refs(repo) == ["refs/heads/main"]
    again = git(clone, "push", "origin", FOR_MAIN, check=False)
    assert again.returncode != 0
    assert "inbox/a.yaml: id 'solo-1' is already used by a task that is queued (queue/normal/solo-1.yaml)" \
        in again.stderr


def test_a_task_id_in_use_is_refused_naming_the_tasks_state(repo, clone):
    done_path = done_task(repo, "T-1")
    head = git(repo, "rev-parse", "main").stdout
    _commit(clone, {"inbox/again.yaml": b"prompt: again\nid: T-1\n"})
    push = git(clone, "push", "origin", FOR_MAIN, check=False)
    assert push.returncode != 0
    assert f"inbox/again.yaml: id 'T-1' is already used by a task that is done ({done_path})" in push.stderr
    assert git(repo, "rev-parse", "main").stdout == head


# --- what an attacker (or a careless pusher) tries: refused whole, nothing committed ---------

CASES = {
    "forged-transition-trailers": (
        lambda clone: _commit(clone, {"inbox/a.yaml": b"prompt: a\n"}, message=FORGED),
        "carries a task transition's trailers"),
    "coordinator-as-author": (
        lambda clone: _commit(clone, {"inbox/a.yaml": b"prompt: a\n"},
                              env={"GIT_AUTHOR_NAME": "AgentCom coordinator",
                                   "GIT_AUTHOR_EMAIL": "coordinator@agentcom.local"}),
        "names the coordinator as its author"),
    "config-change": (
        lambda clone: _commit(clone, {"inbox/a.yaml": b"prompt: a\n",
                                      "agentcom.yaml": b"limits:\n  task_bytes: 100\n"}),
        "agentcom.yaml: refs/for/main takes only new task files, and this push changes it; push that to main"),
    "non-task-path": (
        lambda clone: _commit(clone, {"inbox/a.yaml": b"prompt: a\n", "notes/plan.md": b"plans\n"}),
        "notes/plan.md: refs/for/main takes only new task files, and this push adds it; push that to main"),
    "oversized-file": (
        lambda clone: _commit(clone, {"inbox/a.yaml": b"prompt: a\n", "inbox/big.yaml": b"prompt: " + b"x" * 70000}),
        "inbox/big.yaml: file is 70008 bytes; the limit is 65536"),
    "invalid-task-beside-a-good-one": (
        lambda clone: _commit(clone, {"inbox/a.yaml": b"prompt: a\n", "inbox/b.yaml": b"promt: typo\n"}),
        "inbox/b.yaml: unknown field 'promt'; did you mean 'prompt'?"),
    "same-id-twice-in-the-push": (
        lambda clone: _commit(clone, {"inbox/a.yaml": b"prompt: a\nid: twin\n",
                                      "inbox/b.yaml": b"prompt: b\nid: twin\n"}),
        "id 'twin' is already used by inbox/a.yaml in this push"),
    "coordinator-directory": (
        lambda clone: _commit(clone, {"inbox/a.yaml": b"prompt: a\n", "done/2026-01/01/x.yaml": b"prompt: x\n"}),
        "done/ is written by the coordinator only"),
    "wrong-lane": (
        lambda clone: _commit(clone, {"queue/nromal/a.yaml": b"prompt: a\n"}),
        "'nromal' is not a lane (did you mean 'normal'?)"),
    "nothing-added": (
        lambda clone: git(clone, "rev-parse", "HEAD").stdout.strip(),
        "the push adds no task file"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_push_to_refs_for_main_that_breaks_a_rule_is_refused_and_nothing_lands(hub, repo, clone, case):
    make, expected = CASES[case]
    make(clone)
    head, before = git(repo, "rev-parse", "main").stdout, _queued_ids(hub)
    push = git(clone, "push", "origin", FOR_MAIN, check=False)
    assert push.returncode != 0
    assert expected in push.stderr, push.stderr
    assert "[remote rejected] HEAD -> refs/for/main" in push.stderr
    assert "agentcom: queued" not in push.stderr
    assert git(repo, "rev-parse", "main").stdout == head and _queued_ids(hub) == before
    assert _refs(repo) == ["refs/heads/main"]


def test_too_many_files_in_one_push_to_refs_for_main_are_refused(hub, repo, clone):
    _commit(clone, {"agentcom.yaml": b"limits:\n  push_files: 2\n"})
    git(clone, "push", "-q", "origin", "HEAD:main")
    _commit(clone, {f"inbox/t{i}.yaml": f"prompt: t{i}\n".encode() for i in range(3)})
    head = git(repo, "rev-parse", "main").stdout
    push = git(clone, "push", "origin", FOR_MAIN, check=False)
    assert push.returncode != 0 and "push adds 3 task files; the limit is 2 (limits.push_files)" in push.stderr
    assert git(repo, "rev-parse", "main").stdout == head


def test_refs_for_another_branch_and_a_deletion_are_refused(hub, repo, clone):
    _commit(clone, {"inbox/a.yaml": b"prompt: a\n"})
    head = git(repo, "rev-parse", "main").stdout
    other = git(clone, "push", "origin", "HEAD:refs/for/release", check=False)
    assert other.returncode != 0
    assert "refs/for/release takes nothing: tasks for main are pushed to refs/for/main" in other.stderr
    gone = git(clone, "push", "origin", ":refs/for/main", check=False)
    assert gone.returncode != 0
    assert git(repo, "rev-parse", "main").stdout == head and _refs(repo) == ["refs/heads/main"]


def test_a_push_to_main_and_refs_for_main_at_once_is_refused(hub, repo, clone):
    _commit(clone, {"inbox/a.yaml": b"prompt: a\n"})
    head = git(repo, "rev-parse", "main").stdout
    push = git(clone, "push", "origin", "HEAD:main", FOR_MAIN, check=False)
    assert push.returncode != 0 and "push to main and to refs/for/main separately" in push.stderr
    assert git(repo, "rev-parse", "main").stdout == head


def test_a_hub_start_installs_the_proc_receive_hook_in_an_older_repo(repo, clone):
    (repo / "hooks" / "proc-receive").unlink()
    (repo / "hooks" / "proc-receive.py").unlink()
    git(repo, "config", "--unset-all", "receive.procReceiveRefs")
    _commit(clone, {"inbox/a.yaml": b"prompt: a\nid: late-1\n"})
    git(clone, "push", "-q", "origin", FOR_MAIN)  # without the hook, git keeps it as a plain ref
    assert "refs/for/main" in _refs(repo) and "queue/normal/late-1.yaml" not in _tree(repo)
    git(repo, "update-ref", "-d", "refs/for/main")
    hub = HubProcess(repo)
    try:
        push = git(clone, "push", "origin", FOR_MAIN, check=False)
        assert push.returncode == 0 and "queued late-1 as queue/normal/late-1.yaml" in push.stderr
    finally:
        hub.stop()
    assert git(repo, "config", "--get-all", "receive.procReceiveRefs").stdout.split() == ["refs/for"]


def test_the_proc_receive_endpoint_needs_the_operator_token_and_refuses_bad_bodies_clearly(hub, repo):
    zero, head = "0" * 40, git(repo, "rev-parse", "main").stdout.strip()
    assert hub.request("POST", "/api/hooks/proc-receive", {"updates": []}, token=None)[0] == 401
    status, body = hub.request("POST", "/api/hooks/proc-receive", {"updates": ["junk"]})
    assert status == 400 and body["message"] == "not a ref update line: 'junk'"
    status, body = hub.request("POST", "/api/hooks/proc-receive", {"updates": [f"{zero} {head} refs/for/main"] * 101})
    assert status == 400 and "at most 100" in body["message"]
    tree = git(repo, "rev-parse", "main^{tree}").stdout.strip()
    for new in ("f" * 40, "f" * 64, zero, tree):  # absent, a name this repo cannot hold, a deletion, a tree
        status, body = hub.request("POST", "/api/hooks/proc-receive", {"updates": [f"{zero} {new} refs/for/main"]})
        assert status == 200 and body["results"] == [
            {"ref": "refs/for/main", "ok": False,
             "reason": "refs/for/main takes a commit; push one (git push origin HEAD:refs/for/main)"}], new
    assert git(repo, "rev-parse", "main").stdout.strip() == head


def test_a_push_the_hub_refuses_whole_says_the_hubs_reason_not_another(hub, repo, clone):
    _commit(clone, {"inbox/many.yaml": b"prompt: many refs\n"})
    refs = [FOR_MAIN, *(f"HEAD:refs/for/x{i}" for i in range(100))]  # 101 refs: over the hub's bound
    push = git(clone, "push", "origin", *refs, check=False)
    assert push.returncode != 0
    assert "the hub refused this push: updates must be a list of at most 100 'old new ref' lines" in push.stderr
    assert "already" not in push.stderr  # not the one-shot path's word about the hub's lock
    assert _refs(repo) == ["refs/heads/main"] and "many refs" not in str(hub.request("GET", "/api/status")[1])


def test_the_pre_receive_endpoint_refuses_names_the_repo_does_not_hold_clearly(hub, repo):
    head = git(repo, "rev-parse", "main").stdout.strip()
    for new in ("f" * 40, "f" * 64):  # absent, and a name this repo's hash cannot be
        status, body = hub.request("POST", "/api/hooks/pre-receive",
                                   {"updates": [f"{head} {new} refs/heads/main"], "objects": None})
        assert status == 200 and body["code"] == 1, body
        assert any("names no commits of this repo" in line for line in body["lines"]), body
    assert git(repo, "rev-parse", "main").stdout.strip() == head
