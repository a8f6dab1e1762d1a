"""The git workflow inside the sidecar, for a task that names a target repo (its `repo` field):
before the agent wakes, a worktree on the task's branch fresh from the remote's base branch (the
agent's working directory), or, for a pull request sent back to this agent, on that PR's branch
(brought up to date here when it only conflicted or fell behind: then the agent is not woken);
after it reports done, `submit` (push, pull request) unless it gave a PR URL itself; when the
run closes, the worktree goes, unless it holds unpushed work.
"""
from __future__ import annotations

import logging
from pathlib import Path

from coordinator.forge import connect
from coordinator.wire.errors import AgentcomError
from sidecar.gitflow.flow import GitflowError, NothingToSubmit, TaskInfo, is_local, submit
from sidecar.gitflow.rework import Rework, take_up
from sidecar.gitflow.workspace import check_tree, cleanup, prepare
from sidecar.runtime.config import SidecarConfig
from sidecar.runtime.runs import Run

log = logging.getLogger("agentcom.sidecar")
SUMMARY_MAX = 4000


class LocalTargetRefused(GitflowError):
    """The task's repo is a path on this machine, and this sidecar takes only remote targets."""

    permanent = True

    def __init__(self, repo: str):
        self.repo = repo
        super().__init__(f"the task's repo {repo[:200]!r} is a path on this machine, and this sidecar has "
                         "local_targets: false; give the task a URL (https://, ssh:// or host:path)")


def wanted(config: SidecarConfig, run: Run) -> bool:
    return config.git_workflow and bool(run.task.get("repo"))


def before_run(config: SidecarConfig, run: Run) -> None:
    """Make (or find again) the task's worktree and branch; noted in run.json for the launch."""
    if not wanted(config, run):
        return
    if not config.local_targets and is_local(run.task["repo"]):
        raise LocalTargetRefused(run.task["repo"])
    task = TaskInfo.of(run.task)
    tree, started = prepare(config.state_dir, run.task["repo"], task, config.agent, config.base_branch)
    rework = Rework.of(run.task, config.agent)
    plan = take_up(tree, rework, started.branch, task, config.agent, base=started.base) if rework else None
    run.save(workdir=str(tree), branch=started.branch, rework=plan.notes() if plan else None)
    how = "carried on" if started.resumed else f"from {started.base} at {started.base_sha[:10]}"
    log.info("%s: working in %s on %s (%s)", run.task_id, tree, started.branch, how)
    if plan is not None:
        log.info("%s: pull request #%s sent back (%s): %s", run.task_id, plan.rework.pr, plan.rework.kind,
                 f"{plan.how}, the agent wakes" if plan.wake else f"{plan.how}, nothing for the agent to do")


def settled(run: Run) -> str | None:
    """For a rework run brought up to date before the agent woke: the summary of its report
    (the agent is not woken at all); else None."""
    rework = run.notes.get("rework")
    if not rework or rework["wake"]:
        return None
    done = {"up to date": "found already up to date with", "rebased": "rebased onto",
            "merged": "merged with"}.get(rework["how"], rework["how"])
    return f"the branch of pull request #{rework['pr']} {done} {rework['base']} by the sidecar; the agent was not woken"


def after_run(config: SidecarConfig, run: Run, report: dict) -> dict:
    """A `done` report gains the PR's URL (submit runs here unless the agent gave one); a
    submit that fails turns it into a failure, so the work is not reported done unsubmitted."""
    if report["kind"] != "done" or not run.notes.get("branch") or report.get("pr_url"):
        return report
    try:
        forge = connect(config.forge, run.task["repo"], hub=config.hub, token=config.token,
                        github_api=config.github_api, github_token=config.github_token, task=run.task_id)
        check_tree(Path(run.notes["workdir"]))
        done = submit(Path(run.notes["workdir"]), TaskInfo.of(run.task), config.agent, forge,
                      base=config.base_branch, branch=run.notes["branch"])
    except NothingToSubmit as e:
        note = f"[no pull request: {e}]"
        summary = report.get("summary", "")
        return {**report, "summary": (f"{summary} {note}" if summary else note)[:SUMMARY_MAX]}
    except AgentcomError as e:
        log.warning("%s: submit failed: %s", run.task_id, e)
        return {"kind": "failed", "attempt": report["attempt"], "permanent": False,
                "reason": f"the agent finished but its work could not be submitted: {e}"[:2000],
                **{k: report[k] for k in ("tokens", "model") if k in report}}
    run.save(pr_url=done.url, pushed=done.head_sha)
    log.info("%s: %s pull request %s (%s)", run.task_id, "opened" if done.opened else "updated", done.url,
             done.branch)
    return {**report, "pr_url": done.url}


def tidy(run: Run) -> None:
    """After a run closes: drop its worktree if nothing in it is unsaved elsewhere."""
    if not run.notes.get("workdir"):
        return
    try:
        removed, why = cleanup(Path(run.notes["workdir"]))
    except AgentcomError as e:
        removed, why = False, f"kept: {e}"
    log.info("%s: worktree %s %s", run.task_id, run.notes["workdir"], "removed" if removed else why)
