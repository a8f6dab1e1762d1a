"""Starting a run: the agent command's arguments, environment and stdin, and the wrapper that
runs it. Task text reaches the agent as whole arguments, a file, stdin and environment
variables; it is never part of a shell string, and nothing but the configured command runs.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import sys
import time
from pathlib import Path

from coordinator.wire.atomic import write_bytes
from sidecar.runtime.config import SidecarConfig
from sidecar.runtime.prompt import agent_prompt
from sidecar.runtime.runs import Run

HERE = Path(__file__).resolve().parent
REPORT_COMMAND = "agentcom-report"
_PLACEHOLDER = re.compile(r"\{(prompt|prompt_file|task_file|task_id|attempt|title|run_dir|result_file)\}")
_SECRET_VARS = ("AGENTCOM_TOKEN", "AGENTCOM_AGENT_TOKEN")


def install_report_command(state_dir: Path) -> Path:
    """STATE/bin/agentcom-report: the agent's way to report (a standard-library script)."""
    bin_dir = state_dir / "bin"
    bin_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    script = bin_dir / REPORT_COMMAND
    text = (f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -E -s -S "
            f"{shlex.quote(str(HERE / 'report.py'))} \"$@\"\n")
    if not script.exists() or script.read_text() != text:
        write_bytes(script, text.encode(), mode=0o755)
        script.chmod(0o755)  # executable whatever the umask (the writer's mode is less the umask)
    return bin_dir


def prepare(config: SidecarConfig, run: Run) -> tuple[list[str], dict[str, str], str]:
    """Write the run's prompt and task files; return (argv, environment, stdin file or '-')."""
    task, attempt = run.task, run.attempt
    prompt = agent_prompt(task, attempt, config.prompt_footer, run.notes.get("branch"), run.notes.get("rework"))
    run.path("prompt.md").write_text(prompt)
    values = {"prompt": prompt, "prompt_file": str(run.path("prompt.md")), "task_file": str(run.path("task.json")),
              "task_id": task["id"], "attempt": str(attempt), "title": str(task.get("title") or ""),
              "run_dir": str(run.dir), "result_file": str(run.path("result.json"))}
    argv = [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in config.command]
    env = {k: v for k, v in os.environ.items() if k not in _SECRET_VARS}  # the agent never gets the token
    env.update(config.env)
    env.update({
        "AGENTCOM_TASK_ID": task["id"], "AGENTCOM_ATTEMPT": str(attempt),
        "AGENTCOM_TITLE": values["title"], "AGENTCOM_PROMPT": prompt,
        "AGENTCOM_PROMPT_FILE": values["prompt_file"], "AGENTCOM_TASK_FILE": values["task_file"],
        "AGENTCOM_RESULT_FILE": values["result_file"], "AGENTCOM_RUN_DIR": str(run.dir),
        "AGENTCOM_REPO": str(task.get("repo") or ""), "AGENTCOM_AGENT": config.agent,
        "AGENTCOM_BRANCH": str(run.notes.get("branch") or ""),
        "PATH": f"{config.state_dir / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}",
    })
    stdin = {"prompt": values["prompt_file"], "task": values["task_file"], "none": "-"}[config.stdin]
    return argv, env, stdin


def spawn(config: SidecarConfig, run: Run) -> int:
    """Start the wrapper for the next run of `run` in a session of its own; returns its pid."""
    argv, env, stdin = prepare(config, run)
    number = run.notes.get("runs", 0) + 1
    run.save(runs=number, phase="running", started_at=time.time(), killed=None, kill_at=None)
    workdir = str(run.notes.get("workdir") or config.workdir or run.dir)  # a task's worktree first
    out = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, str(run.path("stdout.log")), out, 0o600),
               (os.POSIX_SPAWN_OPEN, 2, str(run.path("stderr.log")), out, 0o600)]
    args = [sys.executable, "-E", "-s", "-S", str(HERE / "wrap.py"), str(run.dir), str(number), workdir, stdin,
            "--", *argv]
    return os.posix_spawn(sys.executable, args, env, file_actions=actions, setsid=True)


def kill(run: Run, sig: int = signal.SIGTERM) -> None:
    """Signal the run's whole process group (the wrapper and the agent with its children)."""
    found = run.process()
    if found is None or not run.alive():
        return
    try:
        os.killpg(found[0], sig)
    except ProcessLookupError:
        pass
