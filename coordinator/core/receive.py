"""[pure] What a push to main proposes, path by path: the rules both the pre-receive hook and
the coordinator's intake apply, so a refused push and a repaired one give the same reason.

Users and agents may only: add task files to inbox/ or a lane, move a queued task to another
lane (re-prioritise), move a dead or cancelled task back into a lane (retry), and edit files
outside the state directories. Everything else under a state directory, agents/, prs/ and
reviews/, belongs to the coordinator. No path anywhere may hold a name git will not check out
(`..`, `.git` in any spelling): one such entry makes every fresh clone fail.
"""
from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from enum import Enum

from coordinator.core.agent import AGENTS_DIR
from coordinator.core.layout import (
    LANES,
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    MODE_TREE,
    STATE_DIRS,
    SUBMISSION_SUFFIXES,
    Change,
    Entry,
    State,
    is_submission_path,
    parse_location,
    state_of,
)
from coordinator.core.prrecord import PRS_DIR
from coordinator.core.reviewrecord import REVIEWS_DIR

CONFIG_PATHS = ("agentcom.yaml", "gatekeeper.yaml")  # each must still parse after a push
WHERE_TASKS_GO = f"inbox/NAME.yaml or queue/LANE/NAME.yaml (lanes: {', '.join(LANES)})"
# the top-level names the coordinator owns, by their case-folded spelling
_OURS = {name.casefold(): name for name in (*STATE_DIRS, AGENTS_DIR, PRS_DIR, REVIEWS_DIR, *CONFIG_PATHS)}


class Kind(str, Enum):
    SUBMIT = "submit"      # a new task file in inbox/ or a lane
    MOVE = "move"          # a known task moved by a human: retry or re-prioritise
    CONFIG = "config"      # agentcom.yaml or gatekeeper.yaml changed: must still parse
    FREE = "free"          # outside the state directories: nothing to check
    ILLEGAL = "illegal"    # anything else: refused by the hook, repaired by the coordinator


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    path: str
    old: Entry | None = None
    new: Entry | None = None
    task_id: str | None = None
    reason: str = ""


ALLOWED_MOVES = {
    (State.QUEUED, State.QUEUED): "re-prioritised",
    (State.DEAD, State.QUEUED): "retried",
    (State.CANCELLED, State.QUEUED): "retried",
}


