"""The one atomic file writer (coordinator/wire/atomic.py)."""
import json
import os
import stat

import pytest

from coordinator.wire import atomic


def test_a_write_replaces_the_whole_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "sidecar.json"
    target.write_text("old")
    atomic.write_bytes(target, b"new", mode=0o600)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 & ~_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sidecar.json"]


def test_create_never_replaces_a_file_already_there(tmp_path):
    target = tmp_path / "history.key"
    assert atomic.create(target, b"first") is True
    assert atomic.create(target, b"second") is False
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.key"]


def test_json_is_written_indented_and_read_back_leniently(tmp_path):
    target = tmp_path / "run.json"
    atomic.write_json(target, {"name": "ada ✓"})
    assert target.read_bytes() == json.dumps({"name": "ada ✓"}, indent=1, ensure_ascii=False).encode()
    assert atomic.read_json(target) == {"name": "ada ✓"}
    assert atomic.read_json(tmp_path / "missing.json") is None
    target.write_text("[1]")
    with pytest.raises(ValueError, match="not a JSON object"):
        atomic.read_json(target)


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "tokens.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        atomic.write_bytes(target, "not bytes")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.json"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
