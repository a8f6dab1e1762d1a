"""The coordinator as the only writer: one commit per transition, the lock, and the view."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from coordinator.core.layout import State
from coordinator.core.trailers import parse
from coordinator.hub.batch import Batch, OutsideBatch
from coordinator.hub.hub import Hub
from coordinator.repo.gitrepo import GitRepo
from coordinator.wire.errors import CoordinatorBusy, IllegalTransition, InvalidTask, TaskNotFound
from tests.support.gitenv import git


@pytest.fixture
def hub_in_process(repo):
    h = Hub(repo, fleet=False)
    yield h
    h.close()


def _commits(repo) -> list[str]:
    return git(repo, "log", "--format=%H").stdout.split()


def test_each_transition_is_one_commit_with_parseable_trailers(hub_in_process, repo):
    h = hub_in_process
    before = len(_commits(repo))
    task = h.call(Batch.submit, {"prompt": "fix it", "priority": "high"}, "test")
    h.call(Batch.transition, task["id"], State.ASSIGNED, agent="ada", reason="scheduled")
    h.call(Batch.transition, task["id"], State.WORKING, reason="accepted")
    h.call(Batch.transition, task["id"], State.DONE, reason="agent reported done", updates={"result": {"pr": "u"}})
    commits = _commits(repo)
    assert len(commits) == before + 4
    moves = [parse(git(repo, "log", "-1", "--format=%B", c).stdout) for c in reversed(commits[:4])]
    assert [(m.from_state, m.to_state) for m in moves] == [
        ("new", "queued"), ("queued", "assigned"), ("assigned", "working"), ("working", "done")]
    assert all(m.task_id == task["id"] for m in moves) and moves[1].agent == "ada"
    trailers = git(repo, "log", "-1", "--format=%(trailers:key=To,valueonly)").stdout.strip()
    assert trailers == "done"
    shown = h.show(task["id"])
    assert shown["path"].startswith("done/") and shown["task"]["result"] == {"pr": "u"}
    assert [e["to"] for e in h.history(task["id"])] == ["queued", "assigned", "working", "done"]


def test_task_file_lives_in_exactly_one_state_directory(hub_in_process, repo):
    h = hub_in_process
    task = h.call(Batch.submit, {"prompt": "x"}, "test")
    h.call(Batch.transition, task["id"], State.ASSIGNED, agent="ada", reason="scheduled")
    files = git(repo, "ls-tree", "-r", "--name-only", "main").stdout.split()
    assert [f for f in files if task["id"] in f] == [f"assigned/ada/{task['id']}.yaml"]


def test_illegal_transition_is_refused_and_changes_nothing(hub_in_process, repo):
    h = hub_in_process
    task = h.call(Batch.submit, {"prompt": "x"}, "test")
    head = _commits(repo)[0]
    with pytest.raises(IllegalTransition, match="is queued; cannot move it to working"):
        h.call(Batch.transition, task["id"], State.WORKING, reason="bogus")
    with pytest.raises(IllegalTransition, match="is queued; cannot move it to review"):
        h.call(Batch.transition, task["id"], State.REVIEW, reason="bogus")
    with pytest.raises(TaskNotFound):
        h.call(Batch.cancel, "no-such-task", "test")
    assert _commits(repo)[0] == head


def test_duplicate_id_is_refused(hub_in_process):
    h = hub_in_process
    h.call(Batch.submit, {"prompt": "x", "id": "same"}, "test")
    with pytest.raises(InvalidTask, match="id 'same' is already used by a task that is queued"):
        h.call(Batch.submit, {"prompt": "y", "id": "same"}, "test")


def test_retry_and_cancel_round_trip(hub_in_process):
    h = hub_in_process
    task = h.call(Batch.submit, {"prompt": "x"}, "test")
    h.call(Batch.transition, task["id"], State.DEAD, reason="gave up", updates={"last_error": "boom"})
    assert h.call(Batch.retry, task["id"], "op", lane="urgent")["priority"] == "urgent"
    assert h.show(task["id"])["path"] == f"queue/urgent/{task['id']}.yaml"
    h.call(Batch.cancel, task["id"], "op")
    assert h.show(task["id"])["state"] == "cancelled"
    assert h.show(task["id"])["task"]["last_error"] == "boom"


def test_second_coordinator_on_the_same_repo_refuses_with_who_holds_it(hub_in_process, repo):
    code = textwrap.dedent(f"""
        from coordinator.hub.hub import Hub
        from coordinator.wire.errors import CoordinatorBusy
        try:
            Hub({str(repo)!r}, fleet=False)
        except CoordinatorBusy as e:
            print("BUSY", e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=os.path.dirname(os.path.dirname(__file__))).stdout
    assert out.startswith("BUSY") and f"pid {os.getpid()}" in out and "stop it first" in out


