"""An agent's workspaces for tasks that name a target repo: one clone per target under
STATE/workspaces/KEY/clone (made once, fetched each time) and one worktree per task beside it
(STATE/workspaces/KEY/tasks/TASK_ID), so two tasks never share a checkout; the sidecar checks a
worktree still leads into that clone before it runs git there. A cleanup removes a task's
worktree and local branch only when nothing in them is uncommitted or unpushed.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from sidecar.gitflow.basebranch import find_base
from sidecar.gitflow.flow import GitflowError, Started, TaskInfo, belongs, current_branch, git, start_task, uncommitted


def key(repo: str) -> str:
    """A folder name for a target: its last path part and a hash of the whole (two targets
    named alike never share a clone)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", re.sub(r"\.git/*$", "", repo.rstrip("/")).rsplit("/", 1)[-1])[:40]
    return f"{name.strip('.') or 'repo'}-{hashlib.sha256(repo.encode()).hexdigest()[:10]}"


def task_tree(state_dir: Path, repo: str, task_id: str) -> Path:
    return state_dir / "workspaces" / key(repo) / "tasks" / task_id


class ForeignWorktree(GitflowError):
    """A task's worktree whose .git no longer leads into the sidecar's clone beside it."""

    def __init__(self, tree: Path, why: str):
        self.tree, self.why = tree, why
        super().__init__(f"{tree} is no longer a worktree of the sidecar's clone ({why}); the sidecar runs no "
                         "git in it: look at what changed it, and move it away to start the task afresh")


def check_tree(tree: Path) -> None:
    """Refuse a worktree whose .git was rewritten to lead elsewhere: the agent can write it, and
    the sidecar's git (its push above all) must not be aimed at another repo."""
    own = (tree.parent.parent / "clone" / ".git").resolve()
    dotgit = tree / ".git"
    if dotgit.is_symlink() or not dotgit.is_file():
        raise ForeignWorktree(tree, ".git is not a plain file")
    m = re.fullmatch(r"gitdir: (.+?)\n?", dotgit.read_text(errors="replace")[:4096])
    if m is None:
        raise ForeignWorktree(tree, ".git does not say 'gitdir: PATH'")
    gitdir = (tree / m.group(1)).resolve()
    if gitdir.parent != own / "worktrees":
        raise ForeignWorktree(tree, f".git leads to {str(gitdir)[:200]}, outside {own}")
    common = gitdir / "commondir"
    if common.is_file() and (gitdir / common.read_text(errors="replace").strip()).resolve() != own:
        raise ForeignWorktree(tree, f"{common} leads outside {own}")


def prepare(state_dir: Path, repo: str, task: TaskInfo, agent: str, base: str | None = None) -> tuple[Path, Started]:
    """The task's worktree on its branch: made (clone, worktree, start-task) or found again. A
    worktree already on this task's branch is carried on as it is (a re-run after a lost run
    keeps the work in progress, its base as last found); a clean one goes through start-task
    again, so it takes in what others pushed to the branch meanwhile. `base` None: the remote's
    HEAD."""
    root = state_dir / "workspaces" / key(repo)
    clone = root / "clone"
    if not (clone / ".git").exists():
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = root / "clone.partial"
        shutil.rmtree(partial, ignore_errors=True)  # a clone cut short by a crash: start again
        git(root, "clone", "--quiet", "--no-checkout", "--", repo, str(partial))
        os.replace(partial, clone)
    tree = task_tree(state_dir, repo, task.id)
    if (tree / ".git").exists() or (tree / ".git").is_symlink():
        check_tree(tree)
        branch = current_branch(tree)
        if branch and belongs(tree, branch, agent, task) and uncommitted(tree):
            return tree, Started(branch, "", resumed=True, base=find_base(tree, "origin", base, ask=False))
    else:
        tree.parent.mkdir(parents=True, exist_ok=True)
        git(clone, "worktree", "prune")
        start = "HEAD"
        if not git(clone, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False).strip():
            # the remote's HEAD led nowhere when cloned: start at the base instead (or say it is missing)
            start = f"refs/remotes/origin/{find_base(clone, 'origin', base)}"
        git(clone, "worktree", "add", "--quiet", "--detach", str(tree), start)
    return tree, start_task(tree, task, agent, base=base)


def cleanup(tree: Path, remote: str = "origin") -> tuple[bool, str]:
    """Remove a task's worktree and its local branch unless they hold uncommitted changes or
    commits no remote branch has; returns (removed, why)."""
    if not (tree / ".git").exists() and not (tree / ".git").is_symlink():
        return False, "no worktree"
    check_tree(tree)
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