# code points HFS+ ignores in names, so ".g\u200cit" is ".git" there (git's is_hfs_dotgit)
_IGNORED = frozenset("\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                     "\u206a\u206b\u206c\u206d\u206e\u206f\ufeff")


def unsafe_name(name: str) -> str | None:
    """Why git refuses to check out a tree entry with this name, or None if it is fine."""
    if name in ("", ".", ".."):
        return f"the name {name!r} is not a file name"
    if "/" in name or "\0" in name:
        return f"the name {name!r} holds a '/' or NUL"
    folded = "".join(c for c in name if c not in _IGNORED).casefold()
    # NTFS drops trailing dots and spaces and reads "name:stream" as name; GIT~1 is its short name
    if folded.split(":", 1)[0].rstrip(". ") in (".git", "git~1"):
        return f"the name {name!r} is git's own directory .git in another spelling"
    return None


def unsafe_path(path: str) -> str | None:
    """Why a path holds a name git refuses to check out, or None."""
    for part in path.split("/"):
        why = unsafe_name(part)
        if why:
            return f"{path!r}: {why}; git refuses to check it out, so every fresh clone would fail"
    return None


def judge(changes: list[Change]) -> list[Verdict]:
    """One verdict per changed path (a move becomes one verdict for its new path)."""
    unsafe = [c for c in changes if unsafe_path(c.path)]
    changes = [c for c in changes if not unsafe_path(c.path)]
    # a path with such a name is refused wherever it is (removing one is welcome)
    verdicts = [Verdict(Kind.ILLEGAL, c.path, old=c.old, new=c.new, reason=unsafe_path(c.path))
                for c in unsafe if c.new]
    deleted = {}
    for c in changes:
        loc = parse_location(c.path) if c.old and not c.new else None
        if loc:
            deleted[loc.task_id] = (c, loc)
    moved = set()
    for c in changes:
        if c.new and not c.old and is_submission_path(c.path):
            verdict = _judge_added(c, deleted)
            if verdict.kind is Kind.MOVE:
                moved.add(verdict.task_id)
            verdicts.append(verdict)
    for c in changes:
        if c.new and not c.old and is_submission_path(c.path):
            continue
        loc = parse_location(c.path)
        if loc and c.old and not c.new and loc.task_id in moved:
            continue
        verdicts.append(_judge_other(c))
    return verdicts


def _judge_added(c: Change, deleted: dict) -> Verdict:
    if c.new.mode not in (MODE_FILE, MODE_EXEC):
        return Verdict(Kind.ILLEGAL, c.path, new=c.new, reason=f"{c.path} is a {_what(c.new.mode)}; "
                       "commit the task file itself")
    new_loc = parse_location(c.path)
    if new_loc and new_loc.task_id in deleted:
        old_change, old_loc = deleted[new_loc.task_id]
        why = ALLOWED_MOVES.get((old_loc.state, new_loc.state))
        if why is None:
            return Verdict(Kind.ILLEGAL, c.path, new=c.new, task_id=new_loc.task_id,
                           reason=f"moving {old_change.path} to {c.path} is not allowed; "
                           f"only dead or cancelled tasks go back to a lane (retry), "
                           "and queued tasks between lanes")
        if old_change.old.oid != c.new.oid:
            return Verdict(Kind.ILLEGAL, c.path, new=c.new, task_id=new_loc.task_id,
                           reason=f"{c.path} was edited while being moved; move it with `git mv` "
                           "and nothing else, or submit a new task")
        return Verdict(Kind.MOVE, c.path, old=old_change.old, new=c.new, task_id=new_loc.task_id,
                       reason=why)
    return Verdict(Kind.SUBMIT, c.path, new=c.new)


def _judge_other(c: Change) -> Verdict:
    state = state_of(c.path)
    twin = _case_twin(c) if state is None else None
    if twin is not None:
        return twin
    if state is None:
        if c.path.startswith(AGENTS_DIR + "/"):
            return Verdict(Kind.ILLEGAL, c.path, old=c.old, new=c.new,
                           reason=f"{c.path}: agents/ is written by the coordinator only "
                           "(use `agentcom agent register|remove`)")
        if c.path in (AGENTS_DIR, PRS_DIR):  # a file there would stand where the coordinator needs a directory
            return Verdict(Kind.ILLEGAL, c.path, old=c.old, new=c.new,
                           reason=f"{c.path}: the coordinator keeps a directory {c.path}/ here; "
                           "name the file something else")
        if c.path.startswith(PRS_DIR + "/"):
            return Verdict(Kind.ILLEGAL, c.path, old=c.old, new=c.new,
                           reason=f"{c.path}: prs/ is written by the coordinator only "
                           "(open pull requests with `agentcom git submit` or POST /api/prs)")
        if c.path.startswith(REVIEWS_DIR + "/"):
            return Verdict(Kind.ILLEGAL, c.path, old=c.old, new=c.new,
                           reason=f"{c.path}: reviews/ is written by the coordinator only "
                           "(it holds the gatekeeper's decisions; see docs/gatekeeper.md)")
        if c.path in CONFIG_PATHS:
            if c.new is None:
                return Verdict(Kind.ILLEGAL, c.path, old=c.old, reason=f"{c.path} cannot be deleted")
            return Verdict(Kind.CONFIG, c.path, old=c.old, new=c.new)
        return Verdict(Kind.FREE, c.path, old=c.old, new=c.new)
    if c.new and not c.old and state in (State.INBOX, State.QUEUED):
        return Verdict(Kind.ILLEGAL, c.path, new=c.new,
                       reason=f"{c.path}: tasks go in {WHERE_TASKS_GO}{_lane_hint(c.path)}")
    action = "adds" if not c.old else "deletes" if not c.new else "changes"
    return Verdict(Kind.ILLEGAL, c.path, old=c.old, new=c.new,
                   reason=f"push {action} {c.path}; {state.value}/ is written by the coordinator only "
                   "(use `agentcom retry|cancel`, or add a new task to inbox/)")


def _case_twin(c: Change) -> Verdict | None:
    """A new path whose first name is one of the coordinator's in another case (Inbox/, QUEUE/):
    macOS and Windows take the two for one name, so a checkout there would mix them up."""
    head = c.path.split("/", 1)[0]
    ours = _OURS.get(head.casefold())
    if c.new is None or c.old is not None or ours is None or ours == head:
        return None
    fix = f"tasks go in {WHERE_TASKS_GO}" if ours in (State.INBOX.value, State.QUEUED.value) \
        else "name it something else"
    return Verdict(Kind.ILLEGAL, c.path, new=c.new,
                   reason=f"{c.path}: '{head}' is the coordinator's '{ours}' in another case, and macOS and "
                   f"Windows take the two for one name; {fix}")


def _lane_hint(path: str) -> str:
    parts = path.split("/")
    if parts[0] != State.QUEUED.value or len(parts) != 3 or parts[1] in LANES:
        return ""
    near = get_close_matches(parts[1].casefold(), LANES, n=1, cutoff=0.6)
    return f"; '{parts[1]}' is not a lane" + (f" (did you mean '{near[0]}'?)" if near else "")


def stray_tasks(verdicts: list[Verdict]) -> list[str]:
    """A note for each YAML file added where the hub looks for no task (inbx/x.yaml, tasks/x.yml):
    such a file lands and is left alone, which a pusher who meant it as a task should hear."""
    notes = []
    for v in verdicts:
        if v.kind is not Kind.FREE or v.old is not None or v.new is None or v.path in CONFIG_PATHS \
                or not v.path.endswith(SUBMISSION_SUFFIXES):
            continue
        near = get_close_matches(v.path.split("/", 1)[0].casefold(), (State.INBOX.value, State.QUEUED.value),
                                 n=1, cutoff=0.6) if "/" in v.path else []
        hint = f" (did you mean {near[0]}/?)" if near else ""
        notes.append(f"note: {v.path} is not where tasks go, so the hub leaves it alone{hint}; "
                     f"a task goes in {WHERE_TASKS_GO}")
    return notes


def _what(mode: int) -> str:
    return {MODE_LINK: "symlink", MODE_TREE: "directory", 0o160000: "submodule"}.get(mode, f"mode {mode:o}")
