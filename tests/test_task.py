"""The task format: what a user may write, what is refused, and the message they get."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.core.task import Defaults, dump, intake, load, new_id
from coordinator.wire.errors import InvalidTask

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def _intake(text: bytes, lane=None, limit=65536):
    return intake(load(text, "inbox/t.yaml", limit), "inbox/t.yaml", lane=lane, now=NOW,
                  task_id="generated-1", defaults=Defaults(), source="test")


def _problems(text: bytes, **kw) -> str:
    with pytest.raises(InvalidTask) as err:
        _intake(text, **kw)
    assert err.value.where == "inbox/t.yaml"
    return str(err.value)


def test_minimal_task_gets_every_coordinator_field():
    task = _intake(b"prompt: |\n  Fix the login redirect\n  keep next\n")
    assert task["id"] == "generated-1"
    assert task["title"] == "Fix the login redirect"
    assert task["priority"] == "normal"
    assert task["state"] == "queued" and task["attempt"] == 0 and task["agent"] is None
    assert task["max_retries"] == Defaults().max_retries
    assert task["created_at"] == task["queued_at"] == "2026-11-25T12:00:00.000Z"


def test_full_task_round_trips_through_yaml():
    text = (b"id: fix-login\ntitle: Fix login\nprompt: do it\npriority: high\nneeds: [python, git]\n"
            b"repo: git@example.com:org/app.git\npin: ada\ndepends_on: [a-1]\nmax_retries: 5\n"
            b"deadline: 30m\nnot_before: 2026-11-26T00:00:00Z\ntoken_budget: 50000\n"
            b"metadata: {ticket: 42}\n")
    task = _intake(text)
    assert task["id"] == "fix-login" and task["pin"] == "ada" and task["needs"] == ["python", "git"]
    assert task["deadline"] == "2026-11-25T12:30:00.000Z"
    assert task["not_before"] == "2026-11-26T00:00:00.000Z"
    assert load(dump(task), "x", 65536) == task


def test_lane_directory_sets_priority_and_a_conflict_is_refused():
    assert _intake(b"prompt: x\n", lane="low")["priority"] == "low"
    assert "in lane 'low' but says priority 'high'" in _problems(b"prompt: x\npriority: high\n", lane="low")


@pytest.mark.parametrize("text, expected", [
    (b"a: &x 1\nprompt: *x\n", "aliases"),
    (b"prompt: a\nprompt: b\n", "key 'prompt' appears twice"),
    (b"prompt: x\nprioirty: high\n", "unknown field 'prioirty'; did you mean 'priority'?"),
    (b"prompt: x\nstate: done\n", "field 'state' is written by the coordinator"),
    (b"prompt: x\npriority: asap\n", "priority: 'asap' is not one of"),
    (b"prompt: x\nid: ../etc/passwd\n", "id:"),
    (b"prompt: x\nid: a..b\n", "id:"),
    (b"prompt: x\nmax_retries: many\n", "max_retries: 'many' is not of type 'integer'"),
    (b"prompt: x\ndeadline: tomorrow\n", "deadline: 'tomorrow' is neither a duration"),
    (b"prompt: x\ndeadline: 2026-11-25T10:00:00\n", "has no time zone"),
    (b"title: no prompt\n", "'prompt' is a required property"),
    (b"- a\n- b\n", "must be a YAML mapping"),
    (b"", "found nothing"),
    (b"prompt: [unclosed\n", "not valid YAML"),
    (b"\xff\xfeprompt: x\n", "not UTF-8"),
    (b"prompt: x\n\x00\x01", "binary"),
    (b"prompt: " + b"x" * 70000 + b"\n", "the limit is 65536"),
    (b"1: x\nprompt: y\n", "keys must be text"),
    # typed scalars PyYAML cannot build used to escape as KeyError, IndexError, AttributeError
    (b"prompt: x\nmetadata: {a: !!bool maybe}\n", "'maybe' is not true or false"),
    (b"prompt: x\nmetadata: {a: !!int ''}\n", "'' is not a whole number"),
    (b"prompt: x\nmetadata: {a: !!float ''}\n", "'' is not a number"),
    (b"prompt: x\nmetadata: {a: !!timestamp foo}\n", "'foo' is not a date"),
    # pathspec lets re.error through for a bad character range
    (b"prompt: x\nscope: ['**/[z-a]']\n", "scope.0: '**/[z-a]' is not a .gitignore-style pattern"),
])
def test_bad_task_is_refused_with_a_reason_naming_the_problem(text, expected):
    assert expected in _problems(text)


def test_every_problem_is_listed_at_once():
    message = _problems(b"prompt: x\npriority: asap\nmax_retries: -1\ncolour: red\n")
    assert "priority" in message and "max_retries" in message and "colour" in message


def test_ids_sort_by_time_of_intake():
    rng = random.Random(7)
    ids = [new_id(NOW + timedelta(milliseconds=i * 3), rng) for i in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50


_yaml_bytes = st.one_of(
    st.binary(max_size=300),
    st.text(alphabet=st.sampled_from(list("prompt:id title-[]{}&*!|>'\"\n #%@`\t,?0123456789")), max_size=200)
      .map(lambda s: s.encode()),
)


@given(_yaml_bytes)
def test_any_bytes_give_a_task_or_our_own_error(data):
    try:
        task = _intake(data)
    except InvalidTask as e:
        assert e.problems and all(isinstance(p, str) and p for p in e.problems)
    else:
        assert task["state"] == "queued" and load(dump(task), "x", 1 << 20) == task


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), min_size=1, max_size=80)


@given(prompt=_text, title=_text, needs=st.lists(st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,10}", fullmatch=True),
                                                  unique=True, max_size=4))
def test_any_valid_submission_survives_dump_and_load(prompt, title, needs):
    task = intake({"prompt": prompt, "title": title[:200], "needs": needs}, "api", lane=None, now=NOW,
                  task_id="t-1", defaults=Defaults(), source="test")
    assert load(dump(task), "x", 1 << 20) == task
