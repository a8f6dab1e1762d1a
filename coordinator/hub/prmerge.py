"""The hub's writes to a local forge's target repo. Merging a pull request: the base branch takes
the head only if the head is still the commit the caller reviewed (else HeadMoved, GitHub's 409),
and only without conflicts (else NotMergeable, GitHub's 405). Deleting the head branch of a
merged or closed pull request, never a base and never an open PR's head. Git does the work in
the target's bare repo, outside the hub's loop; the loop then records it in `prs/N.yaml`."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from coordinator.core.trailers import merge_message, squash_message
from coordinator.forge.base import MERGE_METHODS, BranchInUse, ForgeError, HeadMoved, NotMergeable, check_merge_text
from coordinator.hub.batch import Batch
from coordinator.hub.prtarget import local_path
from coordinator.repo import branches
from coordinator.repo.gitrepo import GitRepo
from coordinator.wire.errors import NotARepo, RefMoved

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


@contextmanager
def _changing(repo: str) -> Iterator[GitRepo]:
    """The target repo, open for one change at a time per repo (a merge, a branch deleted)."""
    with _guard:
        lock = _locks.setdefault(repo, threading.Lock())
    with lock:
        try:
            git = GitRepo(local_path(repo))
        except NotARepo:
            raise ForgeError(f"{repo} is not a git repo", 404) from None
        try:
            yield git
        finally:
            git.close()


def merge(hub, number: int, sha: object, method: object, by: str, title: object = None,
          message: object = None) -> dict:
    """Merge PR `number` at `sha` by `method` (merge | squash); returns its record, now merged.
    The commit carries `title` and `message` when given, else the title and number and, for a
    task's PR, the trailers of `squash_message` (task, agent, the head merged, who merged it)."""
    if method not in MERGE_METHODS:
        raise ForgeError(f"merge_method must be one of {', '.join(MERGE_METHODS)}", 422)
    if method == "rebase":
        raise ForgeError("the local forge merges by merge or squash; set merge.method to one of them", 422)
    if not isinstance(sha, str) or len(sha) != 40:
        raise ForgeError("sha must be the 40-character head commit that was reviewed", 422)
    check_merge_text(title, message)
    record = hub.prs.get(number)
    if record.get("merged") or record["state"] != "open":
        raise NotMergeable(number, "it is closed")
    with _changing(record["repo"]) as git:
        head = git.resolve(f"refs/heads/{record['head']}")
        if head is None or str(head) != sha:
            raise HeadMoved(number, sha)
        text = _message(record, sha, by, title, message)
        try:
            merged = branches.merge_branch(git, record["base"], head, text, squash=method == "squash")
        except RefMoved:
            raise NotMergeable(number, f"{record['base']} moved while merging; try again") from None
        if merged is None:
            raise NotMergeable(number, f"it conflicts with {record['base']}")
    return hub.call(Batch.record_pr_merge, number, sha, str(merged), by)


def _message(record: dict, sha: str, by: str, title, message) -> str:
    if record.get("task"):
        subject, trailers = squash_message(record["title"], record["number"], record["task"], record["author"],
                                           sha, by)
    else:
        subject, trailers = merge_message(f"{record['title']} (#{record['number']})", by).split("\n\n", 1)
    if title is None and message is None:
        return f"{subject}\n\n{trailers}"
    body = (message or "").rstrip("\n")
    # the caller's words, and our trailers after them unless the caller wrote them already
    if not (body and "Merged-By: " in body):
        body = f"{body}\n\n{trailers}" if body else trailers
    return f"{title or subject}\n\n{body.rstrip()}\n"


def delete_head(hub, number: int, by: str) -> dict:
    """Delete PR `number`'s head branch from its target, once the PR is merged or closed; returns
    {deleted, branch, sha}. Refused (BranchInUse) while the PR, or another open PR with the same
    head, is open, and for any branch that is a base or the target's default branch."""
    record = hub.prs.get(number)
    branch = record["head"]
    if record["state"] == "open":
        raise BranchInUse(branch, f"pull request #{number} is open; merge or close it first")
    for other in hub.prs.find(repo=record["repo"], state="open", limit=10**6):
        if other["head"] == branch:
            raise BranchInUse(branch, f"it is the head of open pull request #{other['number']}")
        if other["base"] == branch:
            raise BranchInUse(branch, f"it is the base of open pull request #{other['number']}")
    if branch == record["base"]:
        raise BranchInUse(branch, "it is the pull request's base")
    with _changing(record["repo"]) as git:
        if branches.default_branch(git) == branch:
            raise BranchInUse(branch, f"it is the default branch of {record['repo']}")
        at = git.resolve(f"refs/heads/{branch}")
        if at is None:
            return {"deleted": False, "branch": branch, "sha": None}
        if str(at) != record["head_sha"]:
            # commits pushed after the PR's last head are in no merge and no record: kept
            raise BranchInUse(branch, f"it moved past the pull request's head {record['head_sha'][:12]}")
        try:
            branches.delete_branch(git, branch, at)
        except RefMoved:
            raise BranchInUse(branch, "it moved while being deleted (a push landed); look again") from None
    hub.call(Batch.record_pr_head_deleted, number, str(at), by)
    return {"deleted": True, "branch": branch, "sha": str(at)}
