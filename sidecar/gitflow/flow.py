"""The git workflow wrapper, run inside a clone of a task's target repo: `start-task` (a fresh
branch from the remote's base branch, just fetched), `submit` (push with a lease at most, open or find
the pull request) and `status`. Git runs through argv lists only, and task text never reaches
git at all: the PR's title and body go to the forge over HTTP.

Names: the branch is `agent/AGENT/TASK_ID-SLUG` (SLUG from the title). A re-run finds the
branch it recorded for the task (`branch.NAME.agentcomTask`), or one named exactly so, locally or
on the remote, and carries on with it.

The base branch is found, not configured (`basebranch`), unless one is given as an override.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from coordinator.forge.base import PrExists
from coordinator.wire.errors import UsageError
from coordinator.wire.names import PATTERN
from sidecar.gitflow.basebranch import MissingBase, find_base, recorded_head, remote_branches
from sidecar.gitflow.gitrun import GitflowError, git, run_git

PREFIX = "agent"
SLUG_MAX = 40
PROMPT_SUMMARY = 1500
STAT_LINES = 60
DIRTY_SHOWN = 20
MAX_RESTARTS = 3   # times start-task follows a main that moved while it branched
REFLOG_MAX = 500   # entries of a branch's reflog searched for the remote's tip


class DirtyTree(GitflowError):
    def __init__(self, where: Path, files: list[str]):
        self.where, self.files = where, files
        more = len(files) - DIRTY_SHOWN
        shown = ", ".join(files[:DIRTY_SHOWN]) + (f" and {more} more" if more > 0 else "")
        super().__init__(f"{where} has uncommitted changes: {shown}; commit or stash them first")


class NothingToSubmit(GitflowError):
    def __init__(self, branch: str, base: str):
        self.branch, self.base = branch, base
        super().__init__(f"{branch} has no commits ahead of {base}; commit your work first")


class BadBranchName(GitflowError):
    """The task's id or title makes a branch name git refuses: no run of it can do better."""

    permanent = True

    def __init__(self, branch: str, task_id: str):
        self.branch, self.task_id = branch, task_id
        super().__init__(f"task {task_id} makes the branch name {branch!r}, which git refuses (an id may not "
                         "hold '..' nor end in '.' or '.lock'); submit the task again under another id")


@dataclass(frozen=True)
class TaskInfo:
    """What the workflow needs of a task (from the hub, or the run folder's task.json)."""
    id: str
    title: str
    prompt: str
    priority: str = "normal"

    @classmethod
    def of(cls, task: dict) -> TaskInfo:
        if not isinstance(task, dict) or not re.fullmatch(PATTERN, str(task.get("id"))):
            raise UsageError("the task has no valid id")
        return cls(task["id"], str(task.get("title") or task["id"])[:200], str(task.get("prompt") or ""),
                   str(task.get("priority") or "normal"))


@dataclass(frozen=True)
class Started:
    branch: str
    base_sha: str
    resumed: bool          # the branch existed (here or on the remote) and was carried on
    restarts: int = 0      # times main moved while branching and the branch followed it
    base: str = ""         # the base branch it was made from (found or given)


@dataclass(frozen=True)
class Submitted:
    branch: str
    head_sha: str
    number: int
    url: str
    opened: bool           # False: an open PR for the branch was found and kept


@dataclass(frozen=True)
class Status:
    branch: str | None
    base: str
    ahead: int
    behind: int
    uncommitted: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {"branch": self.branch, "base": self.base, "ahead": self.ahead, "behind": self.behind,
                "uncommitted": self.uncommitted, "ready": self.ready, "problems": self.problems}


def is_local(repo: str) -> bool:
    """Whether git reads `repo` as a path on this machine (or a file:// URL), as opposed to a
    URL or an scp-like `host:path`."""
    return repo.startswith("file://") or ("://" not in repo and re.match(r"[^/]*:", repo) is None)


def top(workdir: Path) -> Path:
    out = git(workdir, "rev-parse", "--show-toplevel", check=False).strip()
    if not out:
        raise GitflowError(f"{workdir} is not inside a git work tree; run this in a clone of the target repo")
    return Path(out)


