"""`agentcom gatekeeper`: review every open agent PR now (`--once`) or on a slow poll, recording
each decision through the hub: a running hub over its API (operator token), else this command
becomes the coordinator for its run. Settings come from the options (or $AGENTCOM_GATEKEEPER_*),
else from the hub's local settings file; only the interval comes from agentcom.yaml."""
from __future__ import annotations

import functools
import json
import threading
from pathlib import Path

import click

from coordinator.reviewer.options import FORGES, Setup, from_local
from coordinator.wire.errors import UsageError
from coordinator.wire.times import parse_duration


def run(backend, setup: Setup, once: bool, stop: threading.Event | None = None, out=click.echo) -> int:
    """Review passes until `stop` (one with `once`); returns the number of decisions made."""
    from coordinator.reviewer.books import HttpBook, HubBook
    from coordinator.reviewer.reviewer import Reviewer
    from coordinator.reviewer.thread import make_forge
    from coordinator.wire.client import HttpBackend

    stop = stop or threading.Event()
    hub = None
    if isinstance(backend, HttpBackend):
        book, url, token = HttpBook(backend), backend.url, backend.token
    else:
        if setup.forge == "local":
            raise UsageError("the local forge records its pull requests through a running hub: start "
                             "`agentcom hub` (which can run the gatekeeper itself) and try again")
        from coordinator.cli.local import say
        from coordinator.hub.hub import Hub
        from coordinator.repo.lock import ONE_SHOT, ONE_SHOT_WAIT

        # one pass ends by itself, and a hub starting meanwhile waits for it; a loop does not
        hub = Hub(backend.repo, role=ONE_SHOT if once else "gatekeeper", wait=ONE_SHOT_WAIT, say=say,
                  command="agentcom gatekeeper --once" if once else "agentcom gatekeeper")
        book, url, token = HubBook(hub), None, None
    try:
        reviewer = Reviewer(make_forge(setup, url, token), book, setup.target, setup.name,
                            local=setup.forge == "local", notify_webhook=setup.notify_webhook(),
                            notify_command=setup.notify_command)
        made = 0
        while True:
            for o in reviewer.review_all():
                made += 1
                out(json.dumps({"pull": o.number, "action": o.action, "head_sha": o.head_sha,
                                "recorded": o.committed, "merged": o.merged, "sent_back": o.sent_back}))
            if once or stop.wait(setup.interval):
                return made
    finally:
        if hub is not None:
            hub.close()


def setup_options(fn):
    """The gatekeeper's settings as options, each with its $AGENTCOM_GATEKEEPER_* variable (shared by
    `agentcom hub` and `agentcom gatekeeper`); they reach `fn` as one mapping, `gatekeeper_options`."""
    options = (
        ("--forge", "github or local; unset, no gatekeeper runs.", "NAME"),
        ("--target", "OWNER/NAME on GitHub, or the local forge's bare repo.", "REPO"),
        ("--github-api", "GitHub's API (default: https://api.github.com).", "URL"),
        ("--github-token-file", "The GitHub token: a file (mode 0600) in the secret folder.", "FILE"),
        ("--webhook-secret-file", "The secret GitHub signs webhooks with: a file (mode 0600) in the secret folder.",
         "FILE"),
        ("--notify-webhook-file", "The address escalations are POSTed to: a file (mode 0600) in the secret folder.",
         "FILE"),
        ("--secret-dir", "The only folder secret files are read from (default: agentcom/secrets in the repo).",
         "DIR"),
    )
    names = [flag[2:].replace("-", "_") for flag, _, _ in options]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, gatekeeper_options={name: kwargs.pop(name) for name in names}, **kwargs)
    for flag, text, metavar in reversed(options):
        name = flag[2:].replace("-", "_")
        wrapper = click.option(flag, name, envvar=f"AGENTCOM_GATEKEEPER_{name.upper()}", metavar=metavar,
                               type=click.Choice(FORGES) if name == "forge" else None,
                               help=f"{text} (${'AGENTCOM_GATEKEEPER_' + name.upper()}; "
                                    "else agentcom/local.yaml)")(wrapper)
    return wrapper


@click.command()
@click.option("--once", is_flag=True, help="One pass over every open PR, then exit.")
@click.option("--interval", metavar="DURATION", help="Time between passes (default: gatekeeper.interval, 5m).")
@setup_options
@click.option("--repo", envvar="AGENTCOM_REPO", metavar="DIR", help="Coordination repo.")
@click.option("--hub", envvar="AGENTCOM_HUB", metavar="URL", help="A running hub's address.")
def gatekeeper(once, interval, gatekeeper_options, repo, hub):
    """Review every open PR opened by an agent: merge what is safe, escalate what is risky."""
    from coordinator.cli.local import connect
    from coordinator.core.config import Config, parse_applied
    from coordinator.repo.repoinit import is_coordination_repo
    from coordinator.wire.client import default_repo

    backend = connect(repo, hub)
    base = Config().gatekeeper
    path = Path(repo).expanduser() if repo else default_repo()
    local = is_coordination_repo(path)
    if local:  # read-only: safe beside a running hub
        from coordinator.repo.gitrepo import GitRepo

        git = GitRepo(path)
        try:
            entry = git.get(git.tree_of(git.head()), "agentcom.yaml")
            base = parse_applied(git.read(entry.oid))[0].gatekeeper if entry else base
        finally:
            git.close()
    try:
        seconds = parse_duration(interval) if interval else base.interval
    except ValueError as e:
        raise UsageError(f"--interval: {e}") from None
    setup = from_local(path if local else None, gatekeeper_options, seconds)
    if setup is None:
        raise UsageError("no forge is set: give --forge github|local and --target (or set them in the hub's "
                         "agentcom/local.yaml)")
    run(backend, setup, once)
