"""The pre-receive check: a push to main is refused, file by file, if it breaks the rules.

The user's commits stay in their clone; they fix the files and push again.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from .config import CONFIG_FILE, Config, parse as parse_config, parse_applied
from .errors import ConfigError, InvalidTask, UsageError
from .gatekeeper.rules import RULES_FILE, parse as parse_rules
from .gitrepo import MAIN, GitRepo
from .layout import lane_of_submission
from .receive import Kind, judge
from .task import Defaults, intake, load

ZERO = "0" * 40
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
        for forged in git.foreign_commits_claiming_to_be_coordinator(old_id, new_id)[:5]:
            problems.append(f"commit {forged[:10]} names the coordinator as its committer; "
                            "only the hub commits as the coordinator")
        changes = git.diff(old_id, new_id)
        submitted = 0
        for v in judge(changes):
            if v.kind is Kind.ILLEGAL:
                problems.append(v.reason)
            elif v.kind is Kind.SUBMIT:
                submitted += 1
                problems.extend(_check_task(git, v.path, v.new.oid, config))
            elif v.kind is Kind.CONFIG:
                try:
                    (parse_rules if v.path == RULES_FILE else parse_config)(git.read(v.new.oid), v.path)
                except ConfigError as e:
                    problems.append(str(e))
        if submitted > config.limits.push_files:
            problems.append(f"push adds {submitted} task files; the limit is {config.limits.push_files} "
                            "(limits.push_files); push them in smaller groups")
    return problems


def _check_task(git: GitRepo, path: str, oid, config: Config) -> list[str]:
    limit = config.limits.task_bytes
    size = git.repo.odb.read_header(oid)[1]
    try:
        if size > limit:
            raise InvalidTask(path, [f"file is {size} bytes; the limit is {limit}"])
        doc = load(git.read(oid), path, limit)
        intake(doc, path, lane=lane_of_submission(path), now=datetime.now(timezone.utc),
               task_id="check", defaults=Defaults(), source="push")
    except InvalidTask as e:
        return [f"{path}: {p}" for p in e.problems]
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
