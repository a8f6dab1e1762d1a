"""[pure] Whether two tasks' scopes could touch the same file: some path matches a pattern of each.

A scope is a list of .gitignore-style patterns (docs/task-format.md). Each pattern becomes a list
of segments, where MANY stands for any number of path segments; two lists overlap when a walk
through both can reach their ends together. The answer errs towards overlap, never away from it:
a `!` pattern is not subtracted, a `[...]` class counts as any one character, and two scopes too
big to compare within WORK steps (only a hostile file writes such) count as overlapping.
"""
from __future__ import annotations

from collections import deque
from functools import lru_cache

MANY = "**"          # a segment that stands for zero or more path segments
_STAR, _ONE = 0, 1   # in a segment: any run of characters; any one character
_FILLER = "x"        # the character a witness uses where any would do
WORK = 200_000       # steps one comparison of two scopes may take: it runs in the scheduling pass


class _Exhausted(Exception):
    pass


def overlaps(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> bool:
    """True when some path could match a pattern of scope `a` and one of scope `b`.
    A missing or empty scope overlaps nothing."""
    return witness(a, b) is not None


@lru_cache(maxsize=65536)
def witness(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> str | None:
    """A path that a pattern of each scope matches, or None when there is none; "" when the
    comparison ran out of WORK steps (then they count as overlapping)."""
    if not a or not b:
        return None
    budget = [WORK]
    try:
        for p in compile_scope(a):
            for q in compile_scope(b):
                if _apart(p, q):
                    continue
                found = _paths_meet(p, q, budget)
                if found is not None:
                    return found
    except _Exhausted:
        return ""
    return None


def _apart(p: tuple, q: tuple) -> bool:
    """A quick no: at the same place before any MANY, two plain names that differ (src/a, src/b)."""
    for a, b in zip(p, q, strict=False):
        if a is MANY or b is MANY or not (_plain(a) and _plain(b)):
            return False
        if a != b:
            return True
    return False


def _plain(segment: tuple) -> bool:
    return all(isinstance(t, str) for t in segment)


def _spend(budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise _Exhausted


@lru_cache(maxsize=16384)
def compile_scope(scope: tuple[str, ...]) -> tuple[tuple, ...]:
    """The positive patterns of a scope, each as a tuple of segments (MANY, or a tuple of tokens)."""
    return tuple(c for c in (_compile(p) for p in scope) if c is not None)


def _compile(pattern: str) -> tuple | None:
    text = pattern.rstrip(" ")  # unescaped trailing spaces are not part of a .gitignore pattern
    if text.endswith("\\") and len(pattern) > len(text):
        text += " "
    if not text or text.startswith("#") or text.startswith("!"):
        return None  # a comment, or a negation: leaving it out can only widen the scope
    directory = text.endswith("/")
    text = text.rstrip("/")
    if not text:
        return None
    anchored = "/" in text  # a slash at the start or in the middle anchors at the root
    parts = [p for p in text.strip("/").split("/") if p] if anchored else [text]
    segments: list = [] if anchored else [MANY]
    for part in parts:
        if part == "**":
            if not segments or segments[-1] is not MANY:
                segments.append(MANY)
        else:
            segments.append(_tokens(part))
    if segments[-1] is MANY:
        segments[-1] = (_STAR,)  # a trailing /** needs something inside: one segment at least
    if directory:
        segments.append((_STAR,))  # a directory: only what lies inside it
    segments.append(MANY)  # a matched directory brings everything under it
    return tuple(segments)


def _tokens(part: str) -> tuple:
    out: list = []
    i = 0
    while i < len(part):
        c = part[i]
        if c == "\\" and i + 1 < len(part):
            out.append(part[i + 1])
            i += 2
            continue
        if c == "*":
            if not out or out[-1] != _STAR:
                out.append(_STAR)
        elif c == "?":
            out.append(_ONE)
        elif c == "[" and "]" in part[i + 2:]:
            out.append(_ONE)
            i = part.index("]", i + 2)
        else:
            out.append(c)
        i += 1
    return tuple(out)


def _paths_meet(p: tuple, q: tuple, budget: list[int]) -> str | None:
    """A path both segment lists match: a search over pairs of positions, one from each."""
    start, end = (0, 0), (len(p), len(q))
    back: dict[tuple[int, int], tuple | None] = {start: None}
    todo = deque([start])
    while todo:
        _spend(budget)
        state = todo.popleft()
        if state == end:
            return _path_to(back, state)
        i, j = state
        steps = []
        if i < len(p) and p[i] is MANY:
            steps.append(((i + 1, j), None))
            if j < len(q) and q[j] is not MANY:
                seg = _segments_meet(q[j], (_STAR,), budget)
                if seg is not None:
                    steps.append(((i, j + 1), seg))
        if j < len(q) and q[j] is MANY:
            steps.append(((i, j + 1), None))
            if i < len(p) and p[i] is not MANY:
                seg = _segments_meet(p[i], (_STAR,), budget)
                if seg is not None:
                    steps.append(((i + 1, j), seg))
        if i < len(p) and j < len(q) and p[i] is not MANY and q[j] is not MANY:
            seg = _segments_meet(p[i], q[j], budget)
            if seg is not None:
                steps.append(((i + 1, j + 1), seg))
        for nxt, seg in steps:
            if nxt not in back:
                back[nxt] = (state, seg)
                todo.append(nxt)
    return None


def _path_to(back: dict, state) -> str:
    segments = []
    while back[state] is not None:
        state, seg = back[state]
        if seg is not None:
            segments.append(seg)
    # no segment taken: both lists are all MANY, so any path matches both
    return "/".join(reversed(segments)) or _FILLER


def _segments_meet(a: tuple, b: tuple, budget: list[int]) -> str | None:
    """A non-empty segment both token lists match, or None."""
    start, end = (0, 0, False), (len(a), len(b), True)
    back: dict[tuple, tuple | None] = {start: None}
    todo = deque([start])
    while todo:
        _spend(budget)
        state = todo.popleft()
        if state == end:
            text = []
            while back[state] is not None:
                state, c = back[state]
                if c:
                    text.append(c)
            return "".join(reversed(text))
        i, j, some = state
        steps = []
        if i < len(a) and a[i] == _STAR:
            steps.append(((i + 1, j, some), ""))
        if j < len(b) and b[j] == _STAR:
            steps.append(((i, j + 1, some), ""))
        if i < len(a) and j < len(b):
            c = _common(a[i], b[j])
            if c is not None:
                ni = i if a[i] == _STAR else i + 1
                nj = j if b[j] == _STAR else j + 1
                steps.append(((ni, nj, True), c))
        for nxt, c in steps:
            if nxt not in back:
                back[nxt] = (state, c)
                todo.append(nxt)
    return None


def _common(x, y) -> str | None:
    """One character both tokens take, or None."""
    if isinstance(x, str) and isinstance(y, str):
        return x if x == y else None
    if isinstance(x, str):
        return x
    if isinstance(y, str):
        return y
    return _FILLER
