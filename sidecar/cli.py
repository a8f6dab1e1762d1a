"""`agentcom sidecar` verbs, added to the root command by agentcom.py (the coordinator's CLI
never imports the sidecar)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

_config = click.option("--config", "config_path", required=True, envvar="AGENTCOM_SIDECAR_CONFIG",
                       type=click.Path(path_type=Path, dir_okay=False),
                       help="The sidecar's config file ($AGENTCOM_SIDECAR_CONFIG); see docs/sidecar.md.")


def _load(path: Path):
    from .config import load_config
    return load_config(path)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")


@click.group(invoke_without_command=True)
@click.option("--config", "config_path", envvar="AGENTCOM_SIDECAR_CONFIG",
              type=click.Path(path_type=Path, dir_okay=False), help="The sidecar's config file.")
@click.pass_context
def sidecar(ctx, config_path):
    """Run the sidecar for one agent: take notifications, run the agent command, report back."""
    if ctx.invoked_subcommand is not None:
        return
    if config_path is None:
        raise click.UsageError("give --config FILE (or $AGENTCOM_SIDECAR_CONFIG)")
    from .service import serve

    _logging()
    serve(_load(config_path))


@sidecar.command("poll")
@_config
@click.option("--no-jitter", is_flag=True, help="Act at once (cron runs should keep the jitter).")
def poll_cmd(config_path, no_jitter):
    """One pass, then exit: safe from cron every minute, beside a live sidecar or instead of one.
    Exits 1 if the hub cannot be reached (or a live sidecar has not reached it lately)."""
    from .service import poll

    _logging()
    sys.exit(poll(_load(config_path), jitter=not no_jitter))


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
@click.option("--tasks", type=click.IntRange(1, 200), help="Tasks (default: 10; kill: 2, each taking 3s; priorities: 20).")
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
    from .smoke import run_smoke

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
    from .demo import run_demo

    _stop_on_sigterm()
    sys.exit(run_demo(repo, port, echo=click.echo))


def add_commands(main: click.Group) -> None:
    from .gitcli import git_group

    main.add_command(git_group)
    main.add_command(sidecar)
    main.add_command(smoke)
    main.add_command(demo)
