"""The hub's secret folder, the one place a secret file may be named from, and reading a secret.

A name resolves (symlinks followed) inside the folder and is never one of the hub's own files
(the operator token, the token table, anything else in its runtime folder), so no setting can
make the hub read, and send on, a file it was not meant to.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from coordinator.repo.lock import RUNTIME_DIR
from coordinator.wire.errors import UsageError

SECRET_MAX = 4096
SECRETS_DIR = "secrets"   # the default folder: agentcom/secrets inside the bare repo
HUB_FILES = ("operator.token", "tokens.json")   # refused by name wherever they are (another hub's too)


def default_folder(repo: str | os.PathLike) -> Path:
    return Path(repo) / RUNTIME_DIR / SECRETS_DIR


def folder(given: str | None, repo: str | os.PathLike | None) -> Path:
    """The secret folder, resolved: `given`, else agentcom/secrets in `repo` (made, mode 0700, if missing)."""
    if given:
        path = Path(given).expanduser()
    elif repo is not None and (Path(repo) / RUNTIME_DIR).is_dir():
        path = default_folder(repo)
        path.mkdir(mode=0o700, exist_ok=True)
    else:
        raise UsageError("no secret folder: give --secret-dir DIR (or $AGENTCOM_GATEKEEPER_SECRET_DIR), or "
                         "--repo of the coordination repo, whose agentcom/secrets/ is the default")
    try:
        info = path.stat()
    except OSError as e:
        raise UsageError(f"the secret folder {path} cannot be used: {e.strerror}; "
                         f"make it: mkdir -m 700 {path}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"the secret folder {path} is not a directory")
    if info.st_mode & 0o022:
        raise UsageError(f"the secret folder {path} can be written by others (mode {info.st_mode & 0o777:o}), who "
                         f"could swap a secret for a link; run: chmod 700 {path}")
    return path.resolve()


def locate(name: str, secrets: Path, runtime: Path | None, what: str) -> str:
    """The real path of secret file `name` (relative names are inside `secrets`); refuses one that
    resolves outside the folder or to a file of the hub's own (`runtime`: its runtime folder)."""
    given = Path(name).expanduser()
    real = (given if given.is_absolute() else secrets / given).resolve()
    if not real.is_relative_to(secrets) or real == secrets:
        shown = "" if real == given else f" (it resolves to {real})"
        raise UsageError(f"the {what} file {name} is outside the hub's secret folder {secrets}{shown}; move it "
                         f"there (mode 0600) and name it relative to the folder, or name another folder "
                         "with --secret-dir")
    if real.name in HUB_FILES or (runtime is not None and real.parent == runtime.resolve()):
        raise UsageError(f"the {what} file {name} is one of the hub's own files ({real}); a secret of the hub "
                         f"is never sent anywhere: put the {what} in its own file in {secrets}")
    return str(real)


def read_secret(path: str, what: str) -> str:
    """A secret from a file only its owner can read; refuses anything looser, empty or too long."""
    p = Path(path).expanduser()
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise UsageError(f"cannot read the {what} from {p}: {e.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UsageError(f"the {what} file {p} is not a regular file")
        if mode & 0o077:
            raise UsageError(f"the {what} file {p} can be read by others (mode {mode & 0o777:o}); "
                             f"run: chmod 600 {p}")
        data = os.read(fd, SECRET_MAX + 1)
    finally:
        os.close(fd)
    text = data.decode(errors="replace").strip()
    if not text or len(data) > SECRET_MAX:
        raise UsageError(f"the {what} file {p} must hold one secret of 1-{SECRET_MAX} bytes")
    return text
