"""`agentcom init`: a new coordination repo (bare, served by the hub) from queue-repo-template/."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pygit2

from coordinator.core.trailers import event_message
from coordinator.repo.gitrepo import BLOB, GitRepo
from coordinator.repo.historykey import ensure as ensure_history_key
from coordinator.repo.lock import runtime_dir
from coordinator.repo.tokens import ensure_operator_token
from coordinator.wire.errors import UsageError

PROJECT = Path(__file__).resolve().parents[2]
TEMPLATE = PROJECT / "queue-repo-template"
HOOKS = ("pre-receive", "pre-receive.py", "proc-receive", "proc-receive.py", "hubcall.py", "post-receive")
FOR_REFS = "refs/for"  # refs/for/main: git hands a push there to the proc-receive hook
# git's object checks that must refuse, not warn: names no checkout accepts ("..", ".git" in any
# spelling), and .gitmodules that git cannot read
FSCK_ERRORS = ("hasDot", "hasDotdot", "hasDotgit", "emptyName", "fullPathname", "gitmodulesParse")


RUNTIME_MARK = "agentcom/repo.version"


def is_coordination_repo(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / RUNTIME_MARK).is_file()


def init_repo(path: str | os.PathLike) -> tuple[Path, bool]:
    """Create the repo at `path`, or adopt/repair one (a mirror of a coordination repo moved
    here, or an existing one whose hooks and settings need refreshing); returns (path, created)."""
    path = Path(path).expanduser().resolve()
    if (path / "HEAD").is_file():
        git = GitRepo(path)
        try:
            if git.get(git.tree_of(git.head()), "schema/task.schema.json") is None:
                raise UsageError(f"{path} is a git repo but not a coordination repo "
                                 "(no schema/task.schema.json on main)")
        finally:
            git.close()
        install_hooks(path)
        _finish(path)
        return path, False
    if path.exists() and any(path.iterdir()):
        raise UsageError(f"{path} exists and is not empty; pick a new directory")
    git = GitRepo.init_bare(path)
    try:
        install_hooks(path)
        ensure_history_key(path, None)  # before the first commit, so every commit is sealed
        edits = {}
        for file in sorted(TEMPLATE.rglob("*")):
            if file.is_file():
                edits[file.relative_to(TEMPLATE).as_posix()] = (git.write_blob(file.read_bytes()), BLOB)
        tree = git.edit_tree(None, edits)
        commit = git.commit(tree, None, event_message("Create the coordination repo",
                                                      "agentcom init from queue-repo-template"))
        git.advance(commit, None)
    finally:
        git.close()
    _finish(path)
    return path, True


def _finish(path: Path) -> None:
    runtime_dir(path)
    ensure_operator_token(path)
    git = GitRepo(path)
    try:
        ensure_history_key(path, str(git.head()) if git.head() else None)  # an adopted repo's past stays trusted
    finally:
        git.close()
    (path / RUNTIME_MARK).write_text("1\n")


def install_hooks(path: Path) -> None:
    """Copy hooks/ into the repo, point them at this checkout, and set git's push safety."""
    git = GitRepo(path)
    try:
        refresh_hooks(git)
    finally:
        git.close()


def refresh_hooks(git: GitRepo) -> None:
    """Today's hooks in the repo, pointed at this checkout (its agentcom.py and Python), and git's
    push settings: run by init and at every hub start, so a repo made by an older version gets what
    it lacks. Only what differs is written; a hook is written beside and renamed into place, so a
    push running meanwhile runs the old hook or the new one, never half of one."""
    set_push_safety(git)
    config = pygit2.Config(str(git.path / "config"))
    for key, value in (("agentcom.cli", str(PROJECT / "agentcom.py")), ("agentcom.python", sys.executable)):
        if key not in config or config[key] != value:
            config[key] = value
    if FOR_REFS not in list(config.get_multivar("receive.procReceiveRefs")):
        config.set_multivar("receive.procReceiveRefs", "^refs/for$", FOR_REFS)
    for name in HOOKS:
        target, data = git.path / "hooks" / name, (PROJECT / "hooks" / name).read_bytes()
        if target.is_file() and target.read_bytes() == data and os.access(target, os.X_OK):
            continue
        target.parent.mkdir(exist_ok=True)
        part = target.with_name(f".{name}.{os.getpid()}.new")
        part.write_bytes(data)
        part.chmod(0o755)
        os.replace(part, target)


def set_push_safety(git: GitRepo) -> None:
    """Git's own checks on what arrives: no history rewritten or deleted, and every object a push
    or a fetch brings checked (fsck) before any ref moves. Run by init and at every hub start,
    so a repo made before a check existed gets it; a value already right is not written again."""
    wanted = {"receive.denyNonFastForwards": "true", "receive.denyDeletes": "true",
              **{f"{kind}.fsckObjects": "true" for kind in ("transfer", "receive", "fetch")},
              **{f"{kind}.fsck.{msg}": "error" for kind in ("receive", "fetch") for msg in FSCK_ERRORS}}
    git.ensure_config(wanted)
