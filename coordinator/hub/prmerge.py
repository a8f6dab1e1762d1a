"""Merging a local forge's pull request: the target repo's base branch takes the head only if
the head is still the commit the caller reviewed (else HeadMoved, GitHub's 409), and only
without conflicts (else NotMergeable, GitHub's 405). Git does the merge in the target's bare
repo, outside the hub's loop; the loop then records it in `prs/N.yaml`."""
from __future__ import annotations

import threading

from coordinator.core.trailers import merge_message
from coordinator.forge.base import MERGE_METHODS, ForgeError, HeadMoved, NotMergeable
from coordinator.hub.batch import Batch
from coordinator.hub.prtarget import local_path
from coordinator.repo import branches
from coordinator.repo.gitrepo import GitRepo
from coordinator.wire.errors import NotARepo, RefMoved

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _lock_for(repo: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault(repo, threading.Lock())


def merge(hub, number: int, sha: object, method: object, by: str) -> dict:
    """Merge PR `number` at `sha` by `method` (merge | squash); returns its record, now merged."""
    if method not in MERGE_METHODS:
        raise ForgeError(f"merge_method must be one of {', '.join(MERGE_METHODS)}", 422)
    if method == "rebase":
        raise ForgeError("the local forge merges by merge or squash; set merge.method to one of them", 422)
    if not isinstance(sha, str) or len(sha) != 40:
        raise ForgeError("sha must be the 40-character head commit that was reviewed", 422)
    record = hub.prs.get(number)
    if record.get("merged") or record["state"] != "open":
        raise NotMergeable(number, "it is closed")
    with _lock_for(record["repo"]):
        try:
            git = GitRepo(local_path(record["repo"]))
        except NotARepo:
            raise ForgeError(f"{record['repo']} is not a git repo", 404) from None
        try:
            head = git.resolve(f"refs/heads/{record['head']}")
            if head is None or str(head) != sha:
                raise HeadMoved(number, sha)
            message = merge_message(f"{record['title']} (#{number})", by)
            try:
                merged = branches.merge_branch(git, record["base"], head, message, squash=method == "squash")
            except RefMoved:
                raise NotMergeable(number, f"{record['base']} moved while merging; try again") from None
            if merged is None:
                raise NotMergeable(number, f"it conflicts with {record['base']}")
        finally:
            git.close()
    return hub.call(Batch.record_pr_merge, number, sha, str(merged), by)
