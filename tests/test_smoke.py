"""`agentcom smoke` as a user runs it: a whole local fleet per scenario, real figures, a verdict
that fails when a check fails; and the report's checks on their own."""
from __future__ import annotations

import re
from pathlib import Path

from sidecar.fleet.smoke import Run, _figures
from sidecar.fleet.smokereport import (
    OVERHEAD_LIMIT,
    Report,
    TaskFigures,
    every_agent_worked,
    in_lane_order,
    lane_runs,
    recovery_checks,
    urgent_first,
)
from sidecar.fleet.taskflow import Step
from tests.support.leftovers import processes_mentioning
from tests.support.processes import agentcom


def smoke(tmp_path: Path, *args: str, timeout: float = 120):
    """Run `agentcom smoke ARGS` with its temporary folder inside tmp_path; check it cleaned up."""
    done = agentcom("smoke", *args, timeout=timeout, env={"TMPDIR": str(tmp_path)})
    assert not list(tmp_path.glob("agentcom-smoke-*")), "the temporary folder was not removed"
    assert not processes_mentioning(str(tmp_path)), "smoke left processes running"
    return done


def row(output: str, name: str) -> str:
    found = re.search(rf"^  {re.escape(name)} +(.*)$", output, re.MULTILINE)
    assert found, f"no '{name}' line in:\n{output}"
    return found.group(1)


def check_figures(output: str, tasks: int) -> None:
    assert row(output, "tasks completed") == f"{tasks}/{tasks}"
    p50, worst = map(float, re.match(r"p50 ([\d.]+) s, max ([\d.]+) s", row(output, "assignment latency")).groups())
    assert 0 < p50 <= worst
    tokens = re.match(r"(\d+) tokens per task, max (\d+) \(prompt footer (\d+) chars \+ report command (\d+) chars",
                      row(output, "coordination overhead"))
    mean, most, footer, command = map(int, tokens.groups())
    assert 0 < mean <= most < OVERHEAD_LIMIT and footer > 100 and command > 20
    assert re.match(r"[\d.]+ s \(start of the hub to everything stopped\)", row(output, "wall time"))
    assert row(output, "result") == "PASS"
    assert "FAILED" not in output


