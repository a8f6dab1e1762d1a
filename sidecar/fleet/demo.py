"""`agentcom demo`: the first command to run. A hub on a demo coordination repo, two local demo
agents (the built-in demo agent, each with its sidecar), a few sample tasks, and each task's
flow printed as it happens; then hub and agents keep running until Ctrl-C or SIGTERM.

A second run reuses the repo and the agents: their tokens stay in their sidecar configs (0600)
beside the repo, in REPO-agents/ (~/.agentcom/demo-agents/ for the default repo).
"""
from __future__ import annotations

import time
from pathlib import Path

from coordinator.wire.errors import AgentcomError
from sidecar.fleet.local import FleetError, LocalFleet, signals_held
from sidecar.fleet.taskflow import Flow, Step

DEFAULT_REPO = Path("~/.agentcom/demo.git")
AGENTS = ("demo-ada", "demo-bob")
# (lane, number, seconds): the demo agent writes the number to a file after that many seconds
SAMPLES = (("normal", 1, 1), ("normal", 2, 2), ("high", 3, 1), ("urgent", 4, 1))
POLL = 0.25
IDLE_POLL = 1.0


def agents_home(repo: Path) -> Path:
    """Where the demo agents' configs, state and outputs live: beside the repo."""
    stem = repo.name[:-4] if repo.name.endswith(".git") else repo.name
    return repo.parent / f"{stem}-agents"


def flow_line(step: Step) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(step.time))
    move = f"{step.frm} → {step.to}"
    return f"  {when}  {step.task_id}  {move:<19} {step.agent or '':<9} {step.reason}"


def run_demo(repo: Path | None = None, port: int = 0, echo=print) -> int:
    """Run until interrupted; returns the exit code (1 if a process of the fleet failed)."""
    repo = (repo or DEFAULT_REPO).expanduser().resolve()
    repo.parent.mkdir(parents=True, exist_ok=True)
    fleet = LocalFleet(repo, agents_home(repo), heartbeat="10s")
    flow = None
    try:
        url = fleet.start_hub(port)
        echo(f"AgentCom demo: hub running at {url}")
        echo(f"  status page        {url}/ (open it in a browser)")
        echo(f"  coordination repo  {repo}")
        echo(f"  demo agents        {', '.join(AGENTS)} (configs, state and outputs in {fleet.home})")
        for name in AGENTS:
            fleet.add_agent(name, description="built-in demo agent (agentcom demo)")
        flow = Flow(fleet.api, follow_new=True)
        for t in flow.adopt():
            echo(f"  carried over from an earlier run: {t['id']} ({t['state']}"
                 + (f", {t['agent']}" if t.get("agent") else "") + ")")
        fleet.start_sidecars()
        samples = []
        for lane, n, seconds in SAMPLES:
            task, _ = fleet.submit(f"Write the number {n} to a file; take {seconds}s.",
                                   title=f"Sample: write {n}", priority=lane)
            samples.append(task["id"])
            flow.add(task["id"])
        echo(f"  submitted {len(samples)} sample tasks; each line below is one commit on the repo's main:")
        _follow(fleet, flow, samples, repo, echo)
    except KeyboardInterrupt:
        pass
    except AgentcomError as e:
        echo(f"demo: {e}")
        return 1
    finally:
        with signals_held():
            echo("stopping the demo agents and the hub ...")
            forced = fleet.stop(why="the operator stopped agentcom demo",
                                before_hub=lambda: _last_steps(flow, echo))
            echo("AgentCom demo stopped" + (f" (had to kill {', '.join(forced)})" if forced else ""))
    return 0


def _last_steps(flow: Flow | None, echo) -> None:
    """What the stop did to the tasks (a run stopped mid-task goes back to the queue, not
    counted as an attempt), printed before the hub stops."""
    if flow is None:
        return
    try:
        for step in flow.poll():
            echo(flow_line(step))
    except AgentcomError as e:
        echo(f"demo: could not read what the stop did: {e}")


def _follow(fleet: LocalFleet, flow: Flow, samples: list[str], repo: Path, echo) -> None:
    """Print every transition as it happens, until interrupted; say once when the samples end."""
    told = False
    while True:
        for step in flow.poll():
            echo(flow_line(step))
        if not told and flow.settled(samples):
            told = True
            ends = [flow.ended.get(t, "dead") for t in samples]
            echo(f"the {len(samples)} sample tasks ended: "
                 + ", ".join(f"{ends.count(e)} {e}" for e in sorted(set(ends)))
                 + f"; outputs in {fleet.out}")
            echo(f"hub and agents keep running; submit more work, e.g.\n"
                 f"  ./agentcom.py submit 'Write the number 42 to a file' --repo {repo}\n"
                 f"Ctrl-C stops everything.")
        for m in fleet.members.values():
            if m.proc is not None and m.proc.poll() is not None:
                raise FleetError(f"the sidecar of {m.name}", f"exited with code {m.proc.returncode}", m.log)
        if fleet.hub.poll() is not None:
            raise FleetError("the hub", f"exited with code {fleet.hub.returncode}", fleet.logs / "hub.log")
        time.sleep(IDLE_POLL if told else POLL)
