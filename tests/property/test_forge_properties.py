"""Properties of the forge's pure parts: the local forge's request checks never crash and only
let through branch names git itself accepts; changed-file items always keep GitHub's shape."""
from __future__ import annotations

import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.core.prrecord import is_branch, request_problems
from coordinator.forge.changedfiles import github_item

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                     max_leaves=12)
_fields = st.fixed_dictionaries({}, optional={
    k: _json | st.text(max_size=60)
    for k in ("repo", "head", "base", "head_sha", "title", "body", "labels", "task", "x")})


@given(st.one_of(_json, _fields))
def test_any_request_gets_a_list_of_problems_and_never_a_crash(body):
    problems = request_problems(body)
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)


@settings(max_examples=60)
@given(st.text(alphabet="ab/._+-@{}~^:?*[\\ ", min_size=1, max_size=12).map(lambda s: "x" + s))
def test_a_branch_name_let_through_is_one_git_accepts(name):
    if is_branch(name):
        done = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, timeout=10)
        assert done.returncode == 0, name


@given(st.sampled_from("ADMRCT"), st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20),
       st.sampled_from([0o100644, 0o100755, 0o120000]), st.sampled_from([0o100644, 0o100755, 0o120000]),
       st.integers(0, 10**6), st.integers(0, 10**6), st.booleans(), st.none() | st.text(max_size=50))
def test_a_changed_file_always_has_githubs_item_shape(status, old, new, old_mode, new_mode, added, deleted, binary,
                                                      hunks):
    item = github_item(status, old, new, old_mode, new_mode, added, deleted, binary, hunks)
    assert item["status"] in ("added", "removed", "modified", "renamed", "copied", "changed", "unchanged")
    assert item["changes"] == item["additions"] + item["deletions"]
    assert ("previous_filename" in item) == (item["status"] in ("renamed", "copied"))
    assert not (binary and "patch" in item) and set(item) <= {"filename", "status", "additions", "deletions",
                                                             "changes", "patch", "previous_filename"}
