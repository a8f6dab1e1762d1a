"""A target repo's branches as a pull request sees them: what a head changes since it left its base,
how far ahead it is, whether it merges cleanly, and the merge itself (the local forge's PRs).
"""
from __future__ import annotations

from dataclasses import dataclass

import pygit2

from coordinator.repo.gitrepo import IDENTITY, GitRepo
from coordinator.wire.errors import AgentcomError, NotARepo, RefMoved

# what opening or reading a target repo raises when the repo is not there or not readable: a path
# that is no repo, a NUL in it or an unknown ~user (ValueError, RuntimeError), the file system, git
UNREADABLE = (NotARepo, ValueError, RuntimeError, OSError, pygit2.GitError)


@dataclass(frozen=True)
class FileDiff:
    """One file of a comparison: git's status letter, both paths and modes, line counts, and
    the hunks (None when binary)."""
    status: str
    old_path: str
    new_path: str
    old_mode: int
    new_mode: int
    additions: int
    deletions: int
    binary: bool
    hunks: str | None


def compare(git: GitRepo, base: pygit2.Oid, head: pygit2.Oid, limit: int,
            text_max: int | None = None) -> list[FileDiff]:
    """What `head` changes since it left `base` (from their merge base, as a pull request
    shows it), renames found; at most `limit` files; no hunks for a file whose two sides
    pass `text_max` bytes. The limits come first: renames are looked for only in a diff of
    at most `limit` files (the search compares every pair), and a big file's text is never
    built."""
    start = git.repo.merge_base(base, head) or base
    diff = git.repo.diff(git.repo[start], git.repo[head])
    if len(diff) <= limit:
        diff.find_similar()
    out = []
    for patch in diff:
        if len(out) >= limit:
            break
        d = patch.delta
        _, added, removed = patch.line_stats
        big = text_max is not None and d.old_file.size + d.new_file.size > text_max
        text = "" if big else (patch.text or "")
        cut = text.find("\n@@")
        out.append(FileDiff(d.status_char(), d.old_file.path, d.new_file.path, int(d.old_file.mode),
                            int(d.new_file.mode), added, removed, d.is_binary,
                            None if d.is_binary or cut < 0 else text[cut + 1:]))
    return out


def ahead(git: GitRepo, base: pygit2.Oid, head: pygit2.Oid) -> int:
    """Commits `head` holds that `base` does not."""
    return git.repo.ahead_behind(head, base)[0]


def mergeable(git: GitRepo, base: pygit2.Oid, head: pygit2.Oid) -> bool:
    """Whether merging `head` into `base` would go without conflicts (nothing is written)."""
    return not git.repo.merge_commits(base, head).conflicts


def merge_branch(git: GitRepo, branch: str, head: pygit2.Oid, message: str, squash: bool,
                 author: pygit2.Signature | None = None) -> pygit2.Oid | None:
    """Merge `head` into `branch` (a merge commit, or with `squash` one commit with the merged
    tree) and move the branch by compare-and-swap; None if the two conflict. Raises RefMoved
    if the branch moved while the merge was built."""
    ref_name = f"refs/heads/{branch}"
    base = git.resolve(ref_name)
    if base is None:
        raise AgentcomError(f"{git.path} has no branch {branch}")
    index = git.repo.merge_commits(base, head)
    if index.conflicts:
        return None
    tree = index.write_tree(git.repo)
    stamp = author or pygit2.Signature(IDENTITY.name, IDENTITY.email)
    commit = git.repo.create_commit(None, stamp, stamp, message, tree, [base] if squash else [base, head])
    git.sync()
    try:
        ref = git.repo.references.get(ref_name)
        if ref is None or ref.target != base:   # a push landed while the merge was built
            raise RefMoved(str(base), str(ref.target if ref is not None else None))
        ref.set_target(commit)   # libgit2 compares-and-swaps against ref.target, which is `base`
    except (pygit2.GitError, OSError) as e:
        raise RefMoved(str(base), str(git.resolve(ref_name))) from e
    if git.resolve(ref_name) != commit:
        raise RefMoved(str(base), str(git.resolve(ref_name)))
    git.sync()
    return commit


def delete_branch(git: GitRepo, branch: str, expected: pygit2.Oid) -> None:
    """Delete `branch` if it still points at `expected` (compare-and-swap: a push that moved it
    since is never lost); RefMoved if it moved."""
    try:
        git.run_git("update-ref", "-d", f"refs/heads/{branch}", str(expected))
    except AgentcomError:
        raise RefMoved(str(expected), str(git.resolve(f"refs/heads/{branch}"))) from None


def default_branch(git: GitRepo) -> str | None:
    """The branch a bare repo's HEAD names (what a clone checks out), or None."""
    head = git.repo.references.get("HEAD")
    target = head.target if head is not None and isinstance(head.target, str) else ""
    return target.removeprefix("refs/heads/") if target.startswith("refs/heads/") else None
