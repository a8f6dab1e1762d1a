"""The push checks: a push to main is refused, file by file, if it breaks the rules (the
pre-receive hook); a push to refs/for/main is checked by the same rules, and may only add task
files (the proc-receive hook, which then has them queued).

The user's commits stay in their clone; they fix the files and push again.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pygit2

from coordinator.core import seal, trailers
from coordinator.core.config import CONFIG_FILE, Config, parse_applied
from coordinator.core.config import parse as parse_config
from coordinator.core.layout import State, is_submission_path, lane_of_submission, parse_location
from coordinator.core.receive import WHERE_TASKS_GO, Kind, judge, stray_tasks, unsafe_name, unsafe_path
from coordinator.core.task import Defaults, admit, held_by, id_taken, load
from coordinator.gatekeeper.rules import RULES_FILE
from coordinator.gatekeeper.rules import parse as parse_rules
from coordinator.repo.gitrepo import MAIN, GitRepo
from coordinator.wire.errors import ConfigError, InvalidTask, UsageError

log = logging.getLogger("agentcom.hook")
ZERO = "0" * 40
MAX_NAMED = 20  # offending commits or paths named per rule; the first ones are enough to fix
MAX_WAITING = 1000  # inbox files not yet taken in whose ids a push is checked against
FOR_PREFIX, FOR_MAIN = "refs/for/", "refs/for/main"
# what only the hub writes: a reader of `git log` (ours, or git's own %(trailers)) takes these as real
RECORDS = ((frozenset(k.casefold() for k in trailers.KEYS),
            "a task transition's trailers (" + ", ".join(trailers.KEYS) + ")"),
           (frozenset(k.casefold() for k in trailers.DECISION_KEYS),
            "a gatekeeper decision's trailers (" + ", ".join(trailers.DECISION_KEYS) + ")"),
           (frozenset([trailers.SEAL.casefold()]), f"a {trailers.SEAL} trailer"))
_HEX = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass
class Findings:
    """What the check has to say: problems refuse the push; notes are told and let it land."""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_push(git: GitRepo, updates: list[tuple[str, str, str]]) -> Findings:
    """Every reason to refuse (old, new, ref) updates, and notes for the pusher; no problems means
    the push may land. Refs other than main are not checked here (refs/for/ has its own hook)."""
    found = Findings()
    refs = {ref for _, _, ref in updates}
    if MAIN in refs and any(ref.startswith(FOR_PREFIX) for ref in refs):
        # refs/for/ is taken in while git waits, before it moves main: the two would wait on each other
        found.problems.append(f"push to main and to {FOR_MAIN} separately (two git push commands)")
    elif MAIN in refs and len(refs) > 1:
        # the hub holds its commits for an approved main until it lands; another ref git refuses
        # after this check (an --atomic push) would leave main unmoved and the hub waiting
        found.problems.append("push main on its own (git push origin main), and other branches separately")
    for old, new, ref in updates:
        if ref != MAIN:
            continue  # branches other than main (agents' work, PR heads) are not the queue
        if new == ZERO:
            found.problems.append("main cannot be deleted")
            continue
        try:
            _check_main(git, old, new, found)
        except (KeyError, ValueError):  # absent, or a name this repo's hash cannot be: not git's own word
            found.problems.append(f"main: {old[:12]}..{new[:12]} names no commits of this repo")
    return found


def _check_main(git: GitRepo, old: str, new: str, found: Findings) -> None:
    config = _config_at(git, new)  # the settings this push leaves, as the hub will apply them
    old_id, new_id = None if old == ZERO else git.repo[old].id, git.repo[new].id
    if old_id is not None and not git.repo.descendant_of(new_id, old_id):
        # git refuses it too (receive.denyNonFastForwards), but only after this check let it through
        found.problems.append("main's history cannot be rewritten: git pull --rebase and push again")
        return
    found.problems.extend(_forged_history(git, old_id, new_id))
    found.problems.extend(_unsafe_names(git, old_id, new_id))
    verdicts = judge(git.diff(old_id, new_id))
    found.notes.extend(stray_tasks(verdicts)[:MAX_NAMED])
    submitted, ids = 0, _Ids(git, old_id, config.limits.task_bytes)
    for v in verdicts:
        if v.kind is Kind.ILLEGAL:
            if not unsafe_path(v.path):  # those were named above, with their commit
                found.problems.append(v.reason)
        elif v.kind is Kind.SUBMIT:
            submitted += 1
            found.problems.extend(_check_task(git, v.path, v.new.oid, config, ids)[0])
        elif v.kind is Kind.CONFIG:
            try:
                (parse_rules if v.path == RULES_FILE else parse_config)(git.read(v.new.oid), v.path)
            except ConfigError as e:
                found.problems.append(str(e))
    if submitted > config.limits.push_files:
        found.problems.append(_too_many(submitted, config))


def check_for_main(git: GitRepo, new: str) -> tuple[Findings, list[tuple[str, dict]]]:
    """A push to refs/for/main: the task files its commits add since they left main, checked as
    a push to main checks them (against main as it is now), and their documents; any problem
    refuses them all. Only new task files may come this way."""
    found, files = Findings(), []
    try:
        target = git.repo.get(new) if new != ZERO else None
    except ValueError:  # pygit2's InvalidError: a name this repo's hash cannot be (sha256 in a sha1 repo)
        target = None
    if not isinstance(target, pygit2.Commit):
        found.problems.append(f"{FOR_MAIN} takes a commit; push one (git push origin HEAD:{FOR_MAIN})")
        return found, files
    main = git.head()
    base = git.merge_base(main, target.id) if main is not None else None
    if base is None:
        found.problems.append(f"commit {new[:10]} shares no history with main; clone the coordination "
                              "repo, commit your task files there, and push again")
        return found, files
    config = _config_at(git, str(main))
    found.problems.extend(_forged_history(git, main, target.id))
    found.problems.extend(_unsafe_names(git, main, target.id))
    verdicts = judge(git.diff(base, target.id))
    ids = _Ids(git, main, config.limits.task_bytes)
    for v in verdicts:
        if v.kind is Kind.SUBMIT:
            problems, doc = _check_task(git, v.path, v.new.oid, config, ids)
            found.problems.extend(problems)
            files.append((v.path, doc))
        elif v.kind is Kind.ILLEGAL:
            if not unsafe_path(v.path):
                found.problems.append(v.reason)
        else:
            what = "moves" if v.kind is Kind.MOVE else "adds" if v.old is None else \
                "deletes" if v.new is None else "changes"
            found.problems.append(f"{v.path}: {FOR_MAIN} takes only new task files, and this push {what} "
                                  f"it; push that to main (git push origin HEAD:main)")
    found.notes.extend(stray_tasks(verdicts)[:MAX_NAMED])
    if not verdicts:
        found.problems.append(f"the push adds no task file; a task goes in {WHERE_TASKS_GO}")
    if len(files) > config.limits.push_files:
        found.problems.append(_too_many(len(files), config))
    return found, files


def _too_many(count: int, config: Config) -> str:
    return (f"push adds {count} task files; the limit is {config.limits.push_files} "
            "(limits.push_files); push them in smaller groups")


def _unsafe_names(git: GitRepo, old, new) -> list[str]:
    return [f"commit {commit[:10]} adds {path!r}: {why}, which git refuses to check out "
            "(every fresh clone would fail); rename or remove it"
            for commit, path, why in git.added_names(old, new, unsafe_name, MAX_NAMED)]


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
    """The task ids a push must not reuse: those of the tasks in the tree it starts from, of the
    files there the hub has not taken in yet (read only when a pushed file names an id, which most
    do not), and those named earlier in the same push."""

    def __init__(self, git: GitRepo, old, limit: int):
        self.git, self.old, self.limit, self.taken, self.pushed = git, old, limit, None, {}

    def clash(self, task_id: str, path: str) -> str | None:
        if self.taken is None:
            self.taken = self._read()
        where = self.taken.get(task_id) or (f"{self.pushed[task_id]} in this push" if task_id in self.pushed else None)
        self.pushed.setdefault(task_id, path)
        return where

    def _read(self) -> dict[str, str]:
        tree = self.git.tree_of(self.old)
        taken = {loc.task_id: held_by(loc.state, e.path) for e in self.git.files(tree)
                 if (loc := parse_location(e.path)) is not None}
        # pushed earlier, not yet taken in: its id is as good as taken (the hub would refuse this
        # file at intake, after the push had been let through)
        for e in self.git.files(tree, State.INBOX.value)[:MAX_WAITING]:
            if not is_submission_path(e.path) or self.git.repo.odb.read_header(e.oid)[1] > self.limit:
                continue
            try:
                wanted = load(self.git.read(e.oid), e.path, self.limit).get("id")
            except InvalidTask:
                continue
            if isinstance(wanted, str):
                taken.setdefault(wanted, f"{e.path}, a task the hub has not taken in yet")
        return taken


def _check_task(git: GitRepo, path: str, oid, config: Config, ids: _Ids) -> tuple[list[str], dict | None]:
    """A pushed task file's problems (exactly what the hub's intake would refuse), and its document."""
    limit = config.limits.task_bytes
    size = git.repo.odb.read_header(oid)[1]
    doc = None
    try:
        if size > limit:
            raise InvalidTask(path, [f"file is {size} bytes; the limit is {limit}"])
        doc = load(git.read(oid), path, limit)
        # exactly what the hub's intake runs, down to the bytes it would store
        admit(doc, path, lane=lane_of_submission(path), now=datetime.now(UTC), task_id="check",
              defaults=Defaults(config.retry.max_retries, limit), source="push")
        other = ids.clash(doc["id"], path) if isinstance(doc.get("id"), str) else None
        if other:
            raise InvalidTask(path, [id_taken(doc["id"], other)])
    except InvalidTask as e:
        return [f"{path}: {p}" for p in e.problems], doc
    except Exception as e:  # one file's boundary: the pusher hears which file, never a traceback
        log.exception("could not check %s", path)
        return [f"{path}: the hub could not read this file ({type(e).__name__}); it is refused"], doc
    return [], doc


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


def parse_updates(lines: list[str]) -> list[tuple[str, str, str]]:
    """git's `old new ref` lines (blank ones skipped); UsageError on any other line."""
    updates = []
    for line in lines:
        parts = line.split()
        if len(parts) != 3 or not all(_HEX.fullmatch(p) for p in parts[:2]):
            if line.strip():
                raise UsageError(f"not a ref update line: {line[:100]!r}")
            continue
        updates.append((parts[0], parts[1], parts[2]))
    return updates


def verdict(git: GitRepo, lines: list[str]) -> tuple[int, list[str]]:
    """`old new ref` lines → (0, notes) to let the push land, or (1, what to tell the pusher)."""
    return told(check_push(git, parse_updates(lines)))


def told(found: Findings) -> tuple[int, list[str]]:
    """Findings as the hook's exit code and its lines (problems first, then notes)."""
    if not found.problems:
        return 0, found.notes
    shown = found.problems[:50] + ([f"... and {len(found.problems) - 50} more"] if len(found.problems) > 50 else [])
    return 1, ["push refused: fix these and push again (your commits are still in your clone):",
               *(f"  - {p}" for p in shown), *found.notes]
