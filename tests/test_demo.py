"""`agentcom demo` as a user runs it (twice: the second run reuses the repo and the agents), and
the built-in demo agent on its own."""
from __future__ import annotations

import json
import os
import queue
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from coordinator.wire.atomic import write_json
from sidecar.runtime.launch import install_report_command
from tests.support.leftovers import processes_mentioning
from tests.support.processes import CLI

DEMO_AGENT = Path(__file__).resolve().parents[1] / "sidecar" / "fleet" / "demo_agent.py"
FLOW = re.compile(r"^  \d\d:\d\d:\d\d  (\S+)  (\w+) → (\w+) +(demo-\w+)? +(.*)$")


def samples_ended(lines: list[str]) -> bool:
    return any("sample tasks ended" in line for line in lines)


def run_demo(repo: Path, until=samples_ended, timeout: float = 60) -> tuple[list[str], int]:
    """Start `agentcom demo`, wait until its output satisfies `until`, SIGTERM it; returns its
    output lines and exit code."""
    proc = subprocess.Popen([sys.executable, str(CLI), "demo", "--repo", str(repo)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stdout], daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while not until(seen):
            try:
                seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError("the demo did not finish its sample tasks in time:\n" + "\n".join(seen)) from None
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        reader.join(timeout=10)
        proc.stdout.close()
    while not lines.empty():
        seen.append(lines.get())
    return seen, code


def flows(lines: list[str]) -> dict[str, list[tuple[str, str, str | None]]]:
    out: dict[str, list] = {}
    for line in lines:
        found = FLOW.match(line)
        if found:
            task_id, frm, to, agent, _ = found.groups()
            out.setdefault(task_id, []).append((frm, to, agent))
    return out


def check_stop(lines: list[str], code: int, tmp_path: Path) -> None:
    assert code == 0, "\n".join(lines)
    assert lines[-1] == "AgentCom demo stopped", "\n".join(lines)
    assert not processes_mentioning(str(tmp_path)), "the demo left processes running"


def check_run(lines: list[str], code: int, tmp_path: Path) -> list[str]:
    """One demo run: address first, every sample's whole flow, a clean stop. Returns the sample ids."""
    check_stop(lines, code, tmp_path)
    assert re.match(r"AgentCom demo: hub running at http://127\.0\.0\.1:\d+$", lines[0])
    assert "the 4 sample tasks ended: 4 done" in "\n".join(lines)
    samples = {t: steps for t, steps in flows(lines).items() if steps[0] == ("new", "queued", None)}
    assert len(samples) == 4, "\n".join(lines)
    for steps in samples.values():
        agent = steps[1][2]
        assert steps == [("new", "queued", None), ("queued", "assigned", agent), ("assigned", "working", agent),
                         ("working", "done", agent)]
    assert {steps[-1][2] for steps in samples.values()} == {"demo-ada", "demo-bob"}
    return list(samples)


def test_demo_runs_sample_tasks_through_two_agents_stops_cleanly_and_runs_again(tmp_path):
    repo = tmp_path / "demo.git"
    home = tmp_path / "demo-agents"
    first = check_run(*run_demo(repo), tmp_path)
    tokens = {}
    for name in ("demo-ada", "demo-bob"):
        config = home / f"{name}.yaml"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        tokens[name] = yaml.safe_load(config.read_text())["token"]
        assert tokens[name].startswith("acm_ag_")
    second = check_run(*run_demo(repo), tmp_path)
    assert not set(first) & set(second)
    for name in ("demo-ada", "demo-bob"):
        assert yaml.safe_load((home / f"{name}.yaml").read_text())["token"] == tokens[name]  # kept, not rotated
    for n, task_id in enumerate(first + second):
        assert (home / "out" / f"{task_id}.txt").read_text() == f"{n % 4 + 1}\n"


def test_a_demo_config_lost_gets_a_rotated_token_and_the_demo_still_runs(tmp_path):
    repo = tmp_path / "demo.git"
    check_run(*run_demo(repo), tmp_path)
    config = tmp_path / "demo-agents" / "demo-bob.yaml"
    old = yaml.safe_load(config.read_text())["token"]
    config.unlink()
    check_run(*run_demo(repo), tmp_path)
    assert yaml.safe_load(config.read_text())["token"] != old


def test_a_demo_stopped_mid_task_stops_its_agents_and_the_next_run_carries_that_work_on(tmp_path):
    repo = tmp_path / "demo.git"
    def two_running_and_all_queued(seen):  # the samples' 'new → queued' lines may print after a start
        return sum("assigned → working" in line for line in seen) >= 2 \
            and sum("new → queued" in line for line in seen) >= 4

    lines, code = run_demo(repo, until=two_running_and_all_queued)
    check_stop(lines, code, tmp_path)
    stop = lines.index("stopping the demo agents and the hub ...")
    tasks = flows(lines[:stop])
    running = {t for t, steps in tasks.items() if steps[-1][1] == "working"}
    waiting = {t for t, steps in tasks.items() if steps[-1][1] == "queued"}
    assert running and waiting, "\n".join(lines)
    said = "\n".join(lines[stop:])
    for task_id in running:  # the stop ended its run: interrupted, not the agent's failure, said at once
        assert re.search(rf"{task_id}  working → queued +demo-\w+'s run 1 of attempt 1 was interrupted: the "
                         rf"operator stopped agentcom demo; the agent was killed by signal 15; not counted as an "
                         rf"attempt", said), said

    def carried_on(seen):
        now = flows(seen)
        return samples_ended(seen) and all(t in now and now[t][-1][1] == "done" for t in running | waiting)

    again, code = run_demo(repo, until=carried_on)
    check_run(again, code, tmp_path)
    carried = dict(re.findall(r"^  carried over from an earlier run: (\S+) \((\w+)", "\n".join(again), re.MULTILINE))
    assert set(carried) == running | waiting and set(carried.values()) <= {"queued", "assigned"}
    for task_id in running:  # done on its next attempt, with the interrupted one not counted
        shown = json.loads(subprocess.run([sys.executable, str(CLI), "show", task_id, "--repo", str(repo), "--json"],
                                          capture_output=True, text=True, check=True, timeout=60).stdout)["task"]
        assert shown["state"] == "done" and shown["attempt"] - shown["attempt_base"] == 1
        assert shown["interruptions"] == 1 and "last_error" not in shown


def demo_agent(tmp_path: Path, prompt: str) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """Run the demo agent once as a sidecar would: a run folder, the report command on PATH."""
    run_dir, out = tmp_path / "run", tmp_path / "out"
    run_dir.mkdir()
    write_json(run_dir / "task.json", {"id": "t-1", "prompt": prompt})
    (tmp_path / "state").mkdir()
    bin_dir = install_report_command(tmp_path / "state")
    env = {**os.environ, "AGENTCOM_TASK_FILE": str(run_dir / "task.json"), "AGENTCOM_RUN_DIR": str(run_dir),
           "AGENTCOM_DEMO_OUT": str(out), "AGENTCOM_AGENT": "ada", "AGENTCOM_ATTEMPT": "2",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, str(DEMO_AGENT)], env=env, capture_output=True, text=True, timeout=30)
    return done, run_dir, out


def test_the_demo_agent_writes_the_number_and_reports_done(tmp_path):
    done, run_dir, out = demo_agent(tmp_path, "Write the number 42 to a file; take 0.1s.")
    assert done.returncode == 0, done.stderr
    assert (out / "t-1.txt").read_text() == "42\n"
    assert json.loads((run_dir / "result.json").read_text()) == {
        "status": "done", "summary": "wrote 42", "tokens": {"input": 100, "output": 20}}
    events = [json.loads(line) for line in (out / "t-1.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["started", "wrote", "reported"]
    assert {(e["agent"], e["attempt"]) for e in events} == {("ada", 2)}
    assert events[1]["at"] - events[0]["at"] >= 0.1
    assert events[2]["command"] == "agentcom-report done --summary 'wrote 42' --tokens-in 100 --tokens-out 20"


def test_the_demo_agent_fails_for_good_without_a_number(tmp_path):
    done, run_dir, out = demo_agent(tmp_path, "Write something")
    assert done.returncode == 0, done.stderr
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "failed" and result["permanent"] and "number N" in result["reason"]
    assert not (out / "t-1.txt").exists()
