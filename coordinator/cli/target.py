"""`agentcom target`: the target repos agents push to. `protect` installs the hook that keeps a
local bare target's base branch for the hub's merges; `check` says whether one is protected."""
from __future__ import annotations

import sys

import click

from coordinator.cli.shared import emit, json_option
from coordinator.repo import targethook


@click.group("target")
def target():
    """Target repos: protect a local target's base branch from direct pushes."""


@target.command("protect")
@click.argument("path", metavar="PATH")
@click.option("--base", metavar="BRANCH", help="The branch to protect (default: the one the target's HEAD names).")
@json_option
def protect(path, base, as_json):
    """Refuse pushes to PATH's base branch (the hub's merges still land), deletes and rewrites of
    branches other than agents' task branches, and tag moves. Safe to run again."""
    done = targethook.protect(path, base)
    if as_json:
        emit(done.to_dict())
        return
    verb = "protected" if done.changed else "already protected"
    click.echo(f"{verb}: {done.path} (base {done.base}): pushes to {done.base} are refused; "
               "the hub's merges land")


@target.command("check")
@click.argument("path", metavar="PATH")
@json_option
def check(path, as_json):
    """Whether PATH is protected; exit 1 if not, with each reason."""
    found = targethook.inspect(path)
    if as_json:
        emit(found.to_dict())
    elif found.protected:
        click.echo(f"protected: {found.path} (base {found.base})")
    else:
        click.echo(f"NOT protected: {found.path}")
        for why in found.problems:
            click.echo(f"  - {why}")
    sys.exit(0 if found.protected else 1)
