"""`agentcom sidecar` and `agentcom sidecar poll`: run the sidecar for one agent, as a daemon or
one pass at a time. `add_commands` adds them, and the git workflow's verbs (`gitcli`), to the root
command; agentcom.py calls it (the coordinator's CLI never imports the sidecar)."""
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


def add_commands(main: click.Group) -> None:
    from sidecar.runtime.gitcli import git_group

    main.add_command(sidecar)
    main.add_command(git_group)
