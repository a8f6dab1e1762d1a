"""The result contract an agent follows (docs/agent-results.md): the agentcom-report command, the
result file, and how a run's ending becomes the report the hub gets. Also the sidecar's config."""
from __future__ import annotations

import json
import os
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.wire.errors import ConfigError
from coordinator.wire.protocol import REPORT_SCHEMA, parse_report
from sidecar.runtime.config import load_config
from sidecar.runtime.launch import install_report_command
from sidecar.runtime.prompt import FOOTER, agent_prompt
from sidecar.runtime.result import STOP_WINDOW, TOKENS_MAX, add_tokens, problems, run_tokens, stopped_by, verdict


def test_done_needs_a_done_result_and_a_clean_exit():
    done = {"status": "done", "summary": "fixed", "pr_url": "https://example.com/pr/1",
            "tokens": {"input": 10, "output": 2}, "model": "m"}
    assert verdict(2, code=0, result=done) == {"kind": "done", "attempt": 2, "summary": "fixed",
                                               "pr_url": "https://example.com/pr/1",
                                               "tokens": {"input": 10, "output": 2}, "model": "m"}
    crashed = verdict(2, code=1, result=done)
    assert crashed["kind"] == "failed" and "wrote a done result but exited with code 1" in crashed["reason"]
    assert crashed["tokens"] == {"input": 10, "output": 2}  # the tokens were spent either way


@pytest.mark.parametrize("ending, reason, permanent", [
    ({"code": 0, "result": None}, "the agent exited with code 0 without writing a result", False),
    ({"code": 3, "result": None, "stderr_tail": "boom\n"},
     "exited with code 3 without writing a result; last output: boom", False),
    ({"code": -9, "result": None}, "was killed by signal 9", False),
    ({"code": 0, "result": {"status": "failed", "reason": "no such repo", "permanent": True}}, "no such repo", True),
    ({"code": None, "result": None, "killed": "still running after run_timeout (2s)"},
     "killed: still running after run_timeout", False),
    ({"code": 0, "result": None, "result_error": "status: 'success' is not one of ['done', 'failed']"},
     "the result file is not valid", False),
    ({"code": None, "result": None, "start_error": "cannot start 'claude': No such file"},
     "cannot start 'claude'", False),
])
def test_every_other_ending_is_a_failure_with_its_reason(ending, reason, permanent):
    body = verdict(1, **ending)
    assert body["kind"] == "failed" and reason in body["reason"] and body["permanent"] is permanent
    parse_report(body)  # the hub takes it as it is


def test_the_result_file_is_checked_against_the_hubs_limits():
    assert problems({"status": "done"}) == []
    assert problems({"status": "failed"}) == ["result: 'reason' is a required property"]
    assert "summary" in problems({"status": "done", "summary": "x" * 5000})[0]
    assert problems([1]) == ["the result file must hold a JSON object"]
    assert problems({"kind": "blocked", "seq": 1}, "progress") == ["progress: 'note' is a required property"]


def test_the_report_command_keeps_the_hubs_limits(monkeypatch):
    import importlib.util
    import sys

    from sidecar.runtime import launch

    # it runs as a script (`python -E -s -S report.py`), so load it from its file, not its package
    spec = importlib.util.spec_from_file_location("report", launch.HERE / "report.py")
    report_cli = importlib.util.module_from_spec(spec)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts the project root on it
    spec.loader.exec_module(report_cli)
    for key, limit in report_cli.LIMITS.items():
        assert REPORT_SCHEMA["properties"][key]["maxLength"] == limit, key


