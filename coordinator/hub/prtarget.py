"""The hub's reads of a local forge's target, the bare repo a pull request's branches live in:
whether a PR may be opened there, and what a record's branches hold now (head, mergeability,
changed files). Reads only, each on a handle of its own, so any thread may call them; the
merge is prmerge's. The local forge asks these through the API, so it never opens the repo."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from coordinator.forge.base import FILES_MAX, ForgeError, NoCommits
from coordinator.forge.changedfiles import PATCH_MAX, github_item
from coordinator.repo import branches
from coordinator.repo.gitrepo import GitRepo
from coordinator.wire.errors import NotARepo


def local_path(repo: str) -> Path:
    """The bare repo a local forge works on: a path or a file:// URL."""
    return Path(repo[len("file://"):] if repo.startswith("file://") else repo).expanduser()


@contextmanager
def reading(repo: str) -> Iterator[GitRepo]:
    """The target repo, open for reads; whatever keeps it from being opened or read becomes a
    ForgeError (422) naming it, never a 500."""
    git = None
    try:
        git = GitRepo(local_path(repo))
        yield git
    except branches.UNREADABLE as e:
        if isinstance(e, NotARepo):
            raise ForgeError(f"{local_path(repo)} is not a git repo; the local forge needs the target's bare repo",
                             422) from None
        raise ForgeError(f"cannot read the target {repo[:200]}: {type(e).__name__}: {str(e)[:200]}", 422) from None
    finally:
        if git is not None:
            git.close()


def check_open(repo: str, head: str, base: str) -> str:
    """The head branch's commit, if a PR from `head` into `base` may be opened on `repo`: both
    branches exist and `head` holds commits `base` lacks (else NoCommits, as GitHub answers)."""
    with reading(repo) as git:
        head_id, base_id = git.resolve(f"refs/heads/{head}"), git.resolve(f"refs/heads/{base}")
        if base_id is None:
            raise ForgeError(f"{repo} has no branch {base}", 422)
        if head_id is None:
            raise ForgeError(f"{repo} has no branch {head}; push it first", 422)
        if branches.ahead(git, base_id, head_id) == 0:
            raise NoCommits(head, base)
        return str(head_id)


def head_of(repo: str, branch: str) -> str | None:
    """The commit `branch` is at in the target now (None if it has none, or the target cannot say)."""
    try:
        with reading(repo) as git:
            at = git.resolve(f"refs/heads/{branch}")
    except ForgeError:
        return None
    return str(at) if at is not None else None


def _head(git: GitRepo, record: dict):
    """The head branch's commit now, or the one recorded if the branch is gone."""
    return git.resolve(f"refs/heads/{record['head']}") or git.resolve(record["head_sha"])


def with_live(record: dict) -> dict:
    """The record as served: `head_sha` the head branch's commit now, `mergeable` (open PRs
    only) and `changed_files` from the target as it is now; null where the target cannot say."""
    try:
        with reading(record["repo"]) as git:
            head, base = _head(git, record), git.resolve(f"refs/heads/{record['base']}")
            known = head is not None and base is not None
            mergeable = branches.mergeable(git, base, head) if known and record["state"] == "open" else None
            changed = len(branches.compare(git, base, head, FILES_MAX)) if known else None
    except ForgeError:
        return {**record, "mergeable": None, "changed_files": None}
    return {**record, "head_sha": str(head) if head is not None else record["head_sha"],
            "mergeable": mergeable, "changed_files": changed}


def with_heads(records: list[dict]) -> list[dict]:
    """The records with `head_sha` the head branch's commit now (each target opened once)."""
    heads: dict[int, str] = {}
    for repo in dict.fromkeys(r["repo"] for r in records):
        try:
            with reading(repo) as git:
                for r in records:
                    if r["repo"] == repo and (head := _head(git, r)) is not None:
                        heads[r["number"]] = str(head)
        except ForgeError:
            continue  # a target that cannot be read: its records keep the head they recorded
    return [{**r, "head_sha": heads.get(r["number"], r["head_sha"])} for r in records]


def changed_files(record: dict) -> list[dict]:
    """What the PR changes now, in GitHub's changed-files items (at most FILES_MAX)."""
    with reading(record["repo"]) as git:
        head, base = _head(git, record), git.resolve(f"refs/heads/{record['base']}")
        if base is None:
            raise ForgeError(f"{record['repo']} has no branch {record['base']}", 422)
        if head is None:
            raise ForgeError(f"{record['repo']} holds neither branch {record['head']} nor its commit "
                             f"{record['head_sha'][:12]}", 422)
        return [github_item(d.status, d.old_path, d.new_path, d.old_mode, d.new_mode, d.additions,
                            d.deletions, d.binary, d.hunks)
                for d in branches.compare(git, base, head, FILES_MAX, PATCH_MAX)]
