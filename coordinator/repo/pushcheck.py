"""The pre-receive check: a push to main is refused, file by file, if it breaks the rules.

The user's commits stay in their clone; they fix the files and push again.
"""
from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

from coordinator.core import seal, trailers
from coordinator.core.config import CONFIG_FILE, Config, parse_applied
from coordinator.core.config import parse as parse_config
from coordinator.core.layout import lane_of_submission, parse_location
from coordinator.core.receive import Kind, judge, unsafe_name, unsafe_path
from coordinator.core.task import Defaults, admit, load
from coordinator.gatekeeper.rules import RULES_FILE
from coordinator.gatekeeper.rules import parse as parse_rules
from coordinator.repo.gitrepo import MAIN, GitRepo
from coordinator.wire.errors import ConfigError, InvalidTask, UsageError

log = logging.getLogger("agentcom.hook")
ZERO = "0" * 40
MAX_NAMED = 20  # offending commits or paths named per rule; the first ones are enough to fix
# what only the hub writes: a reader of `git log` (ours, or git's own %(trailers)) takes these as real
RECORDS = ((frozenset(k.casefold() for k in trailers.KEYS),
            "a task transition's trailers (" + ", ".join(trailers.KEYS) + ")"),
           (frozenset(k.casefold() for k in trailers.DECISION_KEYS),
            "a gatekeeper decision's trailers (" + ", ".join(trailers.DECISION_KEYS) + ")"),
           (frozenset([trailers.SEAL.casefold()]), f"a {trailers.SEAL} trailer"))
_HEX = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def check_push(git: GitRepo, updates: list[tuple[str, str, str]]) -> list[str]:
    """Every reason to refuse (old, new, ref) updates; [] means the push may land."""
    problems = []
    for old, new, ref in updates:
        if ref != MAIN:
            continue  # branches other than main (agents' work, PR heads) are not the queue
        if new == ZERO:
            problems.append("main cannot be deleted")
            continue
        config = _config_at(git, new)  # the settings this push leaves, as the hub will apply them
        old_id, new_id = None if old == ZERO else git.repo[old].id, git.repo[new].id
        problems.extend(_forged_history(git, old_id, new_id))
        problems.extend(f"commit {commit[:10]} adds {path!r}: {why}, which git refuses to check out "
                        "(every fresh clone would fail); rename or remove it"
                        for commit, path, why in git.added_names(old_id, new_id, unsafe_name, MAX_NAMED))
        changes = git.diff(old_id, new_id)
        submitted, ids = 0, _Ids(git, old_id)
        for v in judge(changes):
            if v.kind is Kind.ILLEGAL:
                if not unsafe_path(v.path):  # those were named above, with their commit
                    problems.append(v.reason)
            elif v.kind is Kind.SUBMIT:
                submitted += 1
                problems.extend(_check_task(git, v.path, v.new.oid, config, ids))
            elif v.kind is Kind.CONFIG:
                try:
                    (parse_rules if v.path == RULES_FILE else parse_config)(git.read(v.new.oid), v.path)
                except ConfigError as e:
                    problems.append(str(e))
        if submitted > config.limits.push_files:
            problems.append(f"push adds {submitted} task files; the limit is {config.limits.push_files} "
                            "(limits.push_files); push them in smaller groups")
    return problems


def _forged_history(git: GitRepo, old, new) -> list[str]:
    """Commits that would pass for the hub's own: its name as author or committer, or the
    trailers of its records in the message."""
    problems = []
    for c in git.pushed_commits(old, new):
        for role, (name, email) in (("author", c.author), ("committer", c.committer)):
            if seal.claims_coordinator(name, email):
                problems.append(f"commit {c.commit[:10]} names the coordinator as its {role} "
                                f"({name} <{email}>); only the hub commits as the coordinator: "
                                "commit under your own name (git commit --amend --reset-author)")
        keys = trailers.loose_keys(c.message)
        for wanted, what in RECORDS:
            if wanted <= keys:
                problems.append(f"commit {c.commit[:10]} carries {what} in its message; only the hub "
                                "writes them: reword it (git commit --amend, or git rebase -i) without them")
        if len(problems) >= MAX_NAMED:
            break
    return problems[:MAX_NAMED]


