"""`agentcom smoke`: a whole local fleet (hub, sidecars, the built-in demo agent) in a temporary
folder, one scenario run through it, and a report of real figures with a verdict.

Scenarios: basic (tasks on idle agents), kill (one agent's machine is lost mid-task: its task
is finished once, by another agent), priorities (work queued before the agents come online
starts lane by lane, urgent first, and every agent gets some).
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from coordinator.wire.atomic import read_json
from coordinator.wire.errors import AgentcomError
from sidecar.fleet import hubrepo
from sidecar.fleet.local import LocalFleet, signals_held
from sidecar.fleet.smokereport import (
    Check,
    Report,
    TaskFigures,
    every_agent_worked,
    in_lane_order,
    lane_runs,
    recovery_checks,
    urgent_first,
)
from sidecar.fleet.taskflow import Flow, Step

DEFAULTS = {"basic": (2, 10), "kill": (2, 2), "priorities": (4, 20)}   # agents, tasks
# short hub timeouts, so a lost agent is noticed and its task retried within seconds
FAST = {"timeouts": {"heartbeat_grace": "3s"}, "retry": {"backoff_base": "1s", "backoff_max": "2s"}}
KILL_TASK_SECONDS = 3
POLL = 0.1


@dataclass
class Run:
    """What one scenario submitted and saw."""
    fleet: LocalFleet
    timeout: float
    submitted: dict[str, tuple[str, float, int]] = field(default_factory=dict)  # id → (lane, sent at, N)
    steps: dict[str, list[Step]] = field(default_factory=dict)              # id → its history
    lines: list[tuple[str, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    latency_checked: bool = True
    latency_note: str = "submit → agent started"
    idle_agents: int = 0   # the first this many tasks found an agent idle

    def submit(self, n: int, lane: str = "normal", seconds: int = 0) -> str:
        prompt = f"Write the number {n} to a file." + (f" Take {seconds}s." if seconds else "")
        task, sent = self.fleet.submit(prompt, title=f"smoke {n}", priority=lane)
        self.submitted[task["id"]] = (lane, sent, n)
        return task["id"]

    def wait(self) -> None:
        """Until every submitted task has ended (done or cancelled) or is dead, or the timeout."""
        flow = Flow(self.fleet.api)
        for task_id in self.submitted:
            flow.add(task_id)
        deadline = time.monotonic() + self.timeout
        while True:
            for step in flow.poll():
                self.steps.setdefault(step.task_id, []).append(step)
            if flow.settled() or time.monotonic() > deadline:
                return
            time.sleep(POLL)

    def done(self, task_id: str) -> Step | None:
        return next((s for s in self.steps.get(task_id, ()) if s.to == "done"), None)


def _register(run: Run, agents: int) -> list[str]:
    names = [f"smoke-{i}" for i in range(1, agents + 1)]
    for name in names:
        run.fleet.add_agent(name)
    return names


def basic(run: Run, agents: int, tasks: int) -> None:
    _register(run, agents)
    run.fleet.start_sidecars()
    for n in range(1, tasks + 1):
        run.submit(n)
    run.wait()


def kill(run: Run, agents: int, tasks: int) -> None:
    """Each task takes a few seconds; once one has started, its agent's machine is lost."""
    if agents < 2:
        raise AgentcomError("the kill scenario needs at least 2 agents (one is lost)")
    _register(run, agents)
    run.fleet.start_sidecars()
    for n in range(1, tasks + 1):
        run.submit(n, seconds=KILL_TASK_SECONDS)
    started = _wait_for_a_start(run)
    victim, task_id = started["agent"], started["task_id"]
    killed_at = time.time()
    sidecar, agent = run.fleet.lose(victim)
    run.lines.append(("lost", f"{victim} while it ran {task_id} (SIGKILL to its sidecar, pid {sidecar}, "
                              f"and its agent's processes, pids {', '.join(map(str, agent)) or 'none'})"))
    run.checks.append(Check("lost mid-task", sidecar is not None and bool(agent),
                            f"{victim}'s sidecar and a running agent must be killed; killed sidecar "
                            f"{sidecar}, agent processes {agent}"))
    run.wait()
    _judge_recovery(run, victim, task_id, killed_at)


def priorities(run: Run, agents: int, tasks: int) -> None:
    """Agents registered, work of every lane queued, only then the sidecars started."""
    lanes_order = tuple(run.fleet.api.status()["lanes"])   # the hub's lanes, most urgent first
    if tasks < max(len(lanes_order), agents):
        raise AgentcomError(f"the priorities scenario needs at least {max(len(lanes_order), agents)} tasks "
                            "(one of each lane, and one for each agent)")
    names = _register(run, agents)
    for n in range(1, tasks + 1):
        run.submit(n, lane=lanes_order[-n % len(lanes_order)])   # low, normal, high, urgent, low, ...
    run.fleet.start_sidecars()
    run.wait()
    order = hubrepo.commit_order(run.fleet.repo)
    assigned = sorted((order.get(s.commit, len(order)), s.task_id) for steps in run.steps.values()
                      for s in steps if s.to == "assigned")
    lanes = [run.submitted[task_id][0] for _, task_id in assigned]
    run.lines.append(("start order by lane", (lane_runs(lanes) or "nothing assigned")
                      + " (queued → assigned, in commit order)"))
    run.checks.append(Check("urgent first", urgent_first(lanes),
                            "every urgent task must be assigned before any task of another lane: "
                            + lane_runs(lanes)))
    run.checks.append(Check("lane order", in_lane_order(lanes, lanes_order),
                            "tasks must be assigned lane by lane (urgent, high, normal, low): " + lane_runs(lanes)))
    per_agent = {name: 0 for name in names}
    for task_id in run.submitted:
        step = run.done(task_id)
        if step is not None and step.agent in per_agent:
            per_agent[step.agent] += 1
    run.lines.append(("work per agent", ", ".join(f"{a} {n}" for a, n in per_agent.items())))
    run.checks.append(every_agent_worked(per_agent))
    run.latency_checked = False
    run.latency_note = "submit → agent started; the work was queued before the agents started"