@pytest.fixture
def run_dir(tmp_path):
    bin_dir = install_report_command(tmp_path / "state")
    run = tmp_path / "state" / "runs" / "fix-login.1"
    run.mkdir(parents=True)
    (run / "task.json").write_text(json.dumps({"id": "fix-login"}))
    env = {**os.environ, "AGENTCOM_RUN_DIR": str(run), "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def call(*args, stdin=None):
        return subprocess.run(["agentcom-report", *args], env=env, capture_output=True, text=True, input=stdin)
    return run, call


def test_an_agent_reports_done_failed_and_progress_with_one_command_each(run_dir):
    run, call = run_dir
    assert call("progress", "tests written").returncode == 0
    assert call("blocked", "may I run the migration?").returncode == 0
    assert json.loads((run / "progress.json").read_text()) == {"kind": "blocked", "seq": 2,
                                                               "note": "may I run the migration?"}
    done = call("done", "--summary", "-", "--pr-url", "https://example.com/pr/7", "--tokens-in", "1200",
                "--tokens-out", "300", "--model", "m1", stdin="Kept the next parameter.\nAdded a test.")
    assert done.returncode == 0, done.stderr
    result = json.loads((run / "result.json").read_text())
    assert result == {"status": "done", "summary": "Kept the next parameter.\nAdded a test.",
                      "pr_url": "https://example.com/pr/7", "model": "m1",
                      "tokens": {"input": 1200, "output": 300}}
    assert problems(result) == []
    assert call("failed", "--reason", "the repo is gone", "--permanent").returncode == 0
    assert json.loads((run / "result.json").read_text()) == {"status": "failed", "reason": "the repo is gone",
                                                             "permanent": True}


def test_progress_may_carry_the_tokens_spent_so_far_and_a_later_note_keeps_them(run_dir):
    run, call = run_dir
    assert call("progress", "halfway", "--tokens-in", "900", "--tokens-out", "80").returncode == 0
    assert call("blocked", "may I?").returncode == 0
    progress = json.loads((run / "progress.json").read_text())
    assert progress == {"kind": "blocked", "seq": 2, "note": "may I?", "tokens": {"input": 900, "output": 80}}
    assert problems(progress, "progress") == [] and run_tokens(None, progress) == {"input": 900, "output": 80}
    assert "not a whole number" in call("progress", "--tokens-in", "many").stderr


def test_the_report_command_refuses_bad_input_and_says_why(run_dir, tmp_path):
    _, call = run_dir
    bad = call("done", "--summary", "x" * 4001)
    assert bad.returncode == 2 and "at most 4000" in bad.stderr
    assert "http:// or https://" in call("done", "--summary", "ok", "--pr-url", "ftp://x").stderr
    assert "'-5' is not a whole number" in call("done", "--summary", "ok", "--tokens-in", "-5").stderr
    assert "--reason" in call("failed").stderr
    outside = subprocess.run(["agentcom-report", "done", "--summary", "ok"], capture_output=True, text=True,
                             env={**os.environ, "AGENTCOM_RUN_DIR": str(tmp_path),
                                  "PATH": f"{tmp_path / 'state' / 'bin'}:{os.environ['PATH']}"})
    assert outside.returncode == 2 and "run this from the command the sidecar started" in outside.stderr


def test_the_prompt_footer_is_short_and_names_the_task():
    text = agent_prompt({"id": "fix-login", "prompt": "Fix the login redirect\n"}, 3, footer=True)
    assert text.startswith("Fix the login redirect\n\n---\nAgentCom task fix-login, attempt 3.")
    assert len(FOOTER) / 4 < 200  # tokens the protocol adds to every task
    assert agent_prompt({"id": "a", "prompt": "p"}, 1, footer=False) == "p"


def _config(tmp_path, text, mode=0o600):
    path = tmp_path / "sidecar.yaml"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("command", ["claude -p {prompt}", "claude -p '{prompt} please' --max-turns 3",
                                     "agent --model x {title}"])
def test_a_command_where_task_text_could_read_as_an_option_is_refused_with_the_fix(tmp_path, command):
    with pytest.raises(ConfigError, match="would be read as an option; put it after `--`, e.g. '.* -- .*'"):
        load_config(_config(tmp_path, f"hub: http://127.0.0.1:8765\nagent: ada\ntoken: t\ncommand: {command}\n"))


def test_task_text_after_double_dash_or_inside_an_option_is_accepted(tmp_path):
    for command, argv in (("claude -p -- {prompt}", ("claude", "-p", "--", "{prompt}")),
                          ("agent --prompt={prompt} {task_id}", ("agent", "--prompt={prompt}", "{task_id}"))):
        config = load_config(_config(tmp_path, f"hub: http://127.0.0.1:8765\nagent: ada\ntoken: t\n"
                                               f"command: {command}\n"))
        assert config.command == argv


def test_a_sidecar_config_is_read_with_defaults_and_paths_beside_it(tmp_path):
    config = load_config(_config(tmp_path, "hub: http://127.0.0.1:8765/\nagent: ada\ntoken: acm_ag_x\n"
                                           "command: claude -p --max-turns 30 -- '{prompt}'\nheartbeat: 10s\n"))
    assert config.hub == "http://127.0.0.1:8765"
    assert config.command == ("claude", "-p", "--max-turns", "30", "--", "{prompt}")
    assert config.heartbeat == 10 and config.run_timeout == 7200 and config.state_dir == tmp_path / "ada.state"
    assert "acm_ag_x" not in repr(config)


@pytest.mark.parametrize("text, mode, message", [
    ("hub: http://h:1\nagent: ada\ntoken: t\ncommand: x\nheartbeet: 5s\n", 0o600,
     "heartbeet: unknown key; did you mean 'heartbeat'?"),
    ("hub: http://h:1\nagent: ada\ntoken: t\ncommand: run {promt}\n", 0o600, "unknown placeholder {promt}"),
    ("hub: http://h:1\nagent: ada\ntoken: t\ncommand: x\n", 0o644, "others can read it (mode 644); chmod 600 it"),
    ("hub: http://h:1\nagent: ada\ncommand: x\n", 0o600, "token: is required"),
    ("hub: h:1\nagent: ada\ntoken: t\ncommand: x\n", 0o600, "hub: 'h:1' is not a hub address"),
    ("hub: http://h:1\nagent: ada\ntoken: t\ncommand: x\nrun_timeout: soon\n", 0o600,
     "run_timeout: 'soon' is not a duration"),
    ("hub: http://h:1\nagent: ada\ntoken: t\ncommand: x\nstdin: all\n", 0o600,
     "stdin: 'all' is not one of prompt, task, none"),
    ("- a list\n", 0o600, "must be a mapping of settings"),
    ("hub: http://h:1\nagent: ada\ntoken: t\ncommand: x\nworkdir: ada.state\n", 0o600,
     "workdir: {tmp}/ada.state is inside state_dir ({tmp}/ada.state)"),
    ("hub: http://h:1\nagent: ada\ntoken: t\ncommand: x\nstate_dir: s\nworkdir: s/runs\n", 0o600,
     "workdir: {tmp}/s/runs is inside state_dir ({tmp}/s), among the sidecar's own files"),
])
def test_a_bad_sidecar_config_is_refused_naming_the_key(tmp_path, monkeypatch, text, mode, message):
    monkeypatch.delenv("AGENTCOM_AGENT_TOKEN", raising=False)
    message = message.replace("{tmp}", str(tmp_path.resolve()))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("{", r"\{")
                       .replace("}", r"\}").replace("?", r"\?").replace("[", r"\[")):
        load_config(_config(tmp_path, text, mode))


