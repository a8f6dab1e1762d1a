"""`agentcom pr`: what a human does about the pull requests a running hub knows: list, show,
merge, close, release. Each verb is one call to the hub's /api/pulls with the operator token;
the hub acts through its gatekeeper's forge, or on its local forge's records."""
from __future__ import annotations

import click

from coordinator.cli.shared import emit, json_option, repo_options, table
from coordinator.wire.client import HttpBackend
from coordinator.wire.errors import AgentcomError, UsageError


def _hub(backend) -> HttpBackend:
    """The running hub; these verbs act on forges, which only a running hub reaches."""
    found = backend()
    if not isinstance(found, HttpBackend):
        raise AgentcomError("`agentcom pr` needs a running hub, and none runs for this repo: start it with "
                         "`agentcom hub` (with --forge to run its gatekeeper), or name one with --hub URL")
    return found


def pr_repo_option(fn):
    return click.option("--pr-repo", "pr_repo", metavar="REPO",
                        help="The PR's repo (OWNER/NAME or the local forge's path), when a number is open "
                             "in more than one.")(fn)


@click.group("pr")
def pr():
    """Pull requests waiting for a human: list, show, merge, close, release (needs a running hub)."""


@pr.command("list")
@pr_repo_option
@repo_options
@json_option
def pr_list(pr_repo, backend, as_json):
    """The open pull requests the hub knows, with the gatekeeper's action and why."""
    rows = _hub(backend).pulls(pr_repo)
    if as_json:
        return emit(rows)
    if not rows:
        return click.echo("no open pull requests")
    table(("PR", "REPO", "ACTION", "TASK", "AGENT", "TITLE", "WHY"),
           [(f"#{r['number']}", _short(r.get("repo_name") or r["repo"], 30), r.get("action") or "-",
             r.get("task") or "-", r.get("agent") or "-", _short(r.get("title") or "", 40),
             _short(r.get("why") or "", 60)) for r in rows])


@pr.command("show")
@click.argument("number", type=click.IntRange(1))
@pr_repo_option
@repo_options
@json_option
def pr_show(number, pr_repo, backend, as_json):
    """One pull request: state, head, labels, the gatekeeper's reasons, reviews."""
    data = _hub(backend).pull(number, pr_repo)
    if as_json:
        return emit(data)
    state = "merged" if data.get("merged") else data.get("state", "open")
    click.echo(f"#{data['number']} {data.get('title', '')}  ({state})")
    click.echo(f"  repo:   {data.get('repo_name') or data['repo']}")
    click.echo(f"  url:    {data.get('url')}")
    click.echo(f"  branch: {data.get('head')} → {data.get('base')} at {str(data.get('head_sha'))[:12]}")
    click.echo(f"  task:   {data.get('task') or '-'}  agent: {data.get('agent') or '-'}")
    click.echo(f"  labels: {', '.join(data.get('labels') or []) or '-'}")
    if data.get("action"):
        click.echo(f"  gatekeeper: {data['action']}: {data.get('why') or ''}")
    for reason in data.get("reasons") or []:
        click.echo(f"    - {reason}")
    for review in data.get("reviews") or []:
        click.echo(f"  review by {(review.get('user') or {}).get('login')}: {review.get('state')}")
    if data.get("human"):
        h = data["human"]
        click.echo(f"  last human action: {h.get('verb')} by {h.get('by')} at {h.get('at')}"
                   + (f": {h['reason']}" if h.get("reason") else ""))


def _action(verb: str, summary: str):
    @click.argument("number", type=click.IntRange(1))
    @click.option("--reason", metavar="TEXT", help="Why (at most 500 characters); recorded with who did it.")
    @pr_repo_option
    @repo_options
    @json_option
    def command(number, reason, pr_repo, backend, as_json):
        if reason is not None and len(reason) > 500:
            raise UsageError("--reason is at most 500 characters")
        done = _hub(backend).act_on_pull(number, verb, reason, pr_repo)
        if as_json:
            return emit(done)
        click.echo(_said(done))
    command.__doc__ = summary
    return pr.command(verb)(command)


def _said(done: dict) -> str:
    where = f"{done['repo']}#{done['number']}"
    if done["verb"] == "merge":
        line = f"merged {where} at {str(done.get('head_sha'))[:12]} as {str(done.get('merge_sha'))[:12]}"
    elif done["verb"] == "close":
        line = f"closed {where}"
    else:
        line = f"released {where}: took off {', '.join(done.get('removed') or [])}; the gatekeeper decides again"
    if done.get("task"):
        line += f"; task {done['task']} " + ("settled" if done.get("task_settled") else "was not waiting on it")
    return line


_action("merge", "Merge pull request NUMBER at its current head, by the repo's merge method.")
_action("close", "Close pull request NUMBER unmerged; its task is cancelled with the reason.")
_action("release", "Take the escalation labels off NUMBER so the gatekeeper decides again.")


def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
