"""`agentcom add-agent` and `agentcom remove-agent`: set an agent up on this machine (registered
on the hub, its sidecar config, its service, a self-test), or take it away."""
from __future__ import annotations

import sys
from pathlib import Path

import click


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
@click.option("--capabilities", metavar="CAP,CAP", help="What it can do, e.g. python,git (default: as the config "
                                                          "recorded at the last add-agent).")
@click.option("--slots", type=click.IntRange(1, 32), help="Tasks it may hold at once (default 1, or as recorded).")
@click.option("--description", help="One line about it.")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False), help="Where the command runs.")
@click.option("--listen", metavar="HOST:PORT", help="Where the sidecar takes the hub's notifications (config "
                                                      "`listen`; default 127.0.0.1:0). Kept on a re-run.")
@click.option("--base", metavar="BRANCH", help="The target repos' base branch, overriding each one's remote HEAD "
                                               "(config `base_branch`; '' drops it). Kept on a re-run.")
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
def add_agent_cmd(name, hub, agent_command, capabilities, slots, description, workdir, listen, base, config_path,
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
                         workdir=workdir.expanduser().absolute() if workdir else None, listen=listen, base=base,
                         token_file=None if token else token_file, rotate=rotate_token,
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
    from sidecar.onboard.onboarding import default_config
    from sidecar.onboard.removal import remove_agent

    config = (config_path or default_config(name)).expanduser().absolute()
    token = _operator_token(token, token_file)
    if not as_json:
        click.echo(f"Removing agent {name}")
    _finish(lambda steps: remove_agent(name, hub, token, config, steps, force=force), as_json)
    if not as_json:
        click.echo(f"agent {name} removed")


def add_commands(main: click.Group) -> None:
    main.add_command(add_agent_cmd)
    main.add_command(remove_agent_cmd)