class _Ids:
    """The task ids a push must not reuse: those in the tree it starts from (read only when a
    pushed file names an id, which most do not) and those named earlier in the same push."""

    def __init__(self, git: GitRepo, old):
        self.git, self.old, self.taken, self.pushed = git, old, None, {}

    def clash(self, task_id: str, path: str) -> str | None:
        if self.taken is None:
            tree = self.git.tree_of(self.old)
            self.taken = {loc.task_id: e.path for e in self.git.files(tree)
                          if (loc := parse_location(e.path)) is not None}
        where = self.taken.get(task_id) or self.pushed.get(task_id)
        self.pushed.setdefault(task_id, path)
        return where


def _check_task(git: GitRepo, path: str, oid, config: Config, ids: _Ids) -> list[str]:
    limit = config.limits.task_bytes
    size = git.repo.odb.read_header(oid)[1]
    try:
        if size > limit:
            raise InvalidTask(path, [f"file is {size} bytes; the limit is {limit}"])
        doc = load(git.read(oid), path, limit)
        # exactly what the hub's intake runs, down to the bytes it would store
        admit(doc, path, lane=lane_of_submission(path), now=datetime.now(UTC), task_id="check",
              defaults=Defaults(config.retry.max_retries, limit), source="push")
        other = ids.clash(doc["id"], path) if isinstance(doc.get("id"), str) else None
        if other:
            raise InvalidTask(path, [f"id '{doc['id']}' is already used by {other}; pick another id or leave it out"])
    except InvalidTask as e:
        return [f"{path}: {p}" for p in e.problems]
    except Exception as e:  # one file's boundary: the pusher hears which file, never a traceback
        log.exception("could not check %s", path)
        return [f"{path}: the hub could not read this file ({type(e).__name__}); it is refused"]
    return []


def _config_at(git: GitRepo, commit: str) -> Config:
    if commit == ZERO:
        return Config()
    entry = git.get(git.repo[commit].tree, CONFIG_FILE)
    try:
        return parse_applied(git.read(entry.oid))[0] if entry else Config()  # as the hub applies it
    except ConfigError:
        return Config()


def pre_receive(lines: list[str]) -> tuple[int, list[str]]:
    """Run as the hook: stdin lines in, (exit code, messages for the pusher) out."""
    git = GitRepo(None, from_env=True)
    try:
        return verdict(git, lines)
    finally:
        git.close()


def check_quarantined(repo_path: str, lines: list[str], objects: str | None) -> tuple[int, list[str]]:
    """The hub's side of the fast hook: check a push whose objects are still in git's quarantine
    directory `objects` (which must be inside the repo's own objects directory)."""
    git = GitRepo(repo_path)
    try:
        if objects:
            where = Path(objects).resolve()
            if not (where.is_dir() and where.is_relative_to((git.path / "objects").resolve())):
                raise UsageError("objects must be a directory inside the repo's objects directory")
            git.repo.odb.add_disk_alternate(str(where))
        return verdict(git, lines)
    finally:
        git.close()


def verdict(git: GitRepo, lines: list[str]) -> tuple[int, list[str]]:
    """`old new ref` lines → (0, []) to let the push land, or (1, what to tell the pusher)."""
    updates = []
    for line in lines:
        parts = line.split()
        if len(parts) != 3 or not all(_HEX.fullmatch(p) for p in parts[:2]):
            if line.strip():
                raise UsageError(f"not a ref update line: {line[:100]!r}")
            continue
        updates.append(tuple(parts))
    problems = check_push(git, updates)
    if not problems:
        return 0, []
    shown = problems[:50] + ([f"... and {len(problems) - 50} more"] if len(problems) > 50 else [])
    return 1, ["push refused: fix these and push again (your commits are still in your clone):",
               *(f"  - {p}" for p in shown)]
