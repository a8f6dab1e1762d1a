"""[pure] The one rule for task ids and agent names: each is a file name on every system, so
1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, never holding '..',
and never a Windows device name (CON, con.txt, LPT1). queue-repo-template/schema/task.schema.json
restates it as JSON Schema; a test keeps the two in agreement.
"""
from __future__ import annotations

import re

from coordinator.wire.errors import UsageError

MAX_LENGTH = 64
PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
NAME_RE = re.compile(PATTERN)
# names Windows keeps for devices, with or without an extension (CON, con.txt, LPT1)
RESERVED_RE = re.compile(r"(?i)(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?")
RULE = "letters, digits, . _ -; at most 64"


def problem(name: object) -> str | None:
    """Why `name` cannot be a task id or agent name, or None if it can."""
    if not isinstance(name, str) or NAME_RE.fullmatch(name) is None:
        return (f"{str(name)[:70]!r} is not a name: 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit")
    if ".." in name:
        return f"{name!r} holds '..'"
    if RESERVED_RE.fullmatch(name):
        return f"{name!r} is a device name on Windows (CON, PRN, AUX, NUL, COM1, LPT1...); pick another"
    return None


def is_name(name: object) -> bool:
    return problem(name) is None


def refusal(value: str, what: str) -> str:
    """The short refusal for a command line or a request: `what` is "a task id" or "an agent name"."""
    return f"'{value[:80]}' is not {what} ({RULE})"


def require(value: str, what: str) -> str:
    """`value` if it is a name; UsageError with `refusal` if not."""
    if not is_name(value):
        raise UsageError(refusal(value, what))
    return value
