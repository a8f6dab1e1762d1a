"""What the command groups share: the --repo/--hub and --json options, JSON output, a table."""
from __future__ import annotations

import functools
import json

import click


def repo_options(fn):
    """--repo and --hub, shared by every verb that talks to a coordinator."""
    @click.option("--repo", envvar="AGENTCOM_REPO", metavar="DIR",
                  help="Coordination repo (default: $AGENTCOM_REPO, else ~/.agentcom/hub.git).")
    @click.option("--hub", envvar="AGENTCOM_HUB", metavar="URL",
                  help="A running hub's address, e.g. http://127.0.0.1:8765 ($AGENTCOM_HUB).")
    @functools.wraps(fn)
    def wrapper(*args, repo, hub, **kwargs):
        from coordinator.cli.local import connect

        return fn(*args, backend=lambda: connect(repo, hub), **kwargs)
    return wrapper


def json_option(fn):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(fn)


def emit(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def table(header, rows) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        click.echo("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip())
