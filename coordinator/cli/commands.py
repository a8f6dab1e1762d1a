"""The `agentcom` command line: thin click verbs over the client backends and the hub.

Exit codes: 0 success, 1 failure (an AgentcomError, printed as one clear line), 2 usage.
"""
from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import click

from coordinator import __version__
from coordinator.cli.gatekeeper import setup_options
from coordinator.cli.shared import emit, json_option, repo_options, table
from coordinator.core.layout import LANES
from coordinator.wire import names
from coordinator.wire.errors import AgentcomError, NotARepo


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="agentcom", message="%(prog)s %(version)s")
def main():
    """AgentCom: a git-native coordinator for fleets of AI coding agents."""


_PASS_ON = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@main.command(context_settings=_PASS_ON, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def test(args):
    """Install the test requirements and run the test suite (ARGS go to pytest)."""
    _through_launcher("test", args)


@main.command(context_settings=_PASS_ON, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def lint(args):
    """Run the linter (ruff) with the project's settings (ARGS go to ruff check)."""
    _through_launcher("lint", args)


def _through_launcher(verb: str, args) -> None:
    """`./agentcom.py test|lint` is handled by the launcher before this CLI loads (it installs the
    development requirements first); reached here, hand over to it."""
    import os

    launcher = Path(__file__).resolve().parents[2] / "agentcom.py"
    os.execv(sys.executable, [sys.executable, str(launcher), verb, *args])


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
def init(directory):
    """Create a coordination repo in DIRECTORY (a bare git repo the hub serves)."""
    from coordinator.repo.repoinit import init_repo

    path, created = init_repo(directory)
    if created:
        click.echo(f"Created coordination repo {path}\n"
                   f"  start the hub:  ./agentcom.py hub --repo {path}\n"
                   f"  clone it:       git clone {path}")
    else:
        click.echo(f"{path} is a coordination repo; its hooks and push settings are in place")


@main.command()
@click.option("--repo", envvar="AGENTCOM_REPO", metavar="DIR", type=click.Path(path_type=Path),
              help="Coordination repo, made if missing (default: $AGENTCOM_REPO, else ~/.agentcom/hub.git).")
@click.option("--host", help="Address to listen on (default: hub.host in agentcom.yaml, 127.0.0.1).")
@click.option("--port", type=int, help="TCP port (default: hub.port in agentcom.yaml, 8765; 0 picks one).")
@setup_options
def hub(repo, host, port, gatekeeper_options):
    """Run the coordinator and its HTTP API until stopped; with --forge, the gatekeeper too."""
    from coordinator.cli.serve import run_hub
    from coordinator.repo.repoinit import init_repo, is_coordination_repo
    from coordinator.wire.client import default_repo

    path = (repo or default_repo()).expanduser()
    if not path.exists():
        path, _ = init_repo(path)  # first run: make it
        click.echo(f"Created the coordination repo {path}")
    elif not is_coordination_repo(path):
        raise NotARepo(str(path))
    run_hub(path.resolve(), host, port, gatekeeper_options=gatekeeper_options)


@main.command()
@click.argument("prompt")
@click.option("--title", help="One line for lists (default: the prompt's first line).")
@click.option("--priority", type=click.Choice(LANES), help="Lane (default: normal).")
@click.option("--needs", metavar="CAP,CAP", help="Capabilities the agent must have.")
@click.option("--to", "pin", metavar="AGENT", help="Run only on this agent.")
@click.option("--after", metavar="ID,ID", multiple=True, help="Start only after these tasks are done.")
@click.option("--max-retries", type=click.IntRange(0, 100), help="Attempts after the first.")
@click.option("--deadline", metavar="WHEN", help="Complete by: 30m, 2h, 1d, or an ISO time.")
@click.option("--not-before", metavar="WHEN", help="Do not start before: a duration or an ISO time.")
@click.option("--target", "target_repo", metavar="REPO", help="Repository the work is done in.")
@click.option("--token-budget", type=click.IntRange(0), help="Advisory token budget.")
@click.option("--scope", metavar="PATTERN", multiple=True,
              help="A path the work may change (.gitignore style, e.g. src/login/); repeat for more.")
@click.option("--id", "task_id", help="Task id (default: a time-sortable one is made).")
@repo_options
@json_option
def submit(prompt, backend, as_json, **fields):
    """Queue a task; prints its id. PROMPT '-' reads the prompt from stdin."""
    if prompt == "-":
        prompt = sys.stdin.read()
    doc = {"prompt": prompt}
    if fields["needs"]:
        doc["needs"] = _csv(fields.pop("needs"))
    if fields["after"]:
        doc["depends_on"] = [i for chunk in fields.pop("after") for i in _csv(chunk)]
    if fields["scope"]:
        doc["scope"] = list(fields.pop("scope"))
    names = {"pin": "pin", "title": "title", "priority": "priority", "max_retries": "max_retries",
             "deadline": "deadline", "not_before": "not_before", "target_repo": "repo",
             "token_budget": "token_budget", "task_id": "id"}
    doc.update({key: fields[opt] for opt, key in names.items() if fields.get(opt) is not None})
    task = backend().submit(doc)
    emit(task) if as_json else click.echo(task["id"])


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@main.command()
@repo_options
@json_option
def status(backend, as_json):
    """Queue depth per lane, live tasks, and rejected submissions."""
    data = backend().status()
    if as_json:
        return emit(data)
    counts = data["counts"]
    click.echo("  ".join(f"{k} {v}" for k, v in counts.items()))
    click.echo("lanes: " + "  ".join(f"{k} {v}" for k, v in data["lanes"].items()))
    if data.get("agents"):
        click.echo("agents: " + "  ".join(f"{a['name']} {a['state']}"
                                          + (f" ({','.join(a['tasks'])})" if a["tasks"] else "")
                                          for a in data["agents"]))
    if data.get("config_error"):
        click.echo(f"! agentcom.yaml is invalid, last good settings in use: {data['config_error']}")
    rows = [(t["id"], t["state"], t.get("lane") or t.get("agent") or "", (t.get("title") or "")[:50],
             (t.get("note") or "")[:60]) for t in data["tasks"]]
    if rows:
        click.echo("")
        table(("ID", "STATE", "LANE/AGENT", "TITLE", "LAST NOTE"), rows)
    if data["rejected"]:
        click.echo("\nrejected (kept with the reason beside them):")
        for r in data["rejected"]:
            click.echo(f"  {r['path']}  from {r.get('file')}: {'; '.join(r.get('problems') or [])}"[:300])


@main.command()
@repo_options
@json_option
def health(backend, as_json):
    """What needs a human, each with its reason; exits 1 when anything does (for cron and systemd)."""
    found = backend().state()["health"]
    if as_json:
        emit(found)
    elif not found["total"]:
        click.echo("nothing needs a human")
    else:
        for c in found["items"]:
            click.echo(f"{c['kind']}: {c['reason']}")
        if found["total"] > len(found["items"]):
            click.echo(f"... and {found['total'] - len(found['items'])} more")
    if found["total"]:
        sys.exit(1)


@main.command()
@click.argument("task_id")
@repo_options
@json_option
def show(task_id, backend, as_json):
    """One task: where it is and every field."""
    _check_id(task_id)
    data = backend().show(task_id)
    if as_json:
        return emit(data)
    click.echo(f"{data['path']}  ({data['state']})")
    # computed by the hub, never stored in the file (an older hub sends neither)
    if data.get("waiting_on"):
        click.echo(f"waiting on: {', '.join(data['waiting_on'])}")
    if data.get("collides_with"):
        click.echo(f"collides with: {', '.join(data['collides_with'])}")
    from coordinator.core.task import dump
    click.echo(dump(data["task"]).decode().rstrip())


@main.command()
@click.argument("task_id")
@repo_options
@json_option
def log(task_id, backend, as_json):
    """A task's whole history, from git."""
    _check_id(task_id)
    rows = backend().history(task_id)
    if as_json:
        return emit(rows)
    import time
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["time"]))
        agent = f" [{r['agent']}]" if r["agent"] else ""
        if "decision" in r:  # a gatekeeper decision on the task's pull request
            click.echo(f"{when}  {r['commit'][:10]}  gatekeeper: {r['decision']['action']}{agent}  {r['reason']}")
            continue
        run = f", run {r['run']}" if r.get("run", 1) > 1 else ""
        click.echo(f"{when}  {r['commit'][:10]}  {r['from']} → {r['to']}{agent}  attempt {r['attempt']}{run}: "
                   f"{r['reason']}")