def test_lock_of_a_killed_coordinator_does_not_block_the_next(repo):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from coordinator.hub.hub import Hub
        hub = Hub({str(repo)!r}, fleet=False); print("held", flush=True); time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(CoordinatorBusy):
            Hub(repo, fleet=False)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        Hub(repo, fleet=False).close()  # the kernel released the dead holder's lock
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate(timeout=30)


def test_view_after_restart_matches_the_repo(repo):
    h = Hub(repo, fleet=False)
    ids = [h.call(Batch.submit, {"prompt": f"task {i}", "priority": p}, "test")["id"]
           for i, p in enumerate(["low", "urgent", "normal"])]
    h.call(Batch.transition, ids[0], State.ASSIGNED, agent="bob", reason="scheduled")
    before = h.status()
    h.close()
    again = Hub(repo, fleet=False)
    try:
        after = again.status()
        assert after["counts"] == before["counts"] and after["tasks"] == before["tasks"]
        assert after["lanes"] == {"urgent": 1, "high": 0, "normal": 1, "low": 0}
    finally:
        again.close()


def test_commit_cost_does_not_rewrite_unrelated_trees(hub_in_process, repo):
    h = hub_in_process
    h.call(Batch.submit, {"prompt": "a"}, "test")
    done_tree = git(repo, "rev-parse", "main:done").stdout
    h.call(Batch.submit, {"prompt": "b"}, "test")
    assert git(repo, "rev-parse", "main:done").stdout == done_tree
    GitRepo(repo).close()


def test_a_ref_lock_held_by_a_push_or_gc_is_waited_for(hub_in_process, repo):
    import threading
    import time

    h = hub_in_process
    lock = repo / "refs" / "heads" / "main.lock"
    lock.write_text("")
    threading.Timer(0.3, lock.unlink).start()
    started = time.monotonic()
    task = h.call(Batch.submit, {"prompt": "x"}, "test")
    assert time.monotonic() - started >= 0.25
    assert h.show(task["id"])["state"] == "queued"


