"""Random sequences of submissions, transitions, pushes (valid, invalid and forbidden) and
restarts, checking after every step: each task in exactly one state directory, none lost, the
view equal to main, and the last commit naming a task agreeing with where the task is."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pygit2
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from coordinator.core.layout import LANES, State, parse_location
from coordinator.core.trailers import parse
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from coordinator.repo.gitrepo import BLOB, GitRepo
from coordinator.repo.repoinit import init_repo
from coordinator.wire.errors import IllegalTransition
from tests.support.crash import stage_then_die

TARGETS = [State.QUEUED, State.ASSIGNED, State.WORKING, State.DONE, State.DEAD, State.CANCELLED]
USER = pygit2.Signature("Some User", "user@example.com")


class StoreMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="agentcom-prop-"))
        self.repo, _ = init_repo(self.dir / "hub.git")
        self.hub = Hub(self.repo, fleet=False)  # the store alone: no agents here
        self.expected: dict[str, str] = {}   # task id → state label, for every acknowledged change
        self.pushed = 0

    def teardown(self):
        self.hub.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(prompt=st.text(st.characters(exclude_characters="\0", exclude_categories=("Cs",)), min_size=1,
                         max_size=30).filter(str.strip),  # valid text: refusing the rest is tested elsewhere
          lane=st.sampled_from(LANES))
    def submit(self, prompt, lane):
        task = self.hub.call(Batch.submit, {"prompt": prompt, "priority": lane}, "prop")
        self.expected[task["id"]] = "queued"

    @precondition(lambda self: self.expected)
    @rule(data=st.data(), to=st.sampled_from(TARGETS))
    def transition(self, data, to):
        task_id = data.draw(st.sampled_from(sorted(self.expected)))
        try:
            task = self.hub.call(Batch.transition, task_id, to, agent="ada", reason="prop")
        except IllegalTransition:
            return
        self.expected[task_id] = task["state"]

    @rule(valid=st.booleans(), where=st.sampled_from(["inbox/x.yaml", "queue/low/y.yaml", "done/z.yaml",
                                                       "dead/w.yaml"]))
    def push_without_hook(self, valid, where):
        """A commit on main by someone else (as if a push skipped the hook)."""
        git = GitRepo(self.repo)
        try:
            head = git.head()
            self.pushed += 1
            data = f"prompt: pushed {self.pushed}\n".encode() if valid else b"prompt: [broken\n"
            tree = git.edit_tree(git.tree_of(head), {where.replace(".yaml", f"{self.pushed}.yaml"):
                                                     (git.write_blob(data), BLOB)})
            commit = git.repo.create_commit(None, USER, USER, "push", tree, [head])
            git.advance(commit, head)
        finally:
            git.close()
        legal = where.startswith(("inbox/", "queue/"))
        self.hub.call(lambda batch: None)
        if valid and legal:
            new = [r for r in self.hub.view.tasks.values() if r.loc.task_id not in self.expected]
            assert len(new) == 1, new
            self.expected[new[0].loc.task_id] = "queued"

    @precondition(lambda self: self.expected)
    @rule(data=st.data())
    def push_deleting_a_task(self, data):
        task_id = data.draw(st.sampled_from(sorted(self.expected)))
        path = self.hub.view.get(task_id).loc.path
        git = GitRepo(self.repo)
        try:
            head = git.head()
            tree = git.edit_tree(git.tree_of(head), {path: None})
            git.advance(git.repo.create_commit(None, USER, USER, "oops", tree, [head]), head)
        finally:
            git.close()
        self.hub.call(lambda batch: None)  # put back: the task is not lost

    @rule()
    def crash_before_publishing(self):
        """Stage a change and die before main moves: it was never acknowledged, so it is gone."""
        stage_then_die(self.hub, lambda batch: batch.submit({"prompt": "never acknowledged"}, "prop"))
        self.hub.lock.release()
        self.hub.git.close()
        self.hub = Hub(self.repo, fleet=False)  # the store alone: no agents here

    @rule()
    def restart(self):
        self.hub.close()
        self.hub = Hub(self.repo, fleet=False)  # the store alone: no agents here

    @invariant()
    def every_task_is_in_exactly_one_state_and_none_is_lost(self):
        git = GitRepo(self.repo)
        try:
            places: dict[str, list[str]] = {}
            for entry in git.files(git.tree_of(git.head())):
                loc = parse_location(entry.path)
                if loc:
                    places.setdefault(loc.task_id, []).append(entry.path)
        finally:
            git.close()
        assert all(len(p) == 1 for p in places.values()), places
        assert set(places) == set(self.expected)
        assert {t: r.loc.path for t, r in self.hub.view.tasks.items()} == {t: p[0] for t, p in places.items()}
        for task_id, state in self.expected.items():
            assert self.hub.view.get(task_id).loc.state.label == state

    @invariant()
    def the_newest_transition_in_git_matches_the_state(self):
        last = {}
        for entry in reversed(self.hub.git.log(limit=100000)):
            t = parse(entry.message)
            if t is not None:
                last[t.task_id] = t.to_state
        for task_id, state in self.expected.items():
            assert last.get(task_id) == state, (task_id, last.get(task_id), state)


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=40, stateful_step_count=20, deadline=None)