SCENARIOS = {"basic": basic, "kill": kill, "priorities": priorities}


def _wait_for_a_start(run: Run) -> dict:
    deadline = time.monotonic() + run.timeout
    while time.monotonic() < deadline:
        for task_id in run.submitted:
            events = _events(run.fleet.out, task_id)
            first = next((e for e in events if e["event"] == "started"), None)
            if first is not None:
                return {"agent": first["agent"], "task_id": task_id}
        time.sleep(0.02)
    raise AgentcomError(f"no agent started a task within {run.timeout:.0f}s")


def _judge_recovery(run: Run, victim: str, task_id: str, killed_at: float) -> None:
    steps = run.steps.get(task_id, [])
    run.lines.append(("its history", " → ".join(
        [steps[0].frm] + [s.to + (f" [{s.agent}]" if s.agent and s.to in ("assigned", "done") else "")
                          for s in steps]) if steps else "none"))
    events = _events(run.fleet.out, task_id)
    checks, survivor = recovery_checks(task_id, victim, [(s.to, s.agent) for s in steps],
                                       writers=[e["agent"] for e in events if e["event"] == "wrote"],
                                       output=_read(run.fleet.out / f"{task_id}.txt"),
                                       expected=str(run.submitted[task_id][2]))
    run.checks.extend(checks)
    rerun = [e for e in events if e["event"] == "started" and e["agent"] == survivor]
    if survivor and rerun:
        run.lines.append(("recovered", f"{task_id} restarted on {survivor} {rerun[0]['at'] - killed_at:.1f} s "
                                       f"after the loss; done once, by {survivor}"))
    run.latency_note = "submit → first start; the lost task's re-run is not counted"


def _events(out: Path, task_id: str) -> list[dict]:
    try:
        text = (out / f"{task_id}.jsonl").read_text()
    except OSError:
        return []
    events = []
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass   # a line cut short by a kill
    return events


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _figures(run: Run) -> list[TaskFigures]:
    """Per task: when it was sent, when an agent first started it, and what the protocol cost it."""
    out = []
    for task_id, (lane, sent, _) in run.submitted.items():
        events = _events(run.fleet.out, task_id)
        starts = [e["at"] for e in events if e["event"] == "started"]
        done = run.done(task_id)
        added = report = None
        if done is not None and done.agent in run.fleet.members:
            state = run.fleet.members[done.agent].state_dir
            folder = next((d for d in (state / "finished" / f"{task_id}.{done.attempt}",
                                       state / "runs" / f"{task_id}.{done.attempt}") if d.exists()), None)
            if folder is not None:
                task = read_json(folder / "task.json") or {}
                added = len((folder / "prompt.md").read_text()) - len(str(task.get("prompt") or ""))
            commands = [e["command"] for e in events if e["event"] == "reported" and e["agent"] == done.agent]
            report = len(commands[-1]) if commands else None
        out.append(TaskFigures(task_id, lane, sent, min(starts) if starts else None, done is not None,
                               added, report))
    return out


def run_smoke(scenario: str, agents: int | None = None, tasks: int | None = None, *, keep: bool = False,
              timeout: float = 60.0, echo=print) -> int:
    """Run one scenario, print its report; returns the exit code (0 only if every check passed)."""
    agents = agents or DEFAULTS[scenario][0]
    tasks = tasks or DEFAULTS[scenario][1]
    began = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="agentcom-smoke-"))
    try:
        fleet = LocalFleet(home / "hub.git", home / "fleet")
        run = Run(fleet, timeout, idle_agents=min(agents, tasks) if scenario != "priorities" else 0)
        error = None
        try:
            fleet.start_hub()
            fleet.change_settings(FAST)
            SCENARIOS[scenario](run, agents, tasks)
        except AgentcomError as e:
            error = str(e)
        finally:
            with signals_held():
                forced = fleet.stop()
        if forced:
            run.checks.append(Check("clean stop", False, "had to SIGKILL " + ", ".join(forced)))
        report = Report(f"AgentCom smoke: {scenario}, {agents} agents, {tasks} tasks (built-in demo agent)",
                        _figures(run), time.monotonic() - began, hub=fleet.url or "",
                        latency_checked=run.latency_checked, latency_note=run.latency_note,
                        idle_agents=run.idle_agents, extra_lines=run.lines, extra_checks=run.checks, error=error)
        for line in report.lines():
            echo(line)
        return 0 if report.passed() else 1
    finally:
        if keep:
            echo(f"kept {home}: hub.git (the coordination repo), fleet/ (configs, state, logs, out)")
        else:
            shutil.rmtree(home, ignore_errors=True)
