"""Fuzzing the task format's parser and admission (pure, fast): whatever bytes arrive, `load`
answers a plain mapping or InvalidTask naming the file, never another exception; and whatever
`admit` accepts, the hub can store, read back unchanged, and check as its own file. The same
function decides for the pre-receive hook and the hub, so what the hook lets through the hub
can always take in."""
from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings

from coordinator.core.task import Defaults, admit, check_stored, load
from coordinator.wire.errors import InvalidTask
from coordinator.wire.plain import plain_problems
from tests.support.hostile import python_doc, task_files

NOW = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
LIMIT = Defaults().max_bytes
WHERES = ["inbox/fuzz.yaml", "queue/high/fuzz.yaml"]
SLOW_DATA = [HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large]


def _admit(doc: dict, where: str) -> tuple[dict, bytes]:
    lane = where.split("/")[1] if where.startswith("queue/") else None
    return admit(doc, where, lane=lane, now=NOW, task_id="20261125-180000-000-fuzz", defaults=Defaults(),
                 source="fuzz")


def _stored_reads_back(task: dict, data: bytes, where: str) -> None:
    assert len(data) <= LIMIT
    again = load(data, f"queue/x/{task['id']}.yaml", LIMIT)
    assert again == task, (task, again)
    check_stored(again, where, task["id"])


@settings(max_examples=300, suppress_health_check=SLOW_DATA)
@given(task_files)
@example(b"prompt: hi\nmetadata: {a: !!timestamp foo}\n")
@example(b"prompt: hi\nmetadata: {a: !!bool maybe}\n")
def test_any_bytes_load_as_a_plain_mapping_or_an_error_naming_the_file(data):
    for where in WHERES:
        try:
            doc = load(data, where, LIMIT)
        except InvalidTask as e:
            assert e.where == where and e.problems and all(isinstance(p, str) and p for p in e.problems)
            assert str(e).startswith(f"{where}: ")
            continue
        assert isinstance(doc, dict) and plain_problems(doc) == []
        try:
            task, stored = _admit(doc, where)
        except InvalidTask as e:
            assert e.where == where and e.problems
            continue
        _stored_reads_back(task, stored, where)


@settings(max_examples=300, suppress_health_check=SLOW_DATA)
@given(python_doc)
@example({"prompt": "hi", "scope": ["**/[z-a]"]})
def test_any_document_is_admitted_into_bytes_that_read_back_the_same_or_refused_by_name(doc):
    where = "inbox/fuzz.yaml"
    try:
        task, stored = _admit(doc, where)
    except InvalidTask as e:
        assert e.where == where and e.problems and all(isinstance(p, str) and p for p in e.problems)
        return
    assert plain_problems(task) == []
    _stored_reads_back(task, stored, where)
