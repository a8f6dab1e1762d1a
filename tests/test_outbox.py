"""The sidecar's outbox on disk: reports kept in order, and every refused report kept, under a
name of its own, across any number of sidecar restarts."""
from __future__ import annotations

import json

from sidecar.runtime.outbox import Outbox


def refuse_one(box: Outbox, task_id: str, why: str) -> None:
    box.put(task_id, {"kind": "done", "attempt": 1, "summary": f"work on {task_id}"})
    [item] = box.pending()
    box.refuse(item, why)


def kept(box: Outbox) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(box.refused.iterdir())]


def test_reports_refused_across_restarts_are_all_kept_in_the_order_they_were_refused(tmp_path):
    for n in range(1, 4):  # each time a new sidecar process: a new Outbox on the same folder
        refuse_one(Outbox(tmp_path / "outbox"), f"task-{n}", f"409 StaleReport: attempt over ({n})")

    box = Outbox(tmp_path / "outbox")
    assert [(d["task_id"], d["refused"]) for d in kept(box)] == [
        (f"task-{n}", f"409 StaleReport: attempt over ({n})") for n in range(1, 4)]
    assert box.pending() == []


def test_a_refused_report_never_replaces_one_kept_under_the_same_name(tmp_path):
    box = Outbox(tmp_path / "outbox")
    (box.refused / "000000000001.json").write_text('{"task_id": "older", "refused": "kept by hand"}')
    box.put("newer", {"kind": "done", "attempt": 1})  # an older sidecar numbered from 1 again
    [item] = box.pending()
    item.path.rename(box.dir / "000000000001.json")

    box.refuse(box.pending()[0], "409 StaleReport")

    found = {d["task_id"]: d["refused"] for d in kept(box)}
    assert found == {"older": "kept by hand", "newer": "409 StaleReport"}
    assert json.loads((box.refused / "000000000001.json").read_text())["task_id"] == "older"
    assert box.pending() == []


def test_a_file_that_is_not_a_report_is_set_aside_and_numbering_goes_on(tmp_path):
    folder = tmp_path / "outbox"
    folder.mkdir()
    (folder / "notes.json").write_text('{"written": "by hand"}')
    (folder / "000000000007.json").write_text('{"task_id": "t", "body": {"kind": "progress", "attempt": 1}}')

    box = Outbox(folder)  # a name without a number does not stop the sidecar
    assert [p.task_id for p in box.pending()] == ["t"]
    box.put("u", {"kind": "progress", "attempt": 1})

    assert [p.path.name for p in box.pending()] == ["000000000007.json", "000000000008.json"]
    assert json.loads((box.refused / "notes.json").read_text()) == {"written": "by hand"}