# --- an operator's stop, and the tokens of lost runs --------------------------------------

RUN = {"task": "fix-login", "attempt": 4, "run": 2}
MARK = {**RUN, "why": "the operator stopped agentcom demo", "at": 1000.0}


@pytest.mark.parametrize("code", [-2, -15, -1, 130, 143, 129])
def test_a_run_ended_by_the_stop_noted_for_it_is_interrupted(code):
    why = stopped_by(MARK, RUN, 990.0, code, 1003.5)
    assert why == "the operator stopped agentcom demo"
    body = verdict(4, code=code, result=None, stopped=why)
    assert body["interrupted"] is True and body["kind"] == "failed" and body["permanent"] is False
    assert body["reason"].startswith("the operator stopped agentcom demo; the agent ")
    parse_report({**body, "run": 2})  # the hub takes it as it is


@pytest.mark.parametrize("mark, run, started, code, at", [
    (None, RUN, 990.0, -15, 1001.0),                            # no stop noted: the agent's own death
    (MARK, {**RUN, "run": 1}, 990.0, -15, 1001.0),              # noted for another run
    (MARK, {**RUN, "attempt": 3}, 990.0, -15, 1001.0),          # ... of another attempt
    (MARK, {**RUN, "task": "fix-logout"}, 990.0, -15, 1001.0),  # ... of another task
    ({k: v for k, v in MARK.items() if k != "task"}, RUN, 990.0, -15, 1001.0),  # naming no task (the old mark)
    ({**MARK, "attempt": 4.0}, RUN, 990.0, -15, 1001.0),
    ({**MARK, "run": True}, {**RUN, "run": 1}, 990.0, -15, 1001.0),
    (MARK, RUN, 1000.5, -15, 1001.0),                           # noted before this run started
    (MARK, RUN, None, -15, 1001.0),                             # no start on record
    (MARK, RUN, 990.0, 1, 1001.0),                              # its own non-zero exit
    (MARK, RUN, 990.0, 0, 1001.0),
    (MARK, RUN, 990.0, -9, 1001.0),                             # not a stop's signal
    (MARK, RUN, 990.0, None, 1001.0),                           # no exit status
    (MARK, RUN, 990.0, -15, 1000.0 + STOP_WINDOW + 1),          # long after the stop: something else
    ({**MARK, "why": 5}, RUN, 990.0, -15, 1001.0),
    ({**MARK, "at": "soon"}, RUN, 990.0, -15, 1001.0),
    ([MARK], RUN, 990.0, -15, 1001.0),
    (MARK, RUN, 990.0, -15, None),
])
def test_any_other_ending_is_not_the_stops_doing(mark, run, started, code, at):
    assert stopped_by(mark, run, started, code, at) is None


