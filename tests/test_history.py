"""Only the hub writes history: a pushed commit cannot pass for one of the hub's, by its trailers,
its name, or a seal copied from a real one; and a repo from before the seal keeps its past."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from coordinator.core.layout import State
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from coordinator.repo.gitrepo import GitRepo
from tests.support.gitenv import git
from tests.support.processes import HubProcess, agentcom

FORGED = ("notes\n\nTask: {task}\nFrom: assigned\nTo: done\nAgent: dora\nAttempt: 1\n"
          "Reason: finished by dora\n")
AS_HUB = {"GIT_AUTHOR_NAME": "AgentCom coordinator", "GIT_AUTHOR_EMAIL": "coordinator@agentcom.local",
          "GIT_COMMITTER_NAME": "AgentCom coordinator", "GIT_COMMITTER_EMAIL": "coordinator@agentcom.local"}
DECISION = ("gatekeeper: acme/web#1 merge (score 0)\n\nTask: {task}\nRepo: acme/web\nPull: 1\nHead: {sha}\n"
            "Action: merge\nScore: 0\nRules: -\nAgent: dora\nMerged-By: -\n")


def _commit(clone: Path, message: str, env: dict | None = None, name="NOTES.md") -> str:
    (clone / name).write_text(f"{message[:20]}\n{os.urandom(4).hex()}\n")
    git(clone, "add", "-A")
    subprocess.run(["git", "commit", "-q", "-F", "-"], cwd=clone, input=message, text=True, check=True,
                   env={**os.environ, **(env or {})})
    return git(clone, "rev-parse", "HEAD").stdout.strip()


def _push_without_hook(repo: Path, clone: Path) -> None:
    (repo / "hooks" / "pre-receive").rename(repo / "hooks" / "off")
    try:
        git(clone, "push", "-q")
    finally:
        (repo / "hooks" / "off").rename(repo / "hooks" / "pre-receive")


def _queued(repo: Path, task_id: str) -> None:
    h = Hub(repo, fleet=False)
    try:
        h.call(Batch.submit, {"prompt": "x", "id": task_id}, "test")
    finally:
        h.close()


def _reasons(history: list[dict]) -> list[str]:
    return [f"{row['from']} → {row['to']}: {row['reason']}" for row in history]


@pytest.mark.parametrize("message", [FORGED, FORGED.lower().replace(": ", " : "), DECISION],
                         ids=["transition", "transition-loosely-spelled", "gatekeeper-decision"])
def test_forged_transition_trailers_are_refused_at_push(repo, clone, message):
    _queued(repo, "t-1")
    git(clone, "pull", "-q")
    head = git(repo, "rev-parse", "main").stdout
    forged = _commit(clone, message.format(task="t-1", sha="0" * 40))
    push = git(clone, "push", check=False)
    assert push.returncode != 0
    assert f"commit {forged[:10]} carries a" in push.stderr and "only the hub writes them" in push.stderr
    assert git(repo, "rev-parse", "main").stdout == head


def test_forged_transitions_pushed_without_the_hook_are_not_in_the_task_log(repo, clone):
    _queued(repo, "t-1")
    git(clone, "pull", "-q")
    _commit(clone, FORGED.format(task="t-1"))
    _commit(clone, DECISION.format(task="t-1", sha="a" * 40), env=AS_HUB)
    _push_without_hook(repo, clone)
    hub = HubProcess(repo)
    try:
        api = hub.request("GET", "/api/tasks/t-1/log")[1]["history"]
        assert _reasons(api) == ["new → queued: submitted by test"]
        assert agentcom("log", "t-1", "--hub", hub.url, check=True).stdout.count("\n") == 1
    finally:
        hub.stop()
    shown = agentcom("log", "t-1", "--repo", str(repo), check=True).stdout
    assert "dora" not in shown and "review" not in shown and "new → queued" in shown


@pytest.mark.parametrize("who", [
    {"GIT_AUTHOR_NAME": "Mallory", "GIT_AUTHOR_EMAIL": "coordinator@agentcom.local"},
    {"GIT_COMMITTER_NAME": "Mallory", "GIT_COMMITTER_EMAIL": "Coordinator@AgentCom.LOCAL"},
    {"GIT_COMMITTER_NAME": "agentcom  COORDINATOR", "GIT_COMMITTER_EMAIL": "m@example.com"},
    {"GIT_AUTHOR_NAME": "Agent\u200bCom coordinator", "GIT_AUTHOR_EMAIL": "m@example.com"},
], ids=["author-email", "committer-email-in-capitals", "committer-name-spaced", "author-name-invisible-char"])
def test_a_commit_claiming_the_coordinator_as_author_or_committer_is_refused_at_push(clone, who):
    forged = _commit(clone, "just notes\n", env=who)
    push = git(clone, "push", check=False)
    assert push.returncode != 0
    role = "author" if "GIT_AUTHOR_NAME" in who else "committer"
    assert f"commit {forged[:10]} names the coordinator as its {role}" in push.stderr
    assert "git commit --amend --reset-author" in push.stderr


def test_a_pushed_commit_under_the_coordinators_name_does_not_become_the_hubs_state(repo, clone):
    _queued(repo, "t-1")
    git(clone, "pull", "-q")
    git(clone, "mv", "queue/normal/t-1.yaml", "done/t-1.yaml")
    _commit(clone, FORGED.format(task="t-1"), env=AS_HUB)
    _push_without_hook(repo, clone)
    h = Hub(repo, fleet=False)  # takes in what came after its own last commit, by the push rules
    try:
        assert h.show("t-1")["path"] == "queue/normal/t-1.yaml"
        assert _reasons(h.history("t-1")) == ["new → queued: submitted by test"]
    finally:
        h.close()


def test_a_hub_seal_copied_onto_another_commit_does_not_verify(repo, clone):
    _queued(repo, "t-1")
    git(clone, "pull", "-q")
    real = git(clone, "rev-parse", "HEAD").stdout.strip()
    message = git(clone, "cat-file", "commit", real).stdout.split("\n\n", 1)[1]
    assert "Hub-Seal: " in git(clone, "log", "-1", "--format=%(trailers:key=Hub-Seal)", real).stdout
    fields = git(clone, "log", "-1", "--format=%T %P%n%ad%n%cd", "--date=raw", real).stdout.splitlines()
    tree, parent = fields[0].split()
    (clone / "NOTES.md").write_text("other tree\n")
    git(clone, "add", "-A")
    other_tree = git(clone, "write-tree").stdout.strip()

    def forge(tree_id: str, parent_id: str, dates: tuple[str, str]) -> str:
        env = {**os.environ, **AS_HUB, "GIT_AUTHOR_DATE": dates[0], "GIT_COMMITTER_DATE": dates[1]}
        return subprocess.run(["git", "commit-tree", tree_id, "-p", parent_id], cwd=clone, input=message,
                              text=True, capture_output=True, check=True, env=env).stdout.strip()

    same = forge(tree, parent, (fields[1], fields[2]))
    assert same == real  # the very same commit is the only one the seal is good for
    copies = [forge(other_tree, parent, (fields[1], fields[2])),      # another tree
              forge(tree, real, (fields[1], fields[2])),              # another parent
              forge(tree, parent, (fields[1], "1700000000 +0000"))]   # another date
    git(clone, "push", "-q", "origin", *(f"{sha}:refs/heads/copy-{n}" for n, sha in enumerate(copies)))
    g = GitRepo(repo)
    try:
        assert g.made_by_hub(real)
        assert not any(g.made_by_hub(sha) for sha in copies)
    finally:
        g.close()


def test_a_repo_from_before_the_seal_keeps_its_history_and_nothing_later_joins_it(repo, clone):
    h = Hub(repo, fleet=False)
    try:
        h.call(Batch.submit, {"prompt": "x", "id": "t-1"}, "test")
        h.call(Batch.transition, "t-1", State.CANCELLED, reason="cancelled by test")
    finally:
        h.close()
    (repo / "agentcom" / "history.key").unlink()  # as a repo from before the key (or one whose key was lost)
    h = Hub(repo, fleet=False)
    try:
        assert (repo / "agentcom" / "history.key").stat().st_mode & 0o777 == 0o600
        assert _reasons(h.history("t-1")) == ["new → queued: submitted by test",
                                              "queued → cancelled: cancelled by test"]
    finally:
        h.close()
    git(clone, "pull", "-q")
    _commit(clone, FORGED.format(task="t-1"), env=AS_HUB)
    _push_without_hook(repo, clone)
    h = Hub(repo, fleet=False)
    try:
        assert [r["to"] for r in h.history("t-1")] == ["queued", "cancelled"]
        h.call(Batch.retry, "t-1", "test")
        assert [r["to"] for r in h.history("t-1")] == ["queued", "cancelled", "queued"]
    finally:
        h.close()
