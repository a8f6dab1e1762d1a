"""The comparison of two branches (what the local forge lists as a PR's files), on a real
bare repo: the limits apply before the costly work."""
from __future__ import annotations

import pygit2
import pytest

from coordinator.repo import branches
from coordinator.repo.gitrepo import GitRepo, RefMoved
from tests.support.gitenv import git
from tests.support.targets import make_remote, push_branch


def _compare(remote, head: str, limit: int, text_max: int | None):
    repo = GitRepo(remote)
    try:
        base, tip = repo.resolve("refs/heads/main"), repo.resolve(f"refs/heads/{head}")
        return branches.compare(repo, base, tip, limit, text_max)
    finally:
        repo.close()


def test_a_file_past_the_text_limit_is_counted_but_its_text_is_never_built(tmp_path):
    remote = make_remote(tmp_path / "remotes")
    push_branch(remote, tmp_path, "big", {"big.txt": "".join(f"line {i}\n" for i in range(20000)), "small.txt": "s\n"})

    found = {d.new_path: d for d in _compare(remote, "big", 10, text_max=100_000)}

    assert (found["big.txt"].additions, found["big.txt"].hunks) == (20000, None)
    assert found["small.txt"].hunks == "@@ -0,0 +1 @@\n+s\n"


def test_renames_are_looked_for_only_in_a_diff_within_the_file_limit(tmp_path):
    remote = make_remote(tmp_path / "remotes")
    moved = {"old/name.txt": None, "new/name.txt": "moved soon\n"}
    push_branch(remote, tmp_path, "few", moved)
    push_branch(remote, tmp_path, "many", {**moved, **{f"f{i}.txt": f"{i}\n" for i in range(5)}})

    assert [(d.status, d.old_path) for d in _compare(remote, "few", 3, None)] == [("R", "old/name.txt")]
    many = _compare(remote, "many", 3, None)  # 7 files: no search over every pair
    assert len(many) == 3 and all(d.status != "R" for d in many)


class _PushedMeanwhile(GitRepo):
    """A GitRepo during whose merge (after the merge commit is built, before main moves) someone
    pushes a commit to main through the git CLI, as a concurrent push would."""

    def __init__(self, path, push):
        super().__init__(path)
        self.push, self.armed = push, False

    def sync(self) -> None:
        super().sync()
        if self.armed:
            self.armed = False
            self.push()


def test_a_merge_never_erases_a_commit_pushed_to_the_base_while_it_was_built(tmp_path):
    remote = make_remote(tmp_path / "remotes")
    head = push_branch(remote, tmp_path, "feature", {"feature.txt": "new\n"})
    work = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    (work / "hotfix.txt").write_text("urgent\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "hotfix")
    pushed = git(work, "rev-parse", "HEAD").stdout.strip()
    repo = _PushedMeanwhile(remote, lambda: git(work, "push", "-q", "origin", "HEAD:main"))
    try:
        repo.armed = True
        with pytest.raises(RefMoved):
            branches.merge_branch(repo, "main", pygit2.Oid(hex=head), "merge feature", squash=True)
        assert str(repo.resolve("refs/heads/main")) == pushed   # the hotfix stays on main
    finally:
        repo.close()
