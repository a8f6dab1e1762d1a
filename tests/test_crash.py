"""kill -9 of the hub at any moment loses nothing: every acknowledged task is in the repo exactly
once, main is intact, and a restart carries on."""
from __future__ import annotations

import collections
import http.client
import threading
import time

import pytest

from coordinator.core.layout import parse_location
from coordinator.hub.hub import Hub
from tests.support.gitenv import git
from tests.support.processes import HubProcess


def _task_paths(repo) -> dict[str, list[str]]:
    found = collections.defaultdict(list)
    for path in git(repo, "ls-tree", "-r", "--name-only", "main").stdout.split():
        loc = parse_location(path)
        if loc:
            found[loc.task_id].append(path)
    return found


def _assert_intact(repo, acked: list[str]) -> None:
    git(repo, "fsck", "--no-dangling", "--no-progress")
    h = Hub(repo, fleet=False)  # a restart: reconciles and carries on
    try:
        in_view = set(h.view.tasks)
    finally:
        h.close()
    paths = _task_paths(repo)
    assert all(len(p) == 1 for p in paths.values()), {k: v for k, v in paths.items() if len(v) > 1}
    missing = [t for t in acked if t not in paths]
    assert not missing, f"acknowledged tasks lost: {missing}"
    assert in_view == set(paths)


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [1, 7, 23])
def test_sigkill_during_a_stream_of_submits_loses_no_acknowledged_task(repo, kill_after):
    hub = HubProcess(repo)
    acked, stop = [], threading.Event()

    def submit_forever(n):
        i = 0
        while not stop.is_set():
            try:
                status, body = hub.request("POST", "/api/tasks", {"prompt": f"worker {n} task {i}"})
            except (OSError, http.client.HTTPException):  # the hub died mid-answer
                return
            if status == 201:
                acked.append(body["id"])
            i += 1

    workers = [threading.Thread(target=submit_forever, args=(n,)) for n in range(4)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 30
    while len(acked) < kill_after and time.monotonic() < deadline:
        time.sleep(0.001)
    hub.kill()  # SIGKILL, mid-stream
    stop.set()
    for w in workers:
        w.join(timeout=30)
    assert len(acked) >= kill_after
    _assert_intact(repo, acked)


@pytest.mark.slow
def test_sigkill_while_a_push_is_being_taken_in_loses_no_submission(repo, clone):
    hub = HubProcess(repo)
    for i in range(40):
        (clone / "inbox" / f"t{i}.yaml").write_text(f"prompt: pushed task {i}\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "forty tasks")
    git(clone, "push", "-q")
    time.sleep(0.05)
    hub.kill()
    _assert_intact(repo, [])
    h = Hub(repo, fleet=False)
    try:
        prompts = sorted(h.load_task(r)["prompt"] for r in h.view.tasks.values())
        assert prompts == sorted(f"pushed task {i}" for i in range(40))
        assert not [p for p in git(repo, "ls-tree", "--name-only", "main", "inbox/").stdout.split()
                    if p.endswith(".yaml")]
    finally:
        h.close()
