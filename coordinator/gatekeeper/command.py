"""`agentcom gatekeeper`: review every open agent PR now (`--once`) or on a slow poll, recording
each decision through the hub: a running hub over its API (operator token), else this command
becomes the coordinator for its run. Settings come from the options, else from the `gatekeeper:`
section of agentcom.yaml."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import click

from ..errors import UsageError
from ..times import parse_duration
from .setup import FORGES, Setup, check


def run(backend, setup: Setup, once: bool, stop: threading.Event | None = None, out=click.echo) -> int:
    """Review passes until `stop` (one with `once`); returns the number of decisions made."""
    from ..client import HttpBackend
    from .books import HttpBook, HubBook
    from .reviewer import Reviewer
    from .service import make_forge

    stop = stop or threading.Event()
    hub = None
    if isinstance(backend, HttpBackend):
        book, url, token = HttpBook(backend), backend.url, backend.token
    else:
        if setup.forge == "local":
            raise UsageError("the local forge records its pull requests through a running hub: start "
                             "`agentcom hub` (which can run the gatekeeper itself) and try again")
        from ..hub import Hub

        hub = Hub(backend.repo, role="cli")
        book, url, token = HubBook(hub), None, None
    try:
        reviewer = Reviewer(make_forge(setup, url, token), book, setup.target, setup.name,
                            local=setup.forge == "local", notify_webhook=setup.notify_webhook())
        made = 0
        while True:
            for o in reviewer.review_all():
                made += 1
                out(json.dumps({"pull": o.number, "action": o.action, "head_sha": o.head_sha,
                                "recorded": o.committed, "merged": o.merged, "followup": o.followup}))
            if once or stop.wait(setup.interval):
                return made
    finally:
        if hub is not None:
            hub.close()


@click.command()
@click.option("--once", is_flag=True, help="One pass over every open PR, then exit.")
@click.option("--interval", metavar="DURATION", help="Time between passes (default: gatekeeper.interval, 5m).")
@click.option("--forge", type=click.Choice(FORGES), help="github or local (default: gatekeeper.forge).")
@click.option("--target", metavar="REPO", help="OWNER/NAME on GitHub, or the local forge's bare repo.")
@click.option("--github-api", metavar="URL", help="GitHub's API (default: https://api.github.com).")
@click.option("--github-token-file", metavar="FILE", help="A file (mode 0600) holding the GitHub token.")
@click.option("--notify-webhook-file", metavar="FILE",
              help="A file (mode 0600) holding the address escalations are POSTed to.")
@click.option("--repo", envvar="AGENTCOM_REPO", metavar="DIR", help="Coordination repo.")
@click.option("--hub", envvar="AGENTCOM_HUB", metavar="URL", help="A running hub's address.")
def gatekeeper(once, interval, forge, target, github_api, github_token_file, notify_webhook_file, repo, hub):
    """Review every open PR opened by an agent: merge what is safe, escalate what is risky."""
    from ..client import connect, default_repo
    from ..config import Config, parse as parse_config
    from ..repoinit import is_coordination_repo

    backend = connect(repo, hub)
    base = Config().gatekeeper
    path = Path(repo).expanduser() if repo else default_repo()
    if is_coordination_repo(path):  # read-only: safe beside a running hub
        from ..gitrepo import GitRepo

        git = GitRepo(path)
        try:
            entry = git.get(git.tree_of(git.head()), "agentcom.yaml")
            base = parse_config(git.read(entry.oid)).gatekeeper if entry else base
        finally:
            git.close()
    try:
        seconds = parse_duration(interval) if interval else base.interval
    except ValueError as e:
        raise UsageError(f"--interval: {e}") from None
    setup = check(Setup(forge or base.forge, target or base.target, github_api or base.github_api,
                        github_token_file or base.github_token_file, base.webhook_secret_file, seconds,
                        notify_webhook_file or base.notify_webhook_file))
    run(backend, setup, once)
