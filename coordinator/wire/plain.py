"""[pure] Plain data: the one value model every stored document (task, report, record) obeys,
whatever channel it came from, so that whatever is accepted can also be written and served.

Plain means what both JSON and safe YAML hold the same way: mappings with text keys, lists,
text, whole numbers, finite decimals, true/false and null; nested at most MAX_DEPTH deep;
numbers within 64 bits; text that is valid Unicode and holds no NUL.
"""
from __future__ import annotations

import math

MAX_DEPTH = 32                 # the document itself is depth 1
MAX_INT = 2**63 - 1
MAX_PROBLEMS = 8

_YAML_ONLY = {bytes: "binary data (!!binary)", set: "a set (!!set)", tuple: "ordered pairs (!!omap or !!pairs)",
              frozenset: "a set (!!set)"}


def plain_problems(doc: object, *, max_depth: int = MAX_DEPTH) -> list[str]:
    """Each place where `doc` is not plain data, named by its path (metadata.a.0); [] if plain.

    Iterative, so a document nested past any bound is refused without deep recursion."""
    found: list[str] = []
    stack: list[tuple[object, str, int]] = [(doc, "", 1)]
    while stack and len(found) < MAX_PROBLEMS:
        value, path, depth = stack.pop()
        where = path or "task"
        if isinstance(value, (dict, list)) and depth > max_depth:
            found.append(f"{where}: nested more than {max_depth} levels deep; flatten it")
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    found.append(f"{where}: key {_show(key)} is not text; keys must be text")
                    continue
                problem = _text_problem(key)
                if problem:
                    found.append(f"{where}: a key {problem}")
                    continue
                stack.append((item, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}.{n}" if path else str(n), depth + 1) for n, item in enumerate(value))
        elif isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                found.append(f"{where}: text {problem}")
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int):
            if not -MAX_INT <= value <= MAX_INT:
                found.append(f"{where}: the number is out of range (at most {len(str(MAX_INT))} digits, "
                             f"±{MAX_INT})")
        elif isinstance(value, float):
            if not math.isfinite(value):
                found.append(f"{where}: {value} is not a number JSON can hold; use a finite number or text")
        else:
            kind = _YAML_ONLY.get(type(value), f"a {type(value).__name__} value")
            found.append(f"{where}: {kind} is not plain data; use text, numbers, true/false, lists and mappings")
    return found


def _text_problem(text: str) -> str | None:
    if "\0" in text:
        return "holds a NUL character (\\0); remove it"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return f"is not valid Unicode (a lone surrogate at character {e.start}); send UTF-8 text"
    return None


def _show(key: object) -> str:
    text = repr(key)
    return text if len(text) <= 40 else text[:37] + "..."
