"""Names git will not check out (`..`, `.git` in any spelling), anywhere in a pushed tree: git's
own object checks refuse them, the hook refuses them where those are off, and what arrives
without either is taken out by the hub, its content kept in rejected/."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from coordinator.hub.hub import Hub
from tests.support.gitenv import git
from tests.support.processes import HubProcess

PLACES = [["..", "x"], [".git", "config"], [".GIT", "hooks", "x"], ["docs", "deep", ".."],
          ["docs", ".GIT", "x"], ["docs", "Git~1"], ["queue", "..", "evil.yaml"]]
IDS = ["root-dotdot", "root-dotgit", "root-DOTGIT", "nested-dotdot-file", "nested-DOTGIT", "nested-git~1",
       "in-a-lane"]


def _with_entry(clone: Path, parts: list[str], data: str = "evil\n") -> str:
    """A commit on HEAD whose tree also holds a file at `parts` (built with mktree: git add
    refuses such names)."""
    blob = git(clone, "hash-object", "-w", "--stdin", input=data).stdout.strip()

    def tree(base: str | None, parts: list[str]) -> str:
        listed = git(clone, "ls-tree", base).stdout.splitlines() if base else []
        lines = [line for line in listed if line.split("\t", 1)[1] != parts[0]]
        if len(parts) == 1:
            lines.append(f"100644 blob {blob}\t{parts[0]}")
        else:
            below = [line.split() for line in listed if line.split("\t", 1)[1] == parts[0]]
            sub = below[0][2] if below and below[0][1] == "tree" else None
            lines.append(f"040000 tree {tree(sub, parts[1:])}\t{parts[0]}")
        return git(clone, "mktree", input="\n".join(lines) + "\n").stdout.strip()

    root = tree(git(clone, "rev-parse", "HEAD^{tree}").stdout.strip(), parts)
    commit = git(clone, "commit-tree", root, "-p", "HEAD", "-m", "add a file").stdout.strip()
    git(clone, "reset", "-q", "--soft", commit)
    return commit


def _fresh_clone_works(repo: Path, where: Path) -> None:
    git(where.parent, "clone", "-q", str(repo), str(where))
    assert (where / "agentcom.yaml").is_file()


def _checks_off(repo: Path) -> None:
    for key in ("transfer.fsckObjects", "receive.fsckObjects"):
        git(repo, "config", key, "false")


@pytest.mark.parametrize("parts", PLACES, ids=IDS)
def test_names_git_cannot_check_out_are_refused_at_push(repo, clone, tmp_path, parts):
    head = git(repo, "rev-parse", "main").stdout
    _with_entry(clone, parts)
    push = git(clone, "push", check=False)
    assert push.returncode != 0 and "fsck" in push.stderr
    assert git(repo, "rev-parse", "main").stdout == head
    _fresh_clone_works(repo, tmp_path / "fresh")


@pytest.mark.parametrize("hub_running", [True, False], ids=["checked-by-the-hub", "checked-by-the-hook"])
@pytest.mark.parametrize("parts", PLACES, ids=IDS)
def test_where_git_does_not_check_objects_the_hook_refuses_such_names_naming_the_path(repo, clone, parts,
                                                                                      hub_running):
    hub = HubProcess(repo) if hub_running else None
    _checks_off(repo)  # after the hub's start, which turns them on
    try:
        commit = _with_entry(clone, parts)
        push = git(clone, "push", check=False)
    finally:
        if hub:
            hub.stop()
    assert push.returncode != 0
    bad = next(i for i, p in enumerate(parts) if p in ("..", ".git", ".GIT", "Git~1"))
    assert f"commit {commit[:10]} adds '{'/'.join(parts[:bad + 1])}'" in push.stderr
    assert "git refuses to check out" in push.stderr


@pytest.mark.parametrize("hub_running", [True, False], ids=["push-while-running", "found-at-start"])
def test_such_names_arriving_without_any_check_are_taken_out_and_kept_in_rejected(repo, clone, tmp_path,
                                                                                  hub_running):
    h = Hub(repo) if hub_running else None
    _checks_off(repo)
    try:
        _with_entry(clone, ["..", "x"], "first\n")
        _with_entry(clone, ["docs", ".GIT", "y"], "second\n")
        (repo / "hooks" / "pre-receive").rename(repo / "hooks" / "off")
        try:
            git(clone, "push", "-q")
        finally:
            (repo / "hooks" / "off").rename(repo / "hooks" / "pre-receive")
        if h:
            h.call(lambda batch: None)
        else:
            h = Hub(repo)
        assert h.status()["tasks"] == [] and h.status()["config_error"] is None
    finally:
        if h:
            h.close()
    _fresh_clone_works(repo, tmp_path / "fresh")
    files = git(repo, "ls-tree", "-r", "--name-only", "main").stdout.split("\n")
    assert not any(p.startswith("../") or "/.GIT/" in p for p in files)
    reasons = {}
    for path in files:
        if path.endswith(".reason.yaml"):
            reason = yaml.safe_load(git(repo, "show", f"main:{path}").stdout)
            kept = git(repo, "show", f"main:{path[:-len('.reason.yaml')]}").stdout
            reasons[reason["file"]] = (kept, " ".join(reason["problems"]))
    assert reasons["../x"][0] == "first\n" and "the name '..'" in reasons["../x"][1]
    assert reasons["docs/.GIT/y"][0] == "second\n" and "'.GIT' is git's own directory" in reasons["docs/.GIT/y"][1]


def test_a_hub_start_turns_on_gits_object_checks_in_an_older_repo(repo):
    for key in ("transfer.fsckObjects", "receive.fsckObjects", "receive.fsck.hasDotdot"):
        git(repo, "config", "--unset", key)
    Hub(repo, fleet=False).close()
    assert git(repo, "config", "receive.fsckObjects").stdout.strip() == "true"
    assert git(repo, "config", "receive.fsck.hasDotdot").stdout.strip() == "error"
