"""Fuzzing pushes: commits of hostile task files are judged by the pre-receive check
(`hooks.verdict`, the code a push runs through) and then land on main whatever it said, as a
mirror or a removed hook would let them, and an in-process Hub catches up. Every file ends as
a queued task or kept in rejected/ with a reason naming it (counted: nothing lost); the hook
and the hub agree (a file the hook let through is never rejected, one the hub rejected was
named by the hook); the hub keeps serving, and a fresh Hub starts on what is left.

Commits are written with pygit2 rather than `git push`, so one example costs milliseconds;
tests/test_hostile_input.py pushes through the real hook with git itself.
"""
from __future__ import annotations

import itertools

import pygit2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from coordinator.core.layout import LANES
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from coordinator.repo.gitrepo import BLOB, GitRepo
from coordinator.repo.pushcheck import verdict
from coordinator.repo.repoinit import init_repo
from tests.support.hostile import rendered, task_files

USER = pygit2.Signature("Some User", "user@example.com")
PLACES = ["inbox/{n}.yaml", "inbox/{n}.yml", *(f"queue/{lane}/{{n}}.yaml" for lane in LANES),
          "inbox/sub/{n}.yaml", "queue/asap/{n}.yaml", "dead/{n}.yaml", "done/2026-11/25/{n}.yaml", "inbox/{n}.txt"]
pushes = st.lists(st.tuples(st.sampled_from(PLACES), rendered | task_files), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A coordination repo and an in-process hub on it, shared by the examples of this module
    (each example uses new file names); at the end a fresh Hub must start on what they left."""
    repo, _ = init_repo(tmp_path_factory.mktemp("fuzz") / "hub.git")
    hub = Hub(repo, fleet=False)
    state = {"repo": repo, "hub": hub, "names": itertools.count(), "files": 0, "queued": 0, "rejected": 0}
    yield state
    hub = state["hub"]
    assert state["queued"] and state["rejected"], state  # the examples reached both outcomes
    before = hub.status()
    hub.close()
    again = Hub(repo, fleet=False)
    try:
        after = again.status()
        assert after["counts"] == before["counts"] and len(after["rejected"]) == len(before["rejected"])
        assert again.call(Batch.submit, {"prompt": "after a restart"}, "fuzz")["state"] == "queued"
    finally:
        again.close()


def _commit(repo, files: dict[str, bytes]) -> tuple[pygit2.Oid, pygit2.Oid]:
    git = GitRepo(repo)
    try:
        head = git.head()
        tree = git.edit_tree(git.tree_of(head), {p: (git.write_blob(d), BLOB) for p, d in files.items()})
        return head, git.repo.create_commit(None, USER, USER, "fuzz", tree, [head])
    finally:
        git.close()


def _land(repo, head, commit) -> None:
    git = GitRepo(repo)
    try:
        git.advance(commit, head)
    finally:
        git.close()


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                  HealthCheck.large_base_example])
@given(pushes)
@example([("queue/high/{n}.yaml", b"prompt: hi\nscope: ['**/[z-a]']\n")])
@example([("inbox/{n}.yaml", b"prompt: a plain task\n"), ("queue/low/{n}.yaml", b"prompt: hi\nid: twice\n"),
          ("inbox/{n}.yaml", b"prompt: again\nid: twice\n")])
def test_every_pushed_file_is_queued_or_kept_with_its_reason_and_the_hook_and_hub_agree(fleet, files):
    repo, hub = fleet["repo"], fleet["hub"]
    named = {}
    for place, data in files:
        named[place.format(n=f"f{next(fleet['names'])}")] = data
    head, commit = _commit(repo, named)
    git = GitRepo(repo)
    try:
        code, lines = verdict(git, [f"{head} {commit} refs/heads/main"])
    finally:
        git.close()
    told = "\n".join(lines)
    assert "Traceback" not in told
    _land(repo, head, commit)  # whatever the hook said: a mirror or a removed hook lets it in
    tasks_before = set(hub.view.tasks)
    hub.call(lambda batch: None)  # a batch starts by catching up with main

    status = hub.status()
    kept = {r["file"]: r["path"] for r in status["rejected"] if r["file"] in named}
    rejected = {r["file"]: r["problems"] for r in status["rejected"] if r["file"] in named}
    new_tasks = set(hub.view.tasks) - tasks_before
    assert len(new_tasks) + len(rejected) == len(named), (named.keys(), rejected, new_tasks)  # nothing lost
    for path, problems in rejected.items():
        assert problems and all(isinstance(p, str) and p for p in problems), path
        assert code == 1 and path in told, (path, problems, lines)  # the hook named it too
    tree = {e.path for e in hub.git.files(hub.git.tree_of(hub.git.head()))}
    for path, where in kept.items():  # the file itself is kept, beside its reason
        assert where in tree and where + ".reason.yaml" in tree, (path, where)
    for path in named:  # gone from where it was put (unless it became the canonical file itself)
        assert path not in tree or path in {hub.view.get(t).loc.path for t in new_tasks}
    fleet["files"] += len(named)
    fleet["rejected"] += len(rejected)
    fleet["queued"] += len(new_tasks)
    # the hub keeps serving
    assert hub.call(Batch.submit, {"prompt": "a normal task"}, "fuzz")["state"] == "queued"


def test_a_pushed_task_reusing_a_taken_id_is_refused_by_the_hook(tmp_path):
    repo, _ = init_repo(tmp_path / "hub.git")
    head, commit = _commit(repo, {"inbox/a.yaml": b"prompt: hi\nid: same\n", "inbox/b.yaml": b"prompt: hi\nid: same\n"})
    git = GitRepo(repo)
    try:
        code, lines = verdict(git, [f"{head} {commit} refs/heads/main"])
    finally:
        git.close()
    assert code == 1 and any("same" in line for line in lines)