def test_an_agent_that_failed_or_finished_before_the_stop_keeps_its_own_ending():
    failed = verdict(1, code=-15, result={"status": "failed", "reason": "no repo"}, stopped="stopped")
    assert "interrupted" not in failed and failed["reason"].startswith("no repo")
    done = verdict(1, code=0, result={"status": "done", "summary": "ok"}, stopped=None)
    assert done["kind"] == "done"
    late = verdict(1, code=-15, result={"status": "done", "summary": "ok", "tokens": {"input": 3}}, stopped="stopped")
    assert late["interrupted"] and late["tokens"] == {"input": 3}  # done, but not exited: not sure it is


def test_a_runs_tokens_come_from_its_result_else_its_last_progress_note():
    assert run_tokens({"status": "done", "tokens": {"input": 5}}, {"kind": "progress", "seq": 1,
                                                                   "tokens": {"input": 1}}) == {"input": 5}
    assert run_tokens(None, {"kind": "progress", "seq": 1, "tokens": {"output": 2}}) == {"output": 2}
    assert run_tokens({"status": "weird"}, {"kind": "progress", "seq": "x", "tokens": {"input": 1}}) == {}
    assert run_tokens(None, None) == {}


counts = st.fixed_dictionaries({}, optional={k: st.integers(0, 10**11) for k in ("input", "output", "total")})


def _total(t: dict) -> int:
    return t.get("total", t.get("input", 0) + t.get("output", 0))  # the hub's rule (Report.tokens_total)


@given(counts, counts)
def test_adding_token_counts_keeps_every_token_the_hub_counts(a, b):
    both = add_tokens(a, b)
    assert _total(both) == _total(a) + _total(b)
    assert set(both) <= {"input", "output", "total"}
    parse_report({"kind": "done", "attempt": 1, "tokens": both})


def test_added_token_counts_stay_within_the_protocols_limit():
    both = add_tokens({"input": TOKENS_MAX, "total": TOKENS_MAX}, {"input": 5, "output": TOKENS_MAX})
    assert both == {"input": TOKENS_MAX, "output": TOKENS_MAX, "total": TOKENS_MAX}
    parse_report({"kind": "done", "attempt": 1, "tokens": both})
