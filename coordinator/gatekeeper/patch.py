"""[pure] The lines a GitHub `patch` adds and removes: unified diff hunks without file headers."""
from __future__ import annotations

import re
from dataclasses import dataclass

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
MAX_PATCH = 1 << 20


@dataclass(frozen=True)
class Line:
    number: int   # in the new file for an added line, in the old file for a removed one
    text: str


@dataclass(frozen=True)
class Hunks:
    added: tuple[Line, ...]
    removed: tuple[Line, ...]
    problem: str | None = None  # set when the patch could not be read: judge it unsure


def parse(patch: str) -> Hunks:
    """Every added and removed line with its number; a patch we cannot read says why."""
    if len(patch) > MAX_PATCH:
        return Hunks((), (), f"the diff is {len(patch)} characters; more than {MAX_PATCH} is not scanned")
    added, removed, old, new, in_hunk = [], [], 0, 0, False
    for text in patch.split("\n"):
        if text.startswith("@@"):
            m = _HUNK.match(text)
            if not m:
                return Hunks((), (), "a hunk header could not be read")
            old, new, in_hunk = int(m.group(1)), int(m.group(3)), True
        elif not in_hunk:
            if text.strip():
                return Hunks((), (), "text before the first hunk")
        elif text.startswith("+"):
            added.append(Line(new, text[1:]))
            new += 1
        elif text.startswith("-"):
            removed.append(Line(old, text[1:]))
            old += 1
        elif text.startswith("\\"):
            continue  # "\ No newline at end of file"
        else:
            old, new = old + 1, new + 1
    return Hunks(tuple(added), tuple(removed))
