"""Properties of scope overlap, checked against the .gitignore matcher the gatekeeper uses."""
from __future__ import annotations

import warnings

import pathspec
from hypothesis import given
from hypothesis import strategies as st

from coordinator.core.scope import overlaps, witness

SEGMENTS = ("a", "b", "ab", "*", "?", "**", "a*", "*b", "?b", "a?")
PATH_SEGMENTS = ("a", "b", "ab", "ba", "x", "abb")


@st.composite
def patterns(draw, negations=False):
    parts = draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4))
    text = "/".join(parts)
    if draw(st.booleans()):
        text = "/" + text
    if draw(st.booleans()):
        text += "/"
    if negations and draw(st.integers(0, 4)) == 0:
        text = "!" + text
    if negations and draw(st.integers(0, 6)) == 0:
        text = text.replace("?", "[ab]", 1)
    return text


def scopes(negations=False):
    return st.lists(patterns(negations), min_size=1, max_size=3, unique=True).map(tuple)


paths = st.lists(st.sampled_from(PATH_SEGMENTS), min_size=1, max_size=5).map("/".join)


def matches(scope: tuple[str, ...], path: str) -> bool:
    """As git reads a scope: a pattern that matches a directory covers everything in it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the name is old; the rules are git's
        return pathspec.PathSpec.from_lines("gitwildmatch", scope).match_file(path)


def gatekeeper_matches(scope: tuple[str, ...], path: str) -> bool:
    """As the gatekeeper reads a scope (it can be narrower than git: `a/*` stops at one level)."""
    return pathspec.PathSpec.from_lines("gitignore", scope).match_file(path)


@given(scopes(), scopes())
def test_a_witness_is_a_path_both_scopes_really_match(a, b):
    found = witness(a, b)
    if found is not None:
        assert matches(a, found) and matches(b, found), found


@given(scopes(negations=True), scopes(negations=True), st.lists(paths, min_size=1, max_size=8))
def test_two_scopes_that_share_a_path_always_overlap(a, b, some):
    for path in some:
        for match in (matches, gatekeeper_matches):
            if match(a, path) and match(b, path):
                assert overlaps(a, b), path


@given(scopes(negations=True), scopes(negations=True))
def test_overlap_is_symmetric(a, b):
    assert overlaps(a, b) == overlaps(b, a)


@given(scopes())
def test_a_scope_overlaps_itself_and_everything_overlaps_a_scope_of_any_path(a):
    assert overlaps(a, a)
    assert overlaps(a, ("**",))


@given(scopes(negations=True))
def test_no_scope_collides_with_nothing(a):
    assert not overlaps(a, None) and not overlaps(None, a) and not overlaps(a, ())


def test_the_plain_cases():
    assert overlaps(("src/a/**",), ("src/a/b.py",))
    assert not overlaps(("src/a/*",), ("src/b/*",))
    assert overlaps(("src/login/",), ("src/login/views.py",))
    assert overlaps(("*.md",), ("/docs/",))           # *.md is at any depth
    assert not overlaps(("/README.md",), ("/docs/",))
    assert overlaps(("a/**/b",), ("a/x/y/*",))
    assert not overlaps(("src/*.py",), ("src/login/",))  # a directory login is no *.py
    assert overlaps(("src/*",), ("src/login/views.py",))  # src/login matches, and all it holds
    assert not overlaps(("# a comment",), ("**",))


def test_scopes_too_big_to_compare_in_bounded_work_count_as_overlapping():
    """The check runs in the scheduling pass: a hostile scope must not stall it."""
    import time
    a = tuple(f"{'?*' * 120}{n}/" + "/".join(["*a"] * 60) for n in range(100))
    b = tuple(f"{'*?' * 120}{n}z/" + "/".join(["a*"] * 60) for n in range(100))
    started = time.monotonic()
    assert witness(a, b) == "" and overlaps(a, b)
    assert time.monotonic() - started < 5