def uncommitted(work: Path) -> list[str]:
    """Files that differ from HEAD, untracked ones included (ignored ones not)."""
    out = git(work, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    entries, items = out.split("\0"), []
    i = 0
    while i < len(entries) and entries[i]:
        code, path = entries[i][:2], entries[i][3:]
        items.append(f"{path} ({_what(code)})")
        i += 2 if code[0] in "RC" else 1  # a rename carries its old path next
    return items


def _what(code: str) -> str:
    if code == "??":
        return "untracked"
    letter = (code[1] if code[1] != " " else code[0])
    return {"M": "modified", "A": "added", "D": "deleted", "R": "renamed", "C": "copied", "U": "conflict",
            "T": "type changed"}.get(letter, "changed")


def _sha(work: Path, ref: str) -> str | None:
    return git(work, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False).strip() or None


def current_branch(work: Path) -> str | None:
    return git(work, "symbolic-ref", "-q", "--short", "HEAD", check=False).strip() or None


def _fetch(work: Path, remote: str) -> None:
    git(work, "fetch", "--quiet", "--prune", remote)


def _is_ancestor(work: Path, older: str, newer: str) -> bool:
    return run_git(work, "merge-base", "--is-ancestor", older, newer).returncode == 0


def _integrated(work: Path, theirs: str, branch: str, *also: str) -> bool:
    """Whether commit `theirs` is in the local `branch` (or in `also`, e.g. HEAD) now, or was in
    the branch at some point of its reflog (a rewrite of our own commits): git's
    --force-if-includes rule. Fails closed: an error of git's counts as not integrated."""
    tips = {f"refs/heads/{branch}", *also} | set(
        git(work, "rev-list", "--walk-reflogs", f"--max-count={REFLOG_MAX}", f"refs/heads/{branch}",
            check=False).split())
    done = run_git(work, "rev-list", "--max-count=1", theirs, "--not", *sorted(tips))
    return done.returncode == 0 and not done.stdout.strip()


# --- names ---------------------------------------------------------------------------------

def slug(title: str) -> str:
    """A few words of the title for a branch name: lower case, letters and digits, dashes."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    out = ""
    for w in words:
        if len(out) + len(w) + (1 if out else 0) > SLUG_MAX:
            break
        out = f"{out}-{w}" if out else w
    return out or (words[0][:SLUG_MAX] if words else "")


def branch_prefix(agent: str, task_id: str) -> str:
    return f"{PREFIX}/{agent}/{task_id}"


def branch_name(agent: str, task: TaskInfo) -> str:
    s = slug(task.title)
    return branch_prefix(agent, task.id) + (f"-{s}" if s else "")


def recorded_task(work: Path, branch: str) -> str | None:
    """The task start-task recorded for a local branch (`branch.NAME.agentcomTask`)."""
    return git(work, "config", "--get", f"branch.{branch}.agentcomTask", check=False).strip() or None


def belongs(work: Path, branch: str, agent: str, task: TaskInfo, *, local: bool = True) -> bool:
    """Whether `branch` is this task's: recorded for it, or named exactly as it would be. A
    prefix is not enough: ids hold dashes, so `agent/A/T-7-1-…` may be task T-7-1's."""
    recorded = recorded_task(work, branch) if local else None
    if recorded is not None:
        return recorded == task.id
    return branch in (branch_prefix(agent, task.id), branch_name(agent, task))


def _existing(work: Path, remote: str, agent: str, task: TaskInfo) -> tuple[str | None, str | None]:
    """(a local branch, a remote-tracking branch) made for this task by this agent before."""
    prefix = branch_prefix(agent, task.id)
    local = [ref[len("refs/heads/"):] for ref in
             git(work, "for-each-ref", "--format=%(refname)", f"refs/heads/{prefix}*").split()]
    local = [name for name in local if belongs(work, name, agent, task)]
    local.sort(key=lambda name: recorded_task(work, name) is None)  # a recorded one first
    strip = f"refs/remotes/{remote}/"
    tracked = [ref[len(strip):] for ref in
               git(work, "for-each-ref", "--format=%(refname)", f"{strip}{prefix}*").split()]
    tracked = [name for name in tracked if belongs(work, name, agent, task, local=False)]
    return (local[0] if local else None), (tracked[0] if tracked else None)


# --- the three commands --------------------------------------------------------------------

def start_task(workdir: Path, task: TaskInfo, agent: str, *, remote: str = "origin",
               base: str | None = None) -> Started:
    """Refuse a dirty tree; fetch; check out the task's branch: the one made before (here or on
    the remote), else a new one from the remote's base branch (`base`, else its HEAD) as just
    fetched. If the base moves on while this runs, a branch made here (still without commits)
    follows it."""
    work = top(Path(workdir))
    dirty = uncommitted(work)
    if dirty:
        raise DirtyTree(work, dirty)
    _fetch(work, remote)
    base = find_base(work, remote, base)
    local, tracked = _existing(work, remote, agent, task)
    if local:
        theirs = _sha(work, f"refs/remotes/{remote}/{local}")
        mine = _sha(work, f"refs/heads/{local}")
        if theirs and not _integrated(work, theirs, local):
            if not _is_ancestor(work, mine, theirs):
                raise GitflowError(f"{local} here and {remote}/{local} have diverged (someone else pushed to it "
                                   f"while this clone has commits it does not): merge {remote}/{local} into "
                                   f"{local}, then start again")
            git(work, "checkout", "--quiet", local)
            git(work, "merge", "--quiet", "--ff-only", theirs)  # the remote is ahead: carry on from there
        else:
            git(work, "checkout", "--quiet", local)
        _record(work, local, task)
        return Started(local, _sha(work, f"refs/remotes/{remote}/{base}") or "", resumed=True, base=base)
    if tracked:
        git(work, "checkout", "--quiet", "--no-track", "-b", tracked, f"{remote}/{tracked}")
        _record(work, tracked, task)
        return Started(tracked, _sha(work, f"refs/remotes/{remote}/{base}") or "", resumed=True, base=base)
    branch = branch_name(agent, task)
    if run_git(work, "check-ref-format", "--branch", branch).returncode != 0:
        raise BadBranchName(branch, task.id)
    restarts = 0
    while True:
        base_sha = _sha(work, f"refs/remotes/{remote}/{base}")
        if base_sha is None:  # deleted on the remote since the fetch that found it
            raise MissingBase(remote, base, recorded_head(work, remote), remote_branches(work, remote))
        git(work, "checkout", "--quiet", "--no-track", "-B", branch, base_sha)
        _record(work, branch, task)
        # main may have moved between the fetch and the branch: ask the remote itself
        now = git(work, "ls-remote", "--heads", remote, f"refs/heads/{base}").split()
        if not now or now[0] == base_sha or restarts >= MAX_RESTARTS:
            return Started(branch, base_sha, resumed=False, restarts=restarts, base=base)
        restarts += 1
        _fetch(work, remote)


def _record(work: Path, branch: str, task: TaskInfo) -> None:
    git(work, "config", f"branch.{branch}.agentcomTask", task.id)


def submit(workdir: Path, task: TaskInfo, agent: str, forge, *, remote: str = "origin",
           base: str | None = None, branch: str | None = None) -> Submitted:
    """Push the current branch (with a lease: never over someone else's commits) and open its
    pull request into the base branch (`base`, else the remote's HEAD), or find the one already
    open. Refuses the base branch, a dirty tree, a branch with no commits ahead of the base and,
    given `branch`, any other branch."""
    work = top(Path(workdir))
    expected, branch = branch, current_branch(work)
    if branch is None:
        raise GitflowError(f"{work} is not on a branch (detached HEAD); `agentcom git start-task ID` makes one")
    if expected is not None and branch != expected:
        raise GitflowError(f"{work} is on {branch}, not on the task's branch {expected}; commit the work on "
                           f"{expected} (git checkout {expected}) and submit again")
    _refuse_base(branch, base)
    dirty = uncommitted(work)
    if dirty:
        raise DirtyTree(work, dirty)
    _fetch(work, remote)
    base = find_base(work, remote, base)
    _refuse_base(branch, base)
    ahead = int(git(work, "rev-list", "--count", f"refs/remotes/{remote}/{base}..HEAD").strip())
    if ahead == 0:
        raise NothingToSubmit(branch, f"{remote}/{base}")
    head = _sha(work, "HEAD")
    theirs = _sha(work, f"refs/remotes/{remote}/{branch}")
    if head != theirs:
        # what the remote has must be in what we push (or have been in this branch before: a
        # rewrite of our own pushed commits). Where a fetch last left origin/BRANCH proves
        # nothing, since any fetch (status, start-task, cleanup) moves it to what others pushed
        if theirs and not _integrated(work, theirs, branch, "HEAD"):
            raise GitflowError(f"push of {branch} refused: {remote}/{branch} has commits this branch never "
                               f"had; someone else pushed to it: look at {remote}/{branch} and merge it in, "
                               "then submit again")
        # and the lease: the remote branch must still be where this fetch saw it
        done = run_git(work, "push", "--quiet", f"--force-with-lease=refs/heads/{branch}:{theirs or ''}", remote,
                       f"HEAD:refs/heads/{branch}")
        if done.returncode != 0:
            raise GitflowError(f"push of {branch} refused ({done.stderr.strip()[:300]}); someone else pushed "
                               f"to it: look at {remote}/{branch} and merge it in, then submit again")
        _fetch(work, remote)
    labels = (f"agent:{agent}", f"priority:{task.priority}")
    pr = forge.find_open_pr(branch)
    opened = pr is None
    if pr is None:
        try:
            pr = forge.open_pr(branch, base, task.title, pr_body(work, task, agent, remote, base), labels)
        except PrExists:  # opened meanwhile (by an earlier run): keep that one
            pr, opened = forge.find_open_pr(branch), False
            if pr is None:
                raise
    missing = tuple(label for label in labels if label not in pr.labels)
    if missing:  # an earlier run opened it but its label call was lost
        forge.add_labels(pr.number, missing)
    return Submitted(branch, head, pr.number, pr.url, opened)


def _refuse_base(branch: str, base: str | None) -> None:
    if branch in (base, "main", "master"):
        raise GitflowError(f"refusing to submit from {branch}; work on a task branch "
                           "(`agentcom git start-task ID` makes one)")


def status(workdir: Path, *, remote: str = "origin", base: str | None = None, fetch: bool = True) -> Status:
    """Branch, commits ahead and behind the base branch (`base`, else the remote's HEAD),
    uncommitted files, and whether `submit` would go ahead (and if not, why)."""
    work = top(Path(workdir))
    problems = []
    fetched = fetch
    if fetch:
        try:
            _fetch(work, remote)
        except GitflowError as e:
            problems.append(f"fetch failed: {e}")
            fetched = False
    branch = current_branch(work)
    dirty = uncommitted(work)
    ahead = behind = 0
    try:
        base = find_base(work, remote, base, ask=fetched)
        found = True
    except GitflowError as e:
        problems.append(str(e))
        base, found = base or "HEAD", False
    if found and _sha(work, "HEAD") is not None:
        counts = git(work, "rev-list", "--left-right", "--count", f"HEAD...refs/remotes/{remote}/{base}").split()
        ahead, behind = int(counts[0]), int(counts[1])
    if branch is None:
        problems.append("not on a branch (detached HEAD)")
    elif branch in (base, "main", "master"):
        problems.append(f"on {branch}: submit works from a task branch")
    if dirty:
        problems.append(f"{len(dirty)} uncommitted file(s)")
    if ahead == 0:
        problems.append(f"no commits ahead of {remote}/{base}")
    return Status(branch, base, ahead, behind, dirty, problems)


def pr_body(work: Path, task: TaskInfo, agent: str, remote: str, base: str) -> str:
    """The PR's text: task id, agent, title, a summary of the prompt (quoted: it is task text,
    not instructions to a reviewer) and the diff stat."""
    stat = git(work, "diff", "--stat=100", f"refs/remotes/{remote}/{base}...HEAD").splitlines()
    if len(stat) > STAT_LINES:
        stat = stat[:STAT_LINES - 1] + [f"... {len(stat) - STAT_LINES + 1} more lines", stat[-1]]
    prompt = task.prompt.strip()
    if len(prompt) > PROMPT_SUMMARY:
        prompt = prompt[:PROMPT_SUMMARY].rstrip() + " [...]"
    quoted = "\n".join("> " + line for line in prompt.splitlines()) or "> (no prompt)"
    fence = "~~~~"  # a fence the stat cannot close (file names may hold backticks)
    return (f"AgentCom task `{task.id}`, by agent `{agent}`, priority {task.priority}.\n\n"
            f"## {task.title}\n\n{quoted}\n\n## Changes\n\n{fence}\n" + "\n".join(stat) + f"\n{fence}\n")
