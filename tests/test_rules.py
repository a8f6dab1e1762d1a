"""Design rules that must keep holding: pure modules stay pure, the template matches the
defaults, commit trailers are real git trailers, and layout paths round-trip."""
from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given, strategies as st

from coordinator import config
from coordinator.gatekeeper import rules as gk_rules
from coordinator.audit import Transition, message, parse
from coordinator.layout import LANES, State, location, parse_location, rejected_paths
from tests.support.gitenv import git

ROOT = Path(__file__).resolve().parents[1]
PURE = ("layout", "times", "plain", "task", "audit", "seal", "receive", "transitions", "view", "scheduler", "retry",
        "agents", "protocol", "sweeper", "ledger", "state", "prs", "forge/files", "reviews", "jsonbody")
IMPURE = {"os", "subprocess", "socket", "threading", "pygit2", "flask", "waitress", "filelock",
          "watchdog", "urllib", "time", "shutil", "signal", "ctypes"}


def test_pure_modules_import_no_io():
    for name in PURE:
        tree = ast.parse((ROOT / "coordinator" / f"{name}.py").read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] in PURE + ("errors",), f"{name} imports .{node.module}"
        assert not imported & IMPURE, f"coordinator/{name}.py imports {imported & IMPURE}"


SIDECAR_PURE = ("result", "prompt", "smokereport")
SIDECAR_MAY_IMPORT = {"errors", "times", "protocol", "client", "auth", "lock", "forge", "jsonbody",
                      "webserver"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_coordinator_never_imports_the_sidecar_and_the_sidecar_only_a_named_part_of_it():
    for path in (ROOT / "coordinator").rglob("*.py"):
        assert not {m for m in _imports(path) if m.split(".")[0] == "sidecar"}, f"{path.name} imports the sidecar"
    for path in (ROOT / "sidecar").glob("*.py"):
        used = {m.split(".")[1] for m in _imports(path) if m.startswith("coordinator.")}
        assert used <= SIDECAR_MAY_IMPORT, f"sidecar/{path.name} imports coordinator.{used - SIDECAR_MAY_IMPORT}"
        assert "coordinator" not in _imports(path), f"sidecar/{path.name} imports the whole coordinator"


def test_pure_sidecar_modules_import_no_io():
    for name in SIDECAR_PURE:
        imported = {m.split(".")[0] for m in _imports(ROOT / "sidecar" / f"{name}.py")}
        assert not imported & IMPURE, f"sidecar/{name}.py imports {imported & IMPURE}"


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


GATEKEEPER_PURE = ("rules", "findings", "patch", "secretscan", "manifests", "untrusted", "checks", "diffscan",
                   "verdict", "record")
GATEKEEPER_IMPURE = IMPURE | {"random", "datetime", "http", "io", "pathlib"}


def test_the_gatekeepers_pure_modules_import_no_io_and_only_pure_modules():
    doc = (ROOT / "coordinator" / "gatekeeper" / "__init__.py").read_text()
    assert ", ".join(GATEKEEPER_PURE) in " ".join(doc.split())  # the docstring names them all
    for name in GATEKEEPER_PURE:
        for node in ast.walk(ast.parse((ROOT / "coordinator" / "gatekeeper" / f"{name}.py").read_text())):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & GATEKEEPER_IMPURE, f"{name} imports I/O"
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                assert node.module.split(".")[0] not in GATEKEEPER_IMPURE, f"{name} imports {node.module}"
            elif isinstance(node, ast.ImportFrom) and node.level == 1:
                mods = [node.module] if node.module else [a.name for a in node.names]
                assert all(m.split(".")[0] in GATEKEEPER_PURE for m in mods), f"{name} imports .{node.module}"
            elif isinstance(node, ast.ImportFrom):
                assert node.module.split(".")[0] in PURE + ("errors",), f"{name} imports ..{node.module}"


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