def test_a_push_racing_a_commit_is_taken_in_and_the_change_is_redone_on_top(hub_in_process, repo, clone):
    h = hub_in_process
    first = h.call(Batch.submit, {"prompt": "mine"}, "test")
    git(clone, "pull", "-q")
    (clone / "inbox" / "theirs.yaml").write_text("prompt: theirs\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "theirs")
    runs = []

    def cancel_while_a_push_lands(batch):
        task = batch.cancel(first["id"], "op")  # staged on the old main...
        if not runs:
            git(clone, "push", "-q")        # ...which a push moves before the hub publishes
        runs.append(task["state"])
        return task

    assert h.call(cancel_while_a_push_lands)["state"] == "cancelled"
    assert len(runs) == 2  # lost the race once, then redone on top of the push
    prompts = sorted(h.load_task(r)["prompt"] for r in h.view.tasks.values())
    assert prompts == ["mine", "theirs"]
    log = git(repo, "log", "--format=%s", "-3").stdout.splitlines()
    assert "queued → cancelled" in log[0] and "inbox → queued" in log[1] and log[2] == "theirs"


def test_a_write_outside_its_batch_is_refused_and_changes_nothing(hub_in_process, repo):
    h = hub_in_process
    head = _commits(repo)[0]
    kept = h.call(lambda batch: batch)
    with pytest.raises(OutsideBatch, match="its batch has ended"):
        kept.submit({"prompt": "late"}, "test")
    with pytest.raises(OutsideBatch, match="no batch is running"):
        h.tasks.submit({"prompt": "around the loop"}, "test")

    def from_another_thread(batch):
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(batch.submit, {"prompt": "from a web thread"}, "test").exception()

    assert isinstance(h.call(from_another_thread), OutsideBatch)
    assert h.view.tasks == {} and _commits(repo)[0] == head


def test_a_failing_operation_leaves_nothing_half_staged(hub_in_process, repo):
    h = hub_in_process
    head = _commits(repo)[0]

    def submit_then_crash(batch):
        batch.submit({"prompt": "half"}, "test")
        raise ZeroDivisionError("a bug after staging")

    with pytest.raises(ZeroDivisionError):
        h.call(submit_then_crash)
    h.call(Batch.submit, {"prompt": "whole"}, "test")
    assert [h.load_task(r)["prompt"] for r in h.view.tasks.values()] == ["whole"]
    assert _commits(repo)[1] == head


def test_a_task_accepted_under_one_size_limit_survives_a_lower_one(repo, clone):
    h = Hub(repo, fleet=False)
    task = h.call(Batch.submit, {"prompt": "x" * 50000}, "test")
    h.close()
    git(clone, "pull", "-q")
    (clone / "agentcom.yaml").write_text("limits:\n  task_bytes: 1000\n")
    git(clone, "commit", "-q", "-am", "smaller tasks from now on")
    git(clone, "push", "-q")
    again = Hub(repo, fleet=False)
    try:
        assert again.config.limits.task_bytes == 1000
        assert again.show(task["id"])["state"] == "queued" and not again.status()["rejected"]
        with pytest.raises(InvalidTask, match="the limit is 1000"):
            again.call(Batch.submit, {"prompt": "y" * 2000}, "test")
    finally:
        again.close()


def test_only_dead_or_cancelled_tasks_are_retried_and_retry_clears_the_finish(hub_in_process):
    h = hub_in_process
    task = h.call(Batch.submit, {"prompt": "x"}, "test")
    with pytest.raises(IllegalTransition, match="only dead or cancelled tasks are retried"):
        h.call(Batch.retry, task["id"], "op")
    h.call(Batch.cancel, task["id"], "op")
    assert "finished_at" in h.show(task["id"])["task"]
    assert "finished_at" not in h.call(Batch.retry, task["id"], "op")


def test_rewritten_history_loses_no_task_and_a_hand_move_in_it_is_carried_out(hub_in_process, repo, tmp_path):
    h = hub_in_process
    kept = h.call(Batch.submit, {"prompt": "dropped by the rewrite"}, "test")
    dead = h.call(Batch.submit, {"prompt": "moved by hand", "id": "t-dead"}, "test")
    h.call(Batch.transition, dead["id"], State.DEAD, reason="out of retries")
    dead_file = git(repo, "show", f"main:dead/{dead['id']}.yaml").stdout
    # someone force-writes main: back to the first commit, plus the dead task moved into a lane
    first = git(repo, "rev-list", "--max-parents=0", "main").stdout.strip()
    blob = git(repo, "hash-object", "-w", "--stdin", input=dead_file).stdout.strip()
    env = {**os.environ, "GIT_INDEX_FILE": str(tmp_path / "index")}

    def plumbing(*args):
        return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                              text=True, timeout=30).stdout.strip()

    plumbing("read-tree", first)
    plumbing("update-index", "--add", "--cacheinfo", f"100644,{blob},queue/low/{dead['id']}.yaml")
    rewritten = plumbing("commit-tree", plumbing("write-tree"), "-p", first, "-m", "rewrite")
    git(repo, "update-ref", "refs/heads/main", rewritten)
    h.call(lambda batch: None)
    assert h.show(kept["id"])["state"] == "queued"  # put back
    shown = h.show(dead["id"])
    assert shown["path"] == f"queue/low/{dead['id']}.yaml" and shown["task"]["state"] == "queued"
    assert git(repo, "merge-base", "--is-ancestor", rewritten, "main", check=False).returncode == 0
