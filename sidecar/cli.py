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
    from sidecar.runtime.config import load_config
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
    from sidecar.runtime.daemon import serve

    _logging()
    serve(_load(config_path))


@sidecar.command("poll")
@_config
@click.option("--no-jitter", is_flag=True, help="Act at once (cron runs should keep the jitter).")
def poll_cmd(config_path, no_jitter):
    """One pass, then exit: safe from cron every minute, beside a live sidecar or instead of one.
    Exits 1 if the hub cannot be reached (or a live sidecar has not reached it lately)."""
    from sidecar.runtime.daemon import poll

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


def _operator_token(token: str | None, token_file: Path | None) -> str | None:
    """--token ($AGENTCOM_TOKEN), else --token-file, else the local hub repo's operator.token."""
    if token:
        return token.strip()
    if token_file is not None:
        try:
            return token_file.read_text().strip() or None
        except OSError as e:
            raise click.UsageError(f"--token-file {token_file}: cannot read it: {e.strerror}") from None
    from coordinator.repo.tokens import read_operator_token
    from coordinator.wire.client import default_repo
    return read_operator_token(default_repo())


def _token_options(fn):
    fn = click.option("--token-file", type=click.Path(path_type=Path, dir_okay=False),
                      help="A file holding the operator token (default: the local hub's "
                           "~/.agentcom/hub.git/agentcom/operator.token, if any).")(fn)
    return click.option("--token", envvar="AGENTCOM_TOKEN", show_envvar=True,
                        help="The hub's operator token (better: $AGENTCOM_TOKEN or --token-file, "
                             "which other users cannot see in the process list). Never printed.")(fn)


def _finish(run, as_json: bool) -> None:
    """Run the steps; print the outcome (or JSON); exit 1 naming the failed step."""
    import json

    from sidecar.onboard.steps import StepFailed, Steps

    steps = Steps(click.echo, quiet=as_json)
    try:
        answer = run(steps)
    except StepFailed as e:
        if as_json:
            click.echo(json.dumps(steps.failed(e), indent=2))
            sys.exit(1)
        raise
    if as_json:
        click.echo(json.dumps(answer, indent=2))


@click.command("add-agent")
@click.argument("name")
@click.option("--hub", envvar="AGENTCOM_HUB", show_envvar=True, metavar="URL",
              help="The hub's address, e.g. http://127.0.0.1:8765 (a re-run takes it from the config).")
@click.option("--command", "agent_command", metavar="'PROGRAM ARGS'",
              help="The agent command, split like a shell splits words (no shell runs it); placeholders "
                   "such as {prompt} as in docs/sidecar.md. Kept from the config on a re-run.")
@click.option("--capabilities", metavar="CAP,CAP", help="What it can do, e.g. python,git.")
@click.option("--slots", type=click.IntRange(1, 32), help="Tasks it may hold at once (default 1).")
@click.option("--description", help="One line about it.")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False), help="Where the command runs.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="The sidecar config to write (default: ~/.agentcom/agents/NAME.yaml; its state "
                   "folder NAME.state and log NAME.log beside it).")
@click.option("--rotate-token", is_flag=True, help="Make a new agent token and revoke the old ones.")
@click.option("--take-over", is_flag=True,
              help="Move an agent that is online or holds tasks elsewhere (another machine or config) "
                   "here: its sidecar there is cut off and the tasks it holds run again here.")
@click.option("--service", type=click.Choice(["auto", "systemd", "cron"]), default="auto", show_default=True,
              help="How the sidecar runs: a systemd user unit, or a detached process plus a cron poll; "
                   "auto takes systemd when `systemctl --user` works.")
@click.option("--no-service", is_flag=True, help="Register and write the config only; print how to run it.")
@click.option("--no-self-test", is_flag=True, help="Do not run the self-test task at the end.")
@click.option("--timeout", type=click.FloatRange(1, 600), default=60, show_default=True,
              help="Seconds the self-test may take.")
@_token_options
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON (no token in it).")
def add_agent_cmd(name, hub, agent_command, capabilities, slots, description, workdir, config_path,
                  rotate_token, take_over, service, no_service, no_self_test, timeout, token, token_file, as_json):
    """Set up agent NAME on this machine in one go: check the prerequisites, register it on the
    hub, write its sidecar config (0600), install and start the sidecar as a service, and run a
    self-test task through the whole path. Run it again to repair; the identity is kept unless
    --rotate-token. Each step is printed; a failure names the step and the fix (exit 1)."""
    from sidecar.onboard.onboarding import AddOptions, add_agent, default_config

    caps = None if capabilities is None else tuple(c.strip() for c in capabilities.split(",") if c.strip())
    options = AddOptions(name=name, hub=hub, token=_operator_token(token, token_file),
                         config=(config_path or default_config(name)).expanduser().absolute(),
                         command=agent_command, capabilities=caps, slots=slots, description=description,
                         workdir=workdir.expanduser().absolute() if workdir else None, rotate=rotate_token,
                         take_over=take_over,
                         service="none" if no_service else service, self_test=not no_self_test, timeout=timeout)
    if not as_json:
        click.echo(f"Setting up agent {name}" + (f" with the hub at {hub}" if hub else ""))
    _finish(lambda steps: add_agent(options, steps), as_json)
    if not as_json:
        click.echo(f"agent {name} is ready")


@click.command("remove-agent")
@click.argument("name")
@click.option("--hub", envvar="AGENTCOM_HUB", show_envvar=True, metavar="URL",
              help="The hub's address (default: the one in the agent's config).")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="The agent's sidecar config (default: ~/.agentcom/agents/NAME.yaml).")
@click.option("--force", is_flag=True, help="Remove it even if reports in its outbox cannot be delivered.")
@_token_options
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def remove_agent_cmd(name, hub, config_path, force, token, token_file, as_json):
    """Take agent NAME off this machine and the hub: check the operator token, deliver the
    reports in its outbox, stop and remove its service (systemd unit, cron line, detached
    sidecar) and its runs, revoke its token. Its state folder and its history in git are kept."""
    from sidecar.onboard.onboarding import default_config, remove_agent

    config = (config_path or default_config(name)).expanduser().absolute()
    token = _operator_token(token, token_file)
    if not as_json:
        click.echo(f"Removing agent {name}")
    _finish(lambda steps: remove_agent(name, hub, token, config, steps, force=force), as_json)
    if not as_json:
        click.echo(f"agent {name} removed")


def add_commands(main: click.Group) -> None:
    from sidecar.gitflow.cli import git_group

    main.add_command(git_group)
    main.add_command(add_agent_cmd)
    main.add_command(remove_agent_cmd)
    main.add_command(sidecar)
    main.add_command(smoke)
    main.add_command(demo)