def test_basic_smoke_completes_every_task_and_prints_real_figures(tmp_path):
    done = smoke(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("AgentCom smoke: basic, 2 agents, 10 tasks")
    check_figures(out, 10)
    worst = float(re.match(r"p50 [\d.]+ s, max ([\d.]+) s", row(out, "assignment latency")).group(1))
    assert worst < 5
    assert re.match(r"p50 [\d.]+ s, max [\d.]+ s \(the first 2 tasks", row(out, "  on an idle agent"))


def test_a_lost_machine_s_task_is_finished_once_by_the_other_agent(tmp_path):
    done = smoke(tmp_path, "--scenario", "kill")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    check_figures(out, 2)
    lost = re.match(r"(smoke-\d) while it ran (\S+) \(SIGKILL to its sidecar, pid \d+, and its agent's processes, "
                    r"pids \d+", row(out, "lost"))
    victim, task_id = lost.groups()
    survivor = {"smoke-1": "smoke-2", "smoke-2": "smoke-1"}[victim]
    history = row(out, "its history")
    assert history.startswith(f"new → queued → assigned [{victim}] → working → queued")
    assert history.endswith(f"assigned [{survivor}] → working → done [{survivor}]")
    assert history.count("done") == 1
    assert re.match(rf"{task_id} restarted on {survivor} [\d.]+ s after the loss; done once, by {survivor}",
                    row(out, "recovered"))


def test_urgent_work_starts_first_and_every_agent_gets_some(tmp_path):
    done = smoke(tmp_path, "--scenario", "priorities")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("AgentCom smoke: priorities, 4 agents, 20 tasks")
    check_figures(out, 20)
    assert row(out, "start order by lane") == "urgent×5 high×5 normal×5 low×5 (queued → assigned, in commit order)"
    per_agent = dict(re.findall(r"(smoke-\d) (\d+)", row(out, "work per agent")))
    assert sorted(per_agent) == ["smoke-1", "smoke-2", "smoke-3", "smoke-4"]
    assert all(int(n) > 0 for n in per_agent.values()) and sum(map(int, per_agent.values())) == 20
    assert row(out, "assignment latency").endswith("not checked")


def test_tasks_left_unfinished_fail_the_smoke_and_say_which_check(tmp_path):
    done = smoke(tmp_path, "--tasks", "40", "--timeout", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    completed, total = map(int, row(done.stdout, "tasks completed").split("/"))
    assert total == 40 and completed < 40
    assert row(done.stdout, "result").startswith("FAIL")
    assert re.search(rf"^  FAILED tasks completed: {completed}/40 done; every task must end done$", done.stdout,
                     re.MULTILINE)


def test_scenario_options_that_cannot_work_are_usage_errors(tmp_path):
    for args, message in ((("--scenario", "kill", "--agents", "1"), "needs --agents 2 or more"),
                          (("--scenario", "priorities", "--tasks", "3"), "at least 4")):
        done = smoke(tmp_path, *args)
        assert done.returncode == 2 and message in done.stderr


# --- the report's checks, on made-up figures ----------------------------------------------

def figures(n: int = 10, *, done: int | None = None, latency: float = 0.2, added: int = 560,
            command: int = 72) -> list[TaskFigures]:
    done = n if done is None else done
    return [TaskFigures(f"t{i}", "normal", 100.0, 100.0 + latency, i < done, added, command) for i in range(n)]


def failed(report: Report) -> list[str]:
    return [c.name for c in report.checks() if not c.ok]


def test_a_report_passes_when_every_task_is_done_quickly_and_cheaply():
    report = Report("t", figures(), wall=3.0)
    assert report.passed() and failed(report) == []
    lines = report.lines()
    assert "  tasks completed        10/10" in lines
    assert "  coordination overhead  158 tokens per task, max 158 (prompt footer 560 chars + report command " \
           "72 chars, at 4 chars per token)" in lines
    assert lines[-1] == "  result                 PASS"


def test_nine_of_ten_tasks_done_is_a_failure():
    report = Report("t", figures(done=9), wall=3.0)
    assert failed(report) == ["tasks completed"]
    assert "  FAILED tasks completed: 9/10 done; every task must end done" in report.lines()


def test_one_assignment_at_the_latency_limit_is_a_failure():
    tasks = figures()
    tasks[3] = TaskFigures("slow", "normal", 100.0, 105.0, True, 560, 72)
    report = Report("t", tasks, wall=3.0)
    assert failed(report) == ["assignment latency"]
    assert "  FAILED assignment latency: 1 task(s) not started within 5 s (max 5.00 s)" in report.lines()
    assert Report("t", tasks, wall=3.0, latency_checked=False).passed()


def test_a_task_never_started_fails_the_latency_check_too():
    tasks = figures()
    tasks[0] = TaskFigures("never", "normal", 100.0, None, False)
    assert failed(Report("t", tasks, wall=3.0)) == ["tasks completed", "assignment latency"]


def test_overhead_of_500_tokens_or_more_is_a_failure():
    assert failed(Report("t", figures(added=2000 - 72), wall=1.0)) == ["coordination overhead"]
    assert Report("t", figures(added=1996 - 72), wall=1.0).passed()
    unmeasured = figures()
    unmeasured[0] = TaskFigures("x", "normal", 100.0, 100.1, True, None, 72)
    assert failed(Report("t", unmeasured, wall=1.0)) == ["coordination overhead"]


def test_no_tasks_at_all_is_not_a_pass():
    assert not Report("t", [], wall=1.0).passed()


def test_lane_order_checks():
    assert lane_runs(["urgent", "urgent", "high", "urgent"]) == "urgent×2 high×1 urgent×1"
    assert urgent_first(["urgent", "urgent", "high", "low"]) and not urgent_first(["urgent", "high", "urgent"])
    assert not urgent_first(["high", "low"])
    order = ("urgent", "high", "normal", "low")
    assert in_lane_order(["urgent", "high", "high", "low"], order)
    assert not in_lane_order(["urgent", "normal", "high"], order)


def test_every_agent_must_finish_some_work():
    assert every_agent_worked({"a": 3, "b": 1}).ok
    check = every_agent_worked({"a": 4, "b": 0})
    assert not check.ok and check.detail == "no task done by b"
    assert not every_agent_worked({}).ok


LOST = [("queued", None), ("assigned", "ada"), ("working", "ada"), ("queued", None), ("assigned", "bob"),
        ("working", "bob"), ("done", "bob")]


def recovery_failures(moves=LOST, writers=("bob",), output="7") -> list[str]:
    checks, _ = recovery_checks("t", "ada", moves, writers=list(writers), output=output, expected="7")
    return [c.name for c in checks if not c.ok]


def test_a_lost_task_done_once_by_the_survivor_passes():
    assert recovery_failures() == []
    assert recovery_checks("t", "ada", LOST, writers=["bob"], output="7", expected="7")[1] == "bob"


def test_a_lost_task_done_twice_or_by_the_lost_agent_fails():
    assert recovery_failures(LOST + [("done", "bob")]) == ["done exactly once", "finished by another agent",
                                                           "output written by the survivor"]
    by_victim = [("queued", None), ("assigned", "ada"), ("working", "ada"), ("done", "ada")]
    assert recovery_failures(by_victim, writers=("ada",)) == ["finished by another agent"]
    assert recovery_failures(LOST[:3]) == ["done exactly once", "finished by another agent",
                                           "output written by the survivor"]


def test_a_lost_task_never_given_to_the_lost_agent_proves_nothing():
    assert recovery_failures(LOST[3:]) == ["lost agent's attempt"]


def test_output_from_the_lost_agent_or_a_wrong_value_fails():
    assert recovery_failures(writers=("ada", "bob")) == ["output written by the survivor"]
    assert recovery_failures(output="8") == ["output written by the survivor"]
    assert recovery_failures(output=None) == ["output written by the survivor"]


def test_figures_count_a_task_done_only_on_the_hub_s_word_and_measure_what_the_protocol_added(tmp_path):
    out, state = tmp_path / "out", tmp_path / "ada.state"
    folder = state / "finished" / "t1.1"
    folder.mkdir(parents=True)
    out.mkdir()
    (folder / "task.json").write_text('{"id": "t1", "prompt": "Write the number 1."}')
    (folder / "prompt.md").write_text("Write the number 1." + "x" * 600)
    for task_id in ("t1", "t2"):
        (out / f"{task_id}.jsonl").write_text(
            '{"event": "started", "at": 100.25, "agent": "ada"}\n'
            '{"event": "reported", "at": 100.5, "agent": "ada", "command": "agentcom-report done --summary x"}\n')
    fleet = type("Fleet", (), {"out": out, "members": {"ada": type("M", (), {"state_dir": state})}})
    run = Run(fleet, timeout=1)
    run.submitted = {"t1": ("normal", 100.0, 1), "t2": ("normal", 100.0, 2)}
    step = Step("t1", 100, "working", "done", "ada", 1, "done by ada", "c0ffee")
    run.steps = {"t1": [step], "t2": [Step("t2", 100, "assigned", "working", "ada", 1, "accepted", "c0ffe2")]}
    one, two = _figures(run)
    assert (one.done, one.latency, one.added_chars, one.report_chars) == \
        (True, 0.25, 600, len("agentcom-report done --summary x"))
    assert (two.done, two.latency, two.added_chars) == (False, 0.25, None)  # started, reported, yet not done