@main.command()
@click.argument("task_id")
@click.option("--lane", type=click.Choice(LANES), help="Lane to queue it in (default: its priority).")
@repo_options
def retry(task_id, lane, backend):
    """Queue a dead or cancelled task again."""
    _check_id(task_id)
    task = backend().retry(task_id, lane)
    click.echo(f"{task['id']} queued in {task['priority']}")


@main.command()
@click.argument("task_id")
@repo_options
def cancel(task_id, backend):
    """Cancel a task that is not done."""
    _check_id(task_id)
    task = backend().cancel(task_id)
    click.echo(f"{task['id']} cancelled")


@main.command()
@click.argument("task_id")
@click.argument("lane", type=click.Choice(LANES))
@repo_options
def reprioritise(task_id, lane, backend):
    """Move a queued task to another lane."""
    _check_id(task_id)
    task = backend().reprioritise(task_id, lane)
    click.echo(f"{task['id']} queued in {task['priority']}")


def _check_id(task_id: str) -> None:
    names.require(task_id, "a task id")


@main.group()
def agent():
    """Register, list and remove agents (each gets its own token)."""


@agent.command("register")
@click.argument("name")
@click.option("--capabilities", metavar="CAP,CAP", help="What it can do, e.g. python,git (default: none).")
@click.option("--slots", type=click.IntRange(1, 32), help="Tasks it may hold at once (default: 1).")
@click.option("--description", help="One line about it.")
@click.option("--rotate-token", is_flag=True, help="Issue a new token and revoke the old ones.")
@repo_options
@json_option
def agent_register(name, capabilities, slots, description, rotate_token, backend, as_json):
    """Register agent NAME, or change the settings given; prints its token when one is made."""
    fields = {"name": name, "capabilities": None if capabilities is None else _csv(capabilities),
              "slots": slots, "description": description}
    answer = backend().register_agent({k: v for k, v in fields.items() if v is not None}, rotate=rotate_token)
    if as_json:
        return emit(answer)
    a = answer["agent"]
    click.echo(f"{'registered' if answer['created'] else 'updated'} agent {a['name']} "
               f"(capabilities: {', '.join(a['capabilities']) or 'none'}; slots {a['slots']}; {a['state']})")
    if answer["token"]:
        click.echo(f"token (shown once; the sidecar sends it): {answer['token']}")
    else:
        click.echo("its token is unchanged (--rotate-token makes a new one)")


