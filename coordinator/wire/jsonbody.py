"""[pure] The one reader of JSON request bodies, for the hub's API, its GitHub webhook and the
sidecar's /notify: bytes in, a dict out or a BadJson that says what is wrong.

Python's json takes more than a hostile sender should get: nesting deep enough to raise
RecursionError, a repeated key (the last one silently wins), NaN and Infinity, lone surrogates
that fail later when the text is written, and integers long enough to be slow or refused with a
ValueError. Each of those is refused here, before anything else looks at the body.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from coordinator.wire.errors import UsageError

MAX_DEPTH = 32        # objects and arrays inside each other; our own bodies need 4
MAX_INT_DIGITS = 20   # a 64-bit integer has at most 20 digits
MAX_FLOAT_CHARS = 40  # the longest float literal taken ("0.1" spelt with every digit is 19)
MAX_STRING = 131072   # characters in one string; above every field's own bound, so its message wins

_SURROGATE = re.compile("[\ud800-\udfff]")


class BadJson(UsageError):
    """A request body that is not a JSON object we accept; `problem` names what is wrong."""

    def __init__(self, problem: str):
        self.problem = problem
        super().__init__(f"the request body is refused: {problem}")


@dataclass(frozen=True)
class Limits:
    depth: int = MAX_DEPTH
    int_digits: int = MAX_INT_DIGITS
    string: int | None = MAX_STRING  # None: bounded by the body's size alone


def read_object(data: bytes, limits: Limits = Limits()) -> dict:
    """The JSON object in `data` (UTF-8); BadJson for anything else or anything past `limits`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadJson(f"it is not UTF-8 (byte {e.start})") from None
    if text.startswith("\ufeff"):
        raise BadJson("it starts with a byte order mark; send plain UTF-8")
    try:
        doc = json.loads(text, object_pairs_hook=_object, parse_constant=_constant,
                         parse_int=lambda s: _integer(s, limits.int_digits), parse_float=_float)
    except json.JSONDecodeError as e:
        raise BadJson(f"it is not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:  # the C scanner stops near 1,000 levels; deeper ones end here
        raise BadJson(f"it nests deeper than {limits.depth} levels") from None
    if not isinstance(doc, dict):
        raise BadJson(f"it must be a JSON object, not {_kind(doc)}")
    _check_tree(doc, limits)
    return doc


def _object(pairs: list) -> dict:
    doc = dict(pairs)
    if len(doc) < len(pairs):
        seen: set = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise BadJson(f"key '{_show(repeated)}' appears twice in one object")
    return doc


def _constant(name: str):
    raise BadJson(f"{name} is not a JSON number")


def _integer(literal: str, bound: int) -> int:
    if len(literal.lstrip("-")) > bound:
        raise BadJson(f"an integer has more than {bound} digits")
    return int(literal)


def _float(literal: str) -> float:
    value = float(literal) if len(literal) <= MAX_FLOAT_CHARS else math.inf
    if not math.isfinite(value):
        raise BadJson(f"the number {literal[:40]} is too large or too long")
    return value


def _check_tree(doc: dict, limits: Limits) -> None:
    """Walked without recursion: nesting at most `limits.depth`; every key and string value
    without a lone surrogate (not Unicode) and at most `limits.string` characters."""
    bound = limits.string
    stack = [(doc, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limits.depth:
                raise BadJson(f"it nests deeper than {limits.depth} levels")
            inner = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((x, depth + 1) for x in inner)
        elif isinstance(item, str):
            if _SURROGATE.search(item):
                raise BadJson("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not Unicode")
            if bound is not None and len(item) > bound:
                raise BadJson(f"a string is longer than {bound} characters")


def _kind(doc) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(doc), "a number")


def _show(key: str) -> str:
    return _SURROGATE.sub("?", key[:60])
