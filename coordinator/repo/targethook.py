"""A local target's protection: the pre-receive hook (hooks/target-pre-receive.py) that keeps its
base branch for the hub's merges, installed, refreshed and inspected, with the one setting it reads
(`agentcom.base`) in the target's own git config. The hook is only as strong as the target's file
permissions (docs/git-workflow.md, "Setting up a local target")."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pygit2

from coordinator.repo import branches
from coordinator.repo.gitrepo import GitRepo
from coordinator.wire.errors import AgentcomError, NotARepo

PROJECT = Path(__file__).resolve().parents[2]
SOURCE = PROJECT / "hooks" / "target-pre-receive.py"
MARKER = b"# agentcom target hook"     # the line that makes a pre-receive ours, to refresh
BASE_KEY = "agentcom.base"
CHAINED = "pre-receive.local"           # where a repo's own pre-receive goes; ours runs it after


class TargetNotProtected(AgentcomError):
    """A target repo could not be protected as asked; `why` says what to do."""

    def __init__(self, path: Path, why: str):
        self.path, self.why = path, why
        super().__init__(f"{path}: {why}")


@dataclass(frozen=True)
class Protection:
    """What a target's protection is: its base branch, whether the hook guards it, why not."""
    path: str
    base: str | None
    protected: bool
    problems: tuple[str, ...] = ()
    changed: bool = False     # protect() wrote the hook or the setting

    def to_dict(self) -> dict:
        return {"path": self.path, "base": self.base, "protected": self.protected,
                "problems": list(self.problems), "changed": self.changed}


def hook_text(python: str = sys.executable) -> bytes:
    """The hook as installed: our script with its first line naming `python`, isolated (-I) and
    without site packages (-S), so nothing of the pusher's environment chooses its modules."""
    if not python or any(c.isspace() for c in python) or len(python) > 200:
        raise AgentcomError(f"the hook's first line cannot name the Python at {python!r} (no spaces, at most "
                            "200 characters): run agentcom from a Python installed at a plain path")
    body = SOURCE.read_bytes().split(b"\n", 1)[1]
    return f"#!{python} -IS\n".encode() + body


def protect(path: str | os.PathLike, base: str | None = None) -> Protection:
    """Install (or refresh) the hook in the bare target `path`, guarding `base` (default: the
    branch its HEAD names); a pre-receive that is not ours is never replaced."""
    path = Path(path).expanduser().absolute()
    with _open(path) as git:
        base = base or branches.default_branch(git)
        _check_protectable(git, path, base)
        hook = path / "hooks" / "pre-receive"
        if hook.is_symlink() or (hook.exists() and MARKER not in _head(hook)):
            raise TargetNotProtected(path, f"hooks/pre-receive is not AgentCom's and is left as it is; to keep it "
                                           f"and protect {base}, move it to hooks/{CHAINED} (it then runs after "
                                           "ours) and run this again")
        changed = _setting(git, BASE_KEY) != base
        git.ensure_config({BASE_KEY: base})     # the setting first, so the hook never runs without it
        data = hook_text()
        if not (hook.is_file() and hook.read_bytes() == data and os.access(hook, os.X_OK)):
            hook.parent.mkdir(exist_ok=True)
            part = hook.with_name(f".pre-receive.{os.getpid()}.new")
            part.write_bytes(data)
            part.chmod(0o755)
            os.replace(part, hook)   # a push running meanwhile runs the old hook or the new one
            changed = True
    return Protection(str(path), base, True, changed=changed)


def inspect(path: str | os.PathLike) -> Protection:
    """Whether the bare target `path` is protected, and each reason it is not."""
    path = Path(path).expanduser().absolute()
    with _open(path) as git:
        base, hooks_path = _setting(git, BASE_KEY), _setting(git, "core.hooksPath")
        found = []
        if hooks_path:
            found.append(f"core.hooksPath is set ({hooks_path}): git runs the hooks there, not ours")
        if base is None:
            found.append(f"no base branch is set ({BASE_KEY})")
        elif git.resolve(f"refs/heads/{base}") is None:
            found.append(f"its base branch {base} does not exist")
        found.extend(_hook_problems(path / "hooks" / "pre-receive"))
    if found:
        found.append(f"`agentcom target protect {path}` protects it")
    return Protection(str(path), base, not found, tuple(found))


def _hook_problems(hook: Path) -> list[str]:
    if hook.is_symlink():   # protect() never writes one, and its file may be anyone's to change
        return ["its pre-receive hook is a symlink, not AgentCom's copy"]
    if not hook.is_file():
        return ["it has no pre-receive hook"]
    if MARKER not in _head(hook):
        return ["its pre-receive hook is not AgentCom's"]
    if not os.access(hook, os.X_OK):
        return ["its pre-receive hook is not executable"]
    python = _head(hook).split(b"\n", 1)[0].removeprefix(b"#!").split(b" ", 1)[0].decode("utf-8", "replace")
    if not os.access(python, os.X_OK):
        return [f"the Python its hook runs ({python}) is gone"]
    if hook.read_bytes().split(b"\n", 1)[1:] != hook_text().split(b"\n", 1)[1:]:
        return ["its hook is an older copy of ours"]
    return []


def _check_protectable(git: GitRepo, path: Path, base: str | None) -> None:
    if base is None:
        raise TargetNotProtected(path, "its HEAD names no branch; give the base branch with --base BRANCH")
    if not pygit2.reference_is_valid_name(f"refs/heads/{base}"):
        raise TargetNotProtected(path, f"{base!r} is not a branch name git accepts; give --base BRANCH")
    if git.resolve(f"refs/heads/{base}") is None:
        raise TargetNotProtected(path, f"it has no branch {base}; push its first commit to {base} (or give the "
                                       "right --base), then protect it: the hook refuses creating it too")
    hooks_path = _setting(git, "core.hooksPath")
    if hooks_path:
        raise TargetNotProtected(path, f"core.hooksPath is set ({hooks_path}), so git would not run a hook in "
                                       f"hooks/; unset it: git --git-dir {path} config --unset core.hooksPath")


def _setting(git: GitRepo, key: str) -> str | None:
    """A key of the config git reads for this repo (its own, the user's, the system's), or None."""
    return git.repo.config[key] if key in git.repo.config else None


def _head(hook: Path) -> bytes:
    with open(hook, "rb") as f:
        return f.read(512)


@contextmanager
def _open(path: Path) -> Iterator[GitRepo]:
    """The bare repo at `path`, or TargetNotProtected saying what it is instead."""
    try:
        git = GitRepo(path)
    except (NotARepo, *branches.UNREADABLE):
        raise TargetNotProtected(path, "is not a git repo; give the path of the target's bare repo "
                                       "(the one agents push to)") from None
    try:
        if not git.repo.is_bare:
            raise TargetNotProtected(path, "is a clone with a working tree; protect the bare repo its clones push to")
        yield git
    finally:
        git.close()