# `agent add`, the verb's first name, still runs for the scripts that use it; the help shows only
# `register`, which `add-agent` (an agent set up on its machine) cannot be mistaken for
_add = copy.copy(agent_register)
_add.hidden = True
agent.add_command(_add, "add")


@agent.command("list")
@repo_options
@json_option
def agent_list(backend, as_json):
    """Every agent: state, since when, what it holds, last heartbeat."""
    rows = backend().agents()
    if as_json:
        return emit(rows)
    if not rows:
        return click.echo("no agents registered (`agentcom agent register NAME` registers one)")
    table(("NAME", "STATE", "SINCE", "TASKS", "CAPABILITIES", "LAST HEARTBEAT"),
           [(a["name"], a["state"], a["since"] or "", ",".join(a["tasks"]) or "-",
             ",".join(a["capabilities"]) or "-", a["last_heartbeat"] or "-") for a in rows])


@agent.command("remove")
@click.argument("name")
@repo_options
def agent_remove(name, backend):
    """Take agent NAME out: tokens revoked, its tasks requeued; git keeps its history."""
    names.require(name, "an agent name")
    answer = backend().remove_agent(name)
    click.echo(f"removed agent {name}; {answer['tokens_revoked']} token(s) revoked")


@main.group(hidden=True)
def hook():
    """Entry points for the git hooks in hooks/."""


@hook.command("pre-receive")
def pre_receive_cmd():
    from coordinator.repo.pushcheck import pre_receive

    code, lines = pre_receive(sys.stdin.read().splitlines())
    for line in lines:
        click.echo(f"agentcom: {line}", err=True)
    sys.exit(code)


@hook.command("proc-receive")
def proc_receive_cmd():
    """refs/for/ pushes with no hub running: 'old new ref' lines in, the answer as JSON out."""
    from coordinator.cli.local import say
    from coordinator.hub.hub import Hub
    from coordinator.repo.lock import ONE_SHOT_WAIT

    lines = sys.stdin.read().splitlines()
    try:  # another push taken by this path, or a one-shot command, ends by itself: wait for it
        hub = Hub(os.environ.get("GIT_DIR", "."), role="cli", wait=ONE_SHOT_WAIT, say=say,
                  command="agentcom hook proc-receive")
        try:
            answer = hub.submit_push(lines)
        finally:
            hub.close()
    except (AgentcomError, OSError) as e:  # a hub holds the lock, a bad line, or agentcom/ is not ours to open
        why = f"{e}; nothing was queued"
        answer = {"code": 1, "lines": [why],
                  "results": [{"ref": line.split()[-1], "ok": False, "reason": why} for line in lines if line.split()]}
    click.echo(json.dumps(answer))


def _add_gatekeeper() -> None:
    from coordinator.cli.gatekeeper import gatekeeper

    main.add_command(gatekeeper)


_add_gatekeeper()


def _add_prs() -> None:
    from coordinator.cli.prs import pr

    main.add_command(pr)


_add_prs()


def _add_target() -> None:
    from coordinator.cli.target import target

    main.add_command(target)


_add_target()


def run() -> None:
    try:
        main.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except AgentcomError as e:
        click.echo(f"agentcom: {e}", err=True)
        sys.exit(e.exit_code)
