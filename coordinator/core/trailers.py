"""[pure] Commit messages for transitions: a readable subject and git trailers a program parses back.

    T-42: queued → assigned (ada)

    Task: T-42
    From: queued
    To: assigned
    Agent: ada
    Attempt: 1
    Reason: scheduled
    Agent-State: ada idle → assigned

`git log --format='%(trailers:key=Task,valueonly)'` answers questions without our code.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

KEYS = ("Task", "From", "To", "Agent", "Attempt", "Reason")
_LOOSE_KEY = re.compile(r"[ \t]*([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:")
MAX_VALUE = 500
NONE = "-"


@dataclass(frozen=True)
class Transition:
    task_id: str
    from_state: str
    to_state: str
    agent: str | None
    attempt: int
    reason: str


def _clean(value: object) -> str:
    text = " ".join(str(value).split())
    return (text[: MAX_VALUE - 3] + "...") if len(text) > MAX_VALUE else (text or NONE)


def trailer_value(value: object) -> str:
    """Any value as one trailer line: whitespace collapsed, at most 500 characters, '-' if empty."""
    return _clean(value)


def message(t: Transition, agents: tuple[tuple[str, str, str], ...] = ()) -> str:
    """The commit message for one transition; `agents` are (name, from, to) agent state changes
    made by the same commit, written as Agent-State trailers."""
    agent = f" ({t.agent})" if t.agent else ""
    subject = _clean(f"{t.task_id}: {t.from_state} → {t.to_state}{agent}")
    trailers = dict(zip(KEYS, (t.task_id, t.from_state, t.to_state, t.agent or NONE, t.attempt, t.reason)))
    return subject + "\n\n" + "".join(f"{k}: {_clean(v)}\n" for k, v in trailers.items()) + \
        "".join(f"Agent-State: {_clean(f'{n} {a} → {b}')}\n" for n, a, b in agents)


def agent_message(name: str, from_state: str, to_state: str, reason: str) -> str:
    """The commit message for an agent's own change (registered, online, offline, blocked)."""
    return (f"{_clean(f'agent {name}: {from_state} → {to_state}')}\n\nAgent: {_clean(name)}\n"
            f"Agent-State: {_clean(f'{name} {from_state} → {to_state}')}\nReason: {_clean(reason)}\n")


def event_message(subject: str, reason: str) -> str:
    """A commit that is not a task transition (init, a repair): subject plus a Reason trailer."""
    return f"{_clean(subject)}\n\nReason: {_clean(reason)}\n"


def parse(text: str) -> Transition | None:
    """The Transition in a commit message, or None if it carries no complete set of trailers."""
    found = {}
    for line in text.rstrip("\n").split("\n\n")[-1].splitlines():
        key, sep, value = line.partition(": ")
        if sep and key in KEYS:
            found[key] = value.strip()
    if set(found) != set(KEYS) or not found["Attempt"].isdigit():
        return None
    agent = None if found["Agent"] == NONE else found["Agent"]
    return Transition(found["Task"], found["From"], found["To"], agent, int(found["Attempt"]),
                      found["Reason"])


def loose_keys(text: str) -> set[str]:
    """Every trailer-like key in `text`, in any paragraph, case folded, as lenient readers (git's
    own `%(trailers)` among them) would take it: "task : T-1" counts as Task."""
    return {m.group(1).casefold() for line in text.splitlines() if (m := _LOOSE_KEY.match(line))}
