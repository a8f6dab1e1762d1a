"""Files that reach main without the hook (a mirror, a hook removed by hand) are never lost:
bad ones are kept in rejected/ with the reason beside them, coordinator files are put back."""
from __future__ import annotations

import pytest
import yaml

from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from tests.support.fleet_api import push_without_hook
from tests.support.gitenv import git

BAD = {
    "inbox/bad-yaml.yaml": b"prompt: [oops\n",
    "inbox/latin1.yaml": b"prompt: caf\xe9\n",
    "inbox/binary.yaml": b"\x89PNG\r\n\x1a\n\x00\x00",
    "inbox/huge.yaml": b"prompt: " + b"x" * 70000 + b"\n",
    "queue/low/typo.yaml": b"prompt: x\nprioirty: low\n",
    "done/2026-11/25/forged.yaml": b"prompt: x\n",
}


def _files(repo) -> dict[str, str]:
    out = {}
    for line in git(repo, "ls-tree", "-r", "main").stdout.splitlines():
        meta, path = line.split("\t", 1)
        out[path] = meta.split()[2]
    return out


@pytest.mark.parametrize("hub_running", [True, False], ids=["push-while-running", "found-at-start"])
def test_bad_files_are_kept_in_rejected_with_the_reason_and_nothing_is_deleted(repo, clone, hub_running):
    h = Hub(repo)
    h.call(Batch.submit, {"prompt": "keep me", "id": "victim"}, "test")
    h.call(Batch.submit, {"prompt": "edit me", "id": "edited"}, "test")
    h.call(Batch.submit, {"prompt": "original", "id": "dup"}, "test")
    if not hub_running:
        h.close()
    push_without_hook(repo, clone, {**BAD, "inbox/dup.yaml": b"id: dup\nprompt: second\n"}, symlink=True,
                       edit="queue/normal/edited.yaml", delete="queue/normal/victim.yaml")
    if hub_running:
        h.call(lambda batch: None)
    else:
        h = Hub(repo)
    try:
        files = _files(repo)
        blobs = {oid for path, oid in files.items() if path.startswith("rejected/")}
        checked = BAD
        for name, data in checked.items():
            oid = git(repo, "hash-object", "--stdin", input=data.decode("latin-1")).stdout.strip() \
                if b"\xe9" not in data and b"\x89" not in data else None
            if oid:
                assert oid in blobs, f"{name} was not kept"
            assert name not in files
        reasons = {}
        for path in files:
            if path.endswith(".reason.yaml"):
                reason = yaml.safe_load(git(repo, "show", f"main:{path}").stdout)
                reasons[reason["file"]] = " ".join(reason["problems"])
        assert "not valid YAML" in reasons["inbox/bad-yaml.yaml"]
        assert "not UTF-8" in reasons["inbox/latin1.yaml"]
        assert "binary" in reasons["inbox/binary.yaml"]
        assert "the limit is 65536" in reasons["inbox/huge.yaml"]
        assert "did you mean 'priority'" in reasons["queue/low/typo.yaml"]
        assert "coordinator" in reasons["done/2026-11/25/forged.yaml"]
        assert "symlink" in reasons["inbox/link.yaml"]
        assert "id 'dup' is already used" in reasons["inbox/dup.yaml"]
        assert "queue/normal/edited.yaml" in reasons
        # coordinator files are put back as they were
        assert files["queue/normal/victim.yaml"] and files["queue/normal/edited.yaml"]
        assert h.show("edited")["task"]["prompt"] == "edit me"
        assert h.show("victim")["task"]["prompt"] == "keep me"
        status = h.status()
        assert {r["file"] for r in status["rejected"]} >= set(checked) | {"inbox/link.yaml"}
        assert status["counts"]["queued"] == 3
    finally:
        h.close()


def test_startup_scan_is_idempotent(repo, clone):
    push_without_hook(repo, clone, BAD)
    Hub(repo).close()
    head = git(repo, "rev-parse", "main").stdout
    Hub(repo).close()
    assert git(repo, "rev-parse", "main").stdout == head
