"""[pure] Every commit trailer the coordinator writes or reads: the key names, the generic helpers
that format and parse a trailer block, and the messages for task and agent transitions.

    T-42: queued → assigned (ada)

    Task: T-42
    From: queued
    To: assigned
    Agent: ada
    Attempt: 1
    Reason: scheduled
    Agent-State: ada idle → assigned

A run of an attempt after the first (the sidecar re-ran it) adds `Run: N`, on its own record
(`working → working`) and on the move that ends the attempt.

`git log --format='%(trailers:key=Task,valueonly)'` answers questions without our code. The
gatekeeper's decision record (gatekeeper/record.py), the local forge's merge commit and the hub's
seal (seal.py) take their keys and their trailer lines from here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

KEYS = ("Task", "From", "To", "Agent", "Attempt", "Reason")  # a task transition
AGENT_STATE = "Agent-State"
RUN = "Run"       # which run of the attempt, when it is not the first
REASON = "Reason"
MERGED_BY = "Merged-By"
REVIEWED_HEAD = "Reviewed-Head"
HUMAN = "Human"   # what a human did about a pull request through the hub (gatekeeper/record.py)
DECISION_KEYS = ("Task", "Repo", "Pull", "Head", "Action", "Score", "Rules", "Agent", MERGED_BY)  # gatekeeper/record.py
SEAL = "Hub-Seal"
_LOOSE_KEY = re.compile(r"[ \t]*([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:")
_STRICT_LINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*:( |$)")
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
    run: int = 1


def _clean(value: object) -> str:
    text = " ".join(str(value).split())
    return (text[: MAX_VALUE - 3] + "...") if len(text) > MAX_VALUE else (text or NONE)


def trailer_value(value: object) -> str:
    """Any value as one trailer line: whitespace collapsed, at most 500 characters, '-' if empty."""
    return _clean(value)


def lines(pairs) -> str:
    """(key, value) pairs as trailer lines, each value made one line by `trailer_value`."""
    return "".join(f"{k}: {_clean(v)}\n" for k, v in pairs)


def read(text: str, keys) -> dict[str, str]:
    """The trailers named in `keys` in the last paragraph of `text` (a later one wins)."""
    found = {}
    for line in text.rstrip("\n").split("\n\n")[-1].splitlines():
        key, sep, value = line.partition(": ")
        if sep and key in keys:
            found[key] = value.strip()
    return found


def ends_in_trailers(body: str) -> bool:
    """Whether the last paragraph of `body` (not its only one) is all trailer lines."""
    last = body.rstrip("\n").split("\n\n")[-1].splitlines()
    return "\n\n" in body.rstrip("\n") and bool(last) and all(_STRICT_LINE.match(line) for line in last)


def merge_message(subject: str, by: str) -> str:
    """A merge commit's message in a local forge's repo: the subject and who merged it, as given."""
    return f"{subject}\n\n{MERGED_BY}: {by}\n"


def squash_message(title: str, number: int, task_id: str | None, agent: str | None, head_sha: str,
                   by: str) -> tuple[str, str]:
    """A pull request's merge commit as (subject, body): the title and number, then trailers that
    tie the commit to its task, its agent, the head that was reviewed and who merged it."""
    subject = _clean(f"{title} (#{int(number)})")
    body = lines((("Task", task_id or NONE), ("Agent", agent or NONE), (REVIEWED_HEAD, head_sha), (MERGED_BY, by)))
    return subject, body


def message(t: Transition, agents: tuple[tuple[str, str, str], ...] = ()) -> str:
    """The commit message for one transition; `agents` are (name, from, to) agent state changes
    made by the same commit, written as Agent-State trailers."""
    agent = f" ({t.agent})" if t.agent else ""
    subject = _clean(f"{t.task_id}: {t.from_state} → {t.to_state}{agent}")
    trailers = dict(zip(KEYS, (t.task_id, t.from_state, t.to_state, t.agent or NONE, t.attempt, t.reason), strict=True))
    if t.run > 1:
        trailers[RUN] = t.run
    return subject + "\n\n" + lines(trailers.items()) + lines((AGENT_STATE, f"{n} {a} → {b}") for n, a, b in agents)


def agent_message(name: str, from_state: str, to_state: str, reason: str) -> str:
    """The commit message for an agent's own change (registered, online, offline, blocked)."""
    return _clean(f"agent {name}: {from_state} → {to_state}") + "\n\n" + lines(
        (("Agent", name), (AGENT_STATE, f"{name} {from_state} → {to_state}"), (REASON, reason)))


def event_message(subject: str, reason: str) -> str:
    """A commit that is not a task transition (init, a repair): subject plus a Reason trailer."""
    return _clean(subject) + "\n\n" + lines([(REASON, reason)])


def parse(text: str) -> Transition | None:
    """The Transition in a commit message, or None if it carries no complete set of trailers."""
    found = read(text, (*KEYS, RUN))
    if not set(KEYS) <= set(found) or not found["Attempt"].isdigit():
        return None
    agent = None if found["Agent"] == NONE else found["Agent"]
    run = found.get(RUN, "1")
    run_number = int(run) if run.isascii() and run.isdigit() and len(run) <= 6 else 1
    return Transition(found["Task"], found["From"], found["To"], agent, int(found["Attempt"]),
                      found["Reason"], max(1, run_number))


def loose_keys(text: str) -> set[str]:
    """Every trailer-like key in `text`, in any paragraph, case folded, as lenient readers (git's
    own `%(trailers)` among them) would take it: "task : T-1" counts as Task."""
    return {m.group(1).casefold() for line in text.splitlines() if (m := _LOOSE_KEY.match(line))}
