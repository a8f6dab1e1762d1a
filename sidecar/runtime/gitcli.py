"""`agentcom git start-task ID`, `git submit`, `git status`: the git workflow wrapper's verbs, run
inside a clone of the target repo (by the sidecar, an agent or a human)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import click

from coordinator.wire.errors import UsageError

_dir = click.option("-C", "directory", type=click.Path(path_type=Path, file_okay=False), default=".",
                    help="Run as if started in this directory (default: here).")
_remote = click.option("--remote", default="origin", show_default=True, help="The target's remote.")
_base = click.option("--base", metavar="BRANCH", help="The target's base branch (default: the one its remote's HEAD "
                                                     "names).")
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
_agent = click.option("--agent", envvar="AGENTCOM_AGENT", help="The agent's name ($AGENTCOM_AGENT).")
_task_file = click.option("--task-file", envvar="AGENTCOM_TASK_FILE", type=click.Path(path_type=Path, dir_okay=False),
                          help="The task as JSON, as the sidecar writes it ($AGENTCOM_TASK_FILE).")
_hub = click.option("--hub", envvar="AGENTCOM_HUB", metavar="URL",
                    help="The hub, to read the task from ($AGENTCOM_HUB).")
TASK_FILE_MAX = 1 << 20


def _task(task_id: str | None, task_file: Path | None, hub: str | None) -> dict:
    """The task from its file (when it is that task) or from the hub."""
    if task_file is not None and task_file.exists():
        if task_file.stat().st_size > TASK_FILE_MAX:
            raise UsageError(f"{task_file} is over {TASK_FILE_MAX} bytes; it is not a task file")
        try:
            doc = json.loads(task_file.read_text())
        except ValueError as e:
            raise UsageError(f"{task_file} is not JSON: {e}") from None
        if isinstance(doc, dict) and (task_id is None or doc.get("id") == task_id):
            return doc
    if task_id is None:
        raise UsageError("which task? give its id (or --task-file)")
    if not hub:
        raise UsageError(f"to read task {task_id}, give --hub URL (or $AGENTCOM_HUB), or --task-file")
    from coordinator.wire.client import HttpBackend

    return HttpBackend(hub, None).show(task_id)["task"]


def _need_agent(agent: str | None) -> str:
    if not agent:
        raise UsageError("give --agent NAME (or $AGENTCOM_AGENT): branches are named after the agent")
    return agent


@click.group("git")
def git_group():
    """The git workflow: a fresh task branch, a pushed branch with its pull request, and where
    you stand. Run inside a clone of the target repo (docs/git-workflow.md)."""


@git_group.command("start-task")
@click.argument("task_id")
@_agent
@_task_file
@_hub
@_remote
@_base
@_dir
@_json
def start_task_cmd(task_id, agent, task_file, hub, remote, base, directory, as_json):
    """Refuse a dirty tree, fetch, and check out TASK_ID's branch agent/AGENT/TASK_ID-SLUG made
    from the remote's base branch as just fetched (or the one made before: safe to run again)."""
    from sidecar.gitflow.flow import TaskInfo, start_task

    task = TaskInfo.of(_task(task_id, task_file, hub))
    started = start_task(directory, task, _need_agent(agent), remote=remote, base=base)
    if as_json:
        click.echo(json.dumps(started.__dict__, indent=2))
    elif started.resumed:
        click.echo(f"On {started.branch} (made before; carried on as it is)")
    else:
        click.echo(f"On {started.branch}, from {remote}/{started.base} at {started.base_sha[:10]}"
                   + (f" ({started.base} moved {started.restarts} time(s) meanwhile; followed)"
                      if started.restarts else ""))


@git_group.command("submit")
@click.option("--task", "task_id", help="The task (default: the one start-task made this branch for).")
@_agent
@_task_file
@_hub
@click.option("--config", "config_path", envvar="AGENTCOM_SIDECAR_CONFIG",
              type=click.Path(path_type=Path, dir_okay=False),
              help="A sidecar config to take the forge settings, hub and token from.")
@click.option("--forge", "forge_kind", type=click.Choice(["local", "github"]),
              help="Without --config: the forge (local needs --hub and $AGENTCOM_TOKEN).")
@click.option("--github-api", default="https://api.github.com", show_default=True, help="GitHub's API base.")
@click.option("--github-token-file", type=click.Path(path_type=Path, dir_okay=False),
              help="A file holding a GitHub token.")
@_remote
@_base
@_dir
@_json
def submit_cmd(task_id, agent, task_file, hub, config_path, forge_kind, github_api, github_token_file, remote, base,
               directory, as_json):
    """Push this task branch (a lease at most, never over others' commits) and open its pull
    request (title, task id, agent, prompt summary, diff stat; labels agent:NAME and
    priority:P), or find the one already open. Prints the PR's URL."""
    from coordinator.forge import connect
    from sidecar.gitflow.flow import TaskInfo, current_branch, git, submit, top

    work = top(directory)
    branch = current_branch(work)
    if task_id is None and branch:
        task_id = git(work, "config", "--get", f"branch.{branch}.agentcomTask", check=False).strip() or None
    task = TaskInfo.of(_task(task_id, task_file, hub))
    url = git(work, "remote", "get-url", remote).strip()
    if config_path is not None:
        from sidecar.runtime.config import load_config

        config = load_config(config_path)
        agent = agent or config.agent
        forge = connect(config.forge, url, hub=config.hub, token=config.token, github_api=config.github_api,
                        github_token=config.github_token, task=task.id)
    elif forge_kind == "github":
        token = github_token_file.read_text().strip() if github_token_file else os.environ.get("GITHUB_TOKEN")
        forge = connect("github", url, github_api=github_api, github_token=token)
    elif forge_kind == "local":
        forge = connect("local", url, hub=hub, token=os.environ.get("AGENTCOM_TOKEN"), task=task.id)
    else:
        raise UsageError("which forge? give --config SIDECAR.yaml, or --forge local|github")
    done = submit(work, task, _need_agent(agent), forge, remote=remote, base=base)
    if as_json:
        click.echo(json.dumps(done.__dict__, indent=2))
    else:
        click.echo(f"{'Opened' if done.opened else 'Updated'} pull request #{done.number}: {done.url}")


@git_group.command("status")
@click.option("--no-fetch", is_flag=True, help="Compare with the remote's base branch as last fetched.")
@_remote
@_base
@_dir
@_json
def status_cmd(no_fetch, remote, base, directory, as_json):
    """Branch, commits ahead of and behind the remote's base branch, uncommitted files, and whether it
    is ready to submit. Exits 1 when it is not ready."""
    import sys

    from sidecar.gitflow.flow import status

    found = status(directory, remote=remote, base=base, fetch=not no_fetch)
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2))
    else:
        width = max(12, len(f"{remote}/{found.base}") + 1)
        click.echo(f"{'branch':<{width}} {found.branch or '(detached HEAD)'}\n"
                   f"{remote + '/' + found.base:<{width}} {found.ahead} ahead, {found.behind} behind\n"
                   f"{'uncommitted':<{width}} {len(found.uncommitted)}"
                   + "".join(f"\n  {f}" for f in found.uncommitted[:50]))
        click.echo("ready to submit" if found.ready else "not ready: " + "; ".join(found.problems))
    sys.exit(0 if found.ready else 1)
