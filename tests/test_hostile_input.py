"""Hostile task content, from every channel: whatever the pre-receive check accepts the hub can
store and serve; whatever arrives without the check is kept in rejected/ with its reason; one
bad item never stops the hub, nor fails or rolls back anyone else's call."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from coordinator.core.layout import State
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from tests.support.fleet_api import push_without_hook
from tests.support.gitenv import git
from tests.support.processes import wait_for

NESTED = b"prompt: hi\nmetadata: {a: " + b"[" * 400 + b"]" * 400 + b"}\n"  # 827 bytes
HOSTILE = {
    "inbox/nested.yaml": NESTED,
    "inbox/nested-deeper.yaml": b"prompt: hi\nmetadata: {a: " + b"[" * 32000 + b"]" * 32000 + b"}\n",
    "inbox/list-key.yaml": b"prompt: hi\nmetadata: {? [1, 2] : a}\n",
    "inbox/long-number.yaml": b"prompt: hi\nmetadata: {n: " + b"9" * 5000 + b"}\n",
    "inbox/far-deadline.yaml": b'prompt: hi\ndeadline: "9999-12-31T23:59:59-23:59"\n',
    "inbox/binary-tag.yaml": b"prompt: hi\nmetadata: {a: !!binary aGVsbG8=}\n",
    "inbox/set-tag.yaml": b"prompt: hi\nmetadata: {a: !!set {x, y}}\n",
    "inbox/date-tag.yaml": b"prompt: hi\nmetadata: {a: !!timestamp 2020-01-01}\n",
    "inbox/infinity.yaml": b"prompt: hi\nmetadata: {a: .inf}\n",
    "inbox/device-name.yaml": b"prompt: hi\nid: CON\n",
    "inbox/nul-escape.yaml": b'prompt: "hi\\0there"\n',
}
REASONS = {
    "inbox/nested.yaml": "nested more than 32 levels deep",
    "inbox/nested-deeper.yaml": "nested more than 32 levels deep",
    "inbox/list-key.yaml": "keys must be text",
    "inbox/long-number.yaml": "a number is too long",
    "inbox/far-deadline.yaml": "deadline: '9999-12-31T23:59:59-23:59' is out of range",
    "inbox/binary-tag.yaml": "metadata.a: binary data (!!binary) is not plain data",
    "inbox/set-tag.yaml": "metadata.a: a set (!!set) is not plain data",
    "inbox/date-tag.yaml": "metadata.a: a date value is not plain data",
    "inbox/infinity.yaml": "metadata.a: inf is not a number JSON can hold",
    "inbox/device-name.yaml": "id: 'CON' is a device name on Windows",
    "inbox/nul-escape.yaml": "prompt: text holds a NUL character",
}


def _commit(clone, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_bytes(data)
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "hostile")


@pytest.mark.parametrize("checker", ["running-hub", "hook-alone"])
def test_hostile_task_files_are_refused_at_push_each_with_its_file_and_reason(repo, clone, request, checker):
    if checker == "running-hub":
        request.getfixturevalue("hub")  # the hub answers the hook's fast path
    head = git(repo, "rev-parse", "main").stdout
    _commit(clone, HOSTILE)
    push = git(clone, "push", check=False)
    assert push.returncode != 0
    assert "Traceback" not in push.stderr and "Error:" not in push.stderr
    for path, reason in REASONS.items():
        assert f"{path}: " in push.stderr and reason in push.stderr, (path, push.stderr)
    assert git(repo, "rev-parse", "main").stdout == head


@pytest.mark.parametrize("hub_running", [True, False], ids=["push-while-running", "found-at-start"])
def test_hostile_files_landing_without_the_hook_are_rejected_and_the_hub_keeps_serving(repo, clone, hub_running):
    h = Hub(repo)
    h.call(Batch.submit, {"prompt": "before", "id": "before"}, "test")
    if not hub_running:
        h.close()
    push_without_hook(repo, clone, HOSTILE)
    if hub_running:
        h.call(lambda batch: None)  # a batch catches up with main first
    else:
        h = Hub(repo)  # start-up never dies on repo content
    try:
        after = h.call(Batch.submit, {"prompt": "after", "id": "after"}, "test")
        assert after["state"] == "queued"
        status = h.status()
        rejected = {r["file"]: " ".join(r["problems"]) for r in status["rejected"]}
        for path, reason in REASONS.items():
            assert reason in rejected[path], (path, rejected.get(path))
        assert {t["id"] for t in status["tasks"]} == {"before", "after"}
    finally:
        h.close()
    again = Hub(repo)  # and it starts again on what it left
    try:
        assert len(again.status()["rejected"]) == len(HOSTILE)
    finally:
        again.close()
    tree = git(repo, "ls-tree", "-r", "--name-only", "main").stdout.split()
    for path in HOSTILE:  # nothing deleted: each file is kept under rejected/ beside its reason
        stem = path.split("/")[-1][: -len(".yaml")]
        assert any(p.startswith("rejected/") and p.endswith(f"inbox__{stem}.yaml") for p in tree), path
        assert path not in tree


def test_a_call_that_breaks_inside_the_loop_fails_alone_and_undoes_only_itself(repo):
    h = Hub(repo, fleet=False)
    h.start()
    try:
        entered, gate = threading.Event(), threading.Event()

        def hold(batch):
            entered.set()
            gate.wait(10)

        blocker = threading.Thread(target=h.call, args=(hold,))
        blocker.start()  # holds the loop, so every call below lands in one batch
        assert entered.wait(10)

        def broken(batch):
            batch.submit({"prompt": "staged, then the call breaks", "id": "half"}, "test")
            raise TypeError("a bug in one call")

        with ThreadPoolExecutor(13) as pool:
            innocent = [pool.submit(h.call, Batch.submit, {"prompt": f"task {n}", "id": f"t{n}"}, "test")
                        for n in range(6)]
            bad = pool.submit(h.call, broken)
            innocent += [pool.submit(h.call, Batch.submit, {"prompt": f"task {n}", "id": f"t{n}"}, "test")
                         for n in range(6, 12)]
            wait_for(lambda: h._calls.qsize() == 13)
            gate.set()
            with pytest.raises(TypeError):
                bad.result(timeout=30)
            assert all(f.result(timeout=30)["state"] == "queued" for f in innocent)
        blocker.join(10)
        ids = {t["id"] for t in h.status()["tasks"]}
        assert ids == {f"t{n}" for n in range(12)}
        tree = git(repo, "ls-tree", "-r", "--name-only", "main").stdout
        assert "half.yaml" not in tree and "queue/normal/t11.yaml" in tree
    finally:
        h.close()


def test_the_api_refuses_nul_text_device_names_and_yaml_only_values_and_serves_the_rest(hub):
    nested = {"a": None}
    for _ in range(40):
        nested = {"a": nested}
    bad = [{"prompt": "hi\0there"}, {"prompt": "hi", "id": "aux"}, {"prompt": "hi", "id": "Com1.log"},
           {"prompt": "hi", "metadata": nested}, {"prompt": "hi", "metadata": {"n": 10 ** 30}},
           {"prompt": "hi", "deadline": "9999-12-31T23:59:59-23:59"}]
    with ThreadPoolExecutor(8) as pool:
        refused = [pool.submit(hub.request, "POST", "/api/tasks", body) for body in bad]
        accepted = [pool.submit(hub.request, "POST", "/api/tasks", {"prompt": f"innocent {n}"})
                    for n in range(30)]
        for f in refused:
            status, body = f.result()
            assert 400 <= status < 500 and body["error"] in ("InvalidTask", "BadJson"), body
        assert all(f.result()[0] == 201 for f in accepted)
    status = hub.request("GET", "/api/status")[1]
    assert status["counts"][State.QUEUED.label] == 30 and not status["rejected"]
