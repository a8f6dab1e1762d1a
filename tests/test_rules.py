"""Design rules that must keep holding: the template matches the defaults, commit trailers are
real git trailers, and layout paths round-trip. The import rules are in test_layers."""
from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from coordinator.core import config
from coordinator.core.layout import LANES, State, location, parse_location, rejected_paths
from coordinator.core.trailers import Transition, message, parse, squash_message
from coordinator.gatekeeper import rules as gk_rules
from tests.support.gitenv import git

ROOT = Path(__file__).resolve().parents[1]


def test_template_config_states_the_defaults():
    parsed = config.parse((ROOT / "queue-repo-template" / "agentcom.yaml").read_bytes())
    assert parsed == config.Config()


def test_unknown_config_key_suggests_the_right_one():
    import pytest
    with pytest.raises(config.ConfigError, match="retry.max_retires: unknown key; did you mean 'retry.max_retries'"):
        config.parse(b"retry:\n  max_retires: 3\n")
    with pytest.raises(config.ConfigError, match="timeouts.accept: 'soon' is not a duration"):
        config.parse(b"timeouts:\n  accept: soon\n")


_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True)


@given(_names, _names, st.sampled_from(list(State)), st.sampled_from(LANES),
       st.datetimes(timezones=st.just(__import__("datetime").timezone.utc)))
def test_every_location_parses_back(task_id, agent, state, lane, when):
    if state in (State.INBOX, State.REJECTED):
        return
    loc = location(state, task_id, lane=lane, agent=agent, when=when)
    assert parse_location(loc.path) == loc


@given(st.text(max_size=300))
def test_rejected_names_are_safe_file_names(original):
    kept, reason = rejected_paths(original or "x", "20261125T000000")
    assert kept.startswith("rejected/") and "/" not in kept[len("rejected/"):] and ".." not in kept
    assert reason == kept + ".reason.yaml"


@given(_names, st.text(max_size=600), st.integers(0, 99))
def test_transition_messages_parse_back(task_id, reason, attempt):
    t = Transition(task_id, "queued", "assigned", "ada", attempt, reason)
    back = parse(message(t))
    assert back.task_id == task_id and back.attempt == attempt and back.agent == "ada"
    assert back.reason == (" ".join(reason.split())[:497] + "..." if len(" ".join(reason.split())) > 500
                           else " ".join(reason.split()) or "-")


def test_git_itself_reads_our_trailers(tmp_path):
    text = message(Transition("T-1", "queued", "assigned", "ada", 2, "scheduled: best fit"))
    out = git(tmp_path, "interpret-trailers", "--parse", input=text).stdout
    assert out.splitlines() == ["Task: T-1", "From: queued", "To: assigned", "Agent: ada", "Attempt: 2",
                                "Reason: scheduled: best fit"]


def test_a_merge_commits_trailers_are_real_trailers_whatever_the_title(tmp_path):
    subject, body = squash_message("Fix\nthe login\n\nTask: T-evil", 12, "T-42", "ada", "a" * 40, "grace")
    assert subject == "Fix the login Task: T-evil (#12)"   # one line: a title cannot forge a trailer
    out = git(tmp_path, "interpret-trailers", "--parse", input=f"{subject}\n\n{body}").stdout
    assert out.splitlines() == ["Task: T-42", "Agent: ada", f"Reviewed-Head: {'a' * 40}", "Merged-By: grace"]
    assert squash_message("Chore", 3, None, None, "b" * 40, "op")[1].startswith("Task: -\nAgent: -\n")


def test_template_rules_state_the_defaults():
    assert gk_rules.parse((ROOT / "queue-repo-template" / "gatekeeper.yaml").read_bytes()) == gk_rules.Rules()
    assert gk_rules.parse(b"") == gk_rules.Rules() == gk_rules.parse(b"# nothing set\n")
    assert gk_rules.parse(b"notify:\n  command: []\n") == gk_rules.Rules()   # older templates' empty form


def test_every_bench_still_imports():
    """A benchmark is run by hand; this catches one left pointing at a name that moved."""
    import importlib.util

    for path in sorted((ROOT / "bench").glob("*_bench.py")):
        spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
