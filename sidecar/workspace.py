"""An agent's workspaces for tasks that name a target repo: one clone per target under
STATE/workspaces/KEY/clone (made once, fetched each time) and one worktree per task beside it
(STATE/workspaces/KEY/tasks/TASK_ID), so two tasks never share a checkout. A cleanup removes a
task's worktree and local branch only when nothing in them is uncommitted or unpushed.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from .gitflow import Started, TaskInfo, belongs, current_branch, git, start_task, uncommitted


def key(repo: str) -> str:
    """A folder name for a target: its last path part and a hash of the whole (two targets
    named alike never share a clone)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", re.sub(r"\.git/*$", "", repo.rstrip("/")).rsplit("/", 1)[-1])[:40]
    return f"{name.strip('.') or 'repo'}-{hashlib.sha256(repo.encode()).hexdigest()[:10]}"


def task_tree(state_dir: Path, repo: str, task_id: str) -> Path:
    return state_dir / "workspaces" / key(repo) / "tasks" / task_id


def prepare(state_dir: Path, repo: str, task: TaskInfo, agent: str, base: str = "main") -> tuple[Path, Started]:
    """The task's worktree on its branch: made (clone, worktree, start-task) or found again. A
    worktree already on this task's branch is carried on as it is (a re-run after a lost run
    keeps the work in progress); a clean one goes through start-task again, so it takes in
    what others pushed to the branch meanwhile."""
    root = state_dir / "workspaces" / key(repo)
    clone = root / "clone"
    if not (clone / ".git").exists():
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = root / "clone.partial"
        shutil.rmtree(partial, ignore_errors=True)  # a clone cut short by a crash: start again
        git(root, "clone", "--quiet", "--no-checkout", "--", repo, str(partial))
        os.replace(partial, clone)
    tree = task_tree(state_dir, repo, task.id)
    if (tree / ".git").exists():
        branch = current_branch(tree)
        if branch and belongs(tree, branch, agent, task) and uncommitted(tree):
            return tree, Started(branch, "", resumed=True)  # work in progress: as it is
    else:
        tree.parent.mkdir(parents=True, exist_ok=True)
        git(clone, "worktree", "prune")
        git(clone, "worktree", "add", "--quiet", "--detach", str(tree))
    return tree, start_task(tree, task, agent, base=base)


def cleanup(tree: Path, remote: str = "origin") -> tuple[bool, str]:
    """Remove a task's worktree and its local branch unless they hold uncommitted changes or
    commits no remote branch has; returns (removed, why)."""
    if not (tree / ".git").exists():
        return False, "no worktree"
    dirty = uncommitted(tree)
    if dirty:
        return False, f"kept: {len(dirty)} uncommitted file(s)"
    git(tree, "fetch", "--quiet", "--prune", remote)  # a branch deleted there must not count as holding our work
    unpushed = int(git(tree, "rev-list", "--count", "HEAD", "--not", f"--remotes={remote}").strip() or 0)
    if unpushed:
        return False, f"kept: {unpushed} commit(s) not on {remote}"
    branch = current_branch(tree)
    clone = Path(git(tree, "rev-parse", "--git-common-dir").strip())
    clone = clone if clone.is_absolute() else (tree / clone).resolve()
    git(clone.parent, "worktree", "remove", str(tree))
    if branch:
        git(clone.parent, "branch", "-D", branch)  # every commit on it is on the remote (checked above)
    return True, "removed"
