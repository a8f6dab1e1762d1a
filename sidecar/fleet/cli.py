"""`agentcom smoke` and `agentcom demo`: a whole local fleet (hub, sidecars, demo agents) started
by one command, to measure it or to watch it work."""
from __future__ import annotations

import sys
from pathlib import Path

import click


def _stop_on_sigterm() -> None:
    """SIGTERM ends the command like Ctrl-C does, so it stops what it started on the way out."""
    import signal

    def interrupt(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)


@click.command()
@click.option("--scenario", type=click.Choice(["basic", "kill", "priorities"]), default="basic", show_default=True,
              help="basic: tasks submitted to agents already online. kill: one agent's sidecar and agent are SIGKILLed "
                   "mid-task; another agent must finish that task, exactly once. priorities: tasks of "
                   "every lane queued before the agents start; urgent ones must start first, lane by "
                   "lane, and every agent must get work.")
@click.option("--agents", type=click.IntRange(1, 16), help="Agents (default: 2; priorities: 4).")
@click.option("--tasks", type=click.IntRange(1, 200),
              help="Tasks (default: 10; kill: 2, each taking 3s; priorities: 20).")
@click.option("--timeout", type=click.FloatRange(1, 600), default=60, show_default=True,
              help="Seconds to wait for the tasks to end.")
@click.option("--keep", is_flag=True, help="Keep the temporary folder (repo, configs, logs, outputs).")
def smoke(scenario, agents, tasks, timeout, keep):
    """Run a whole local fleet (a hub, sidecars, the built-in demo agent) in a temporary folder
    and print real figures: tasks completed, assignment latency (submit to agent started, p50 and
    max), wall time, and the protocol's overhead in tokens per task (what the sidecar adds to the
    prompt plus the report command the agent writes, at 4 characters a token).

    Exits 1 unless every task ends done, every task starts within 5 s of its submit (not checked
    for priorities, whose work waits for the agents on purpose), the overhead is under 500 tokens,
    and the scenario's own checks pass; each failed check is printed."""
    from sidecar.fleet.smoke import run_smoke

    if scenario == "kill" and agents is not None and agents < 2:
        raise click.UsageError("--scenario kill needs --agents 2 or more: one of them is lost")
    if scenario == "priorities" and tasks is not None and tasks < max(4, agents or 4):
        raise click.UsageError("--scenario priorities needs --tasks of at least 4 (one per lane) "
                               "and at least one per agent")
    _stop_on_sigterm()
    try:
        code = run_smoke(scenario, agents, tasks, keep=keep, timeout=timeout, echo=click.echo)
    except KeyboardInterrupt:
        click.echo("smoke: interrupted; everything it started is stopped", err=True)
        code = 1
    sys.exit(code)


@click.command()
@click.option("--repo", metavar="DIR", type=click.Path(path_type=Path),
              help="Coordination repo for the demo, made if missing (default: ~/.agentcom/demo.git). "
                   "The demo agents' configs, state and outputs live beside it (demo.git: demo-agents/).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="The hub's port (0 picks a free one).")
def demo(repo, port):
    """See AgentCom work: starts a hub, two local demo agents and four sample tasks, prints each
    task's flow as it happens (queued, assigned, working, done, with the agent), then keeps the
    hub and agents running for more work until Ctrl-C. Run it again any time: it reuses the repo
    and the agents."""
    from sidecar.fleet.demo import run_demo

    _stop_on_sigterm()
    sys.exit(run_demo(repo, port, echo=click.echo))


def add_commands(main: click.Group) -> None:
    main.add_command(smoke)
    main.add_command(demo)
