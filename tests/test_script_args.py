"""The script an agent command runs through an interpreter: found by a narrow rule (never a
prompt, a flag or a named command), and a missing one failing the sidecar's self-test with its
path, on real files."""
from __future__ import annotations

import pytest

from sidecar.runtime.config import parse_config
from sidecar.runtime.scriptargs import missing_script, script_argument
from sidecar.runtime.selftest import answer


@pytest.mark.parametrize("argv, script", [
    (["python", "agent.py"], "agent.py"),
    (["/usr/bin/python3.12", "-u", "bin/agent.py", "--fast", "{prompt}"], "bin/agent.py"),
    (["pypy3", "-OO", "agent"], "agent"),
    (["bash", "-eu", "run.sh", "-c", "x"], "run.sh"),
    (["sh", "./run"], "./run"),
    (["node", "--no-warnings", "dist/agent.mjs"], "dist/agent.mjs"),
    (["ruby", "-w", "agent.rb"], "agent.rb"),
    (["perl", "agent.pl"], "agent.pl"),
    (["php", "agent.php"], "agent.php"),
    (["uv", "run", "--no-project", "agent.py"], "agent.py"),
    (["deno", "run", "-A", "agent.ts"], "agent.ts"),
    (["bun", "run", "agent.ts"], "agent.ts"),
    (["bun", "agent.js"], "agent.js"),
])
def test_the_script_after_a_known_interpreter_is_found(argv, script):
    assert script_argument(argv) == script


@pytest.mark.parametrize("argv", [
    ["claude", "-p", "--", "{prompt}"],           # not an interpreter: its arguments are its own
    ["codex", "exec", "fix docs/readme.md"],      # a prompt with a slash is no file
    ["python", "-m", "agent"],                    # a module, not a file
    ["python", "-c", "print(1)"],
    ["python", "-W", "ignore", "agent.py"],       # an option that may take a value: not read past
    ["python", "-", "x"],                         # stdin
    ["python", "{task_file}"],                    # task text or a run's file
    ["python", "--", "agent.py"],
    ["bash", "-c", "./run.sh"],
    ["node", "-e", "1"],
    ["uv", "run", "pytest", "-q"],                # a named command, not a script
    ["bun", "run", "dev"],                        # a package.json script
    ["deno", "run", "https://example.com/agent.ts"],
    ["deno", "run", "npm:cowsay"],
    ["python"],
    ["pythonista", "agent.py"],
])
def test_no_script_is_read_from_a_prompt_a_flag_or_a_named_command(argv):
    assert script_argument(argv) is None


def test_a_missing_script_is_named_with_its_path_and_a_present_one_passes(tmp_path):
    (tmp_path / "agent.py").write_text("print('hi')\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool.sh").write_text("echo hi\n")
    assert missing_script(["python3", "agent.py"], tmp_path) is None
    assert missing_script(["python3", str(tmp_path / "agent.py")], None) is None
    assert missing_script(["bash", "tool.sh"], tmp_path, str(tmp_path / "bin")) is None  # bash looks on PATH too
    assert missing_script(["python3", "agnet.py"], tmp_path) == (
        f"the script 'agnet.py' of the agent command (python3) is not at {tmp_path / 'agnet.py'}; create it, or "
        "fix the path in the command (relative paths start at the workdir)")
    assert "'~' is not expanded" in missing_script(["python3", "~/agent.py"], tmp_path)
    assert missing_script(["python3", "agnet.py"], None) is None  # no workdir: each run's folder, unknown now


def test_the_sidecars_self_test_fails_for_good_naming_the_missing_script(tmp_path):
    doc = {"hub": "http://127.0.0.1:1", "agent": "ada", "token": "t", "workdir": str(tmp_path),
           "command": ["python3", "agnet.py", "--", "{prompt}"]}
    config = parse_config(doc, tmp_path, "ada.yaml")
    config.state_dir.mkdir()

    report = answer(config, 1)

    assert report["kind"] == "failed" and report["permanent"] is True
    assert f"command: the script 'agnet.py' of the agent command (python3) is not at {tmp_path / 'agnet.py'}" \
           in report["reason"]
    (tmp_path / "agnet.py").write_text("")
    assert answer(config, 1)["kind"] == "done"
