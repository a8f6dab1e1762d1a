"""Files written whole or not at all: a temp file beside the target, fsynced, renamed over it,
and the directory fsynced, so a crash leaves the old file or the new one, never half.

Standard library only and quick to import: the sidecar's run wrapper and the agent's report
command load it as plain scripts (`python -E -s -S`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path


def write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """`data` as the whole of `path`, created with `mode` (less the umask). A crash may leave a
    hidden .tmp file beside it; a reader never sees a half-written `path`."""
    path = Path(path)
    tmp = _written(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


def create(path: Path, data: bytes, mode: int = 0o600) -> bool:
    """Like `write_bytes`, but never replaces a file already at `path`: returns whether this call
    made it (two racing callers: exactly one does, and both then read the same file)."""
    path = Path(path)
    tmp = _written(path, data, mode)
    try:
        os.link(tmp, path)  # unlike a rename, fails if the name is taken
        made = True
    except FileExistsError:
        made = False
    finally:
        tmp.unlink()
    _sync_dir(path.parent)
    return made


def _written(path: Path, data: bytes, mode: int) -> Path:
    """A temp file beside `path` holding `data`, on disk (fsynced)."""
    # unique per writer, so two processes writing the same file never share a temp file
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _sync_dir(folder: Path) -> None:
    """The rename made durable: fsync the directory that holds the new name."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # a directory we may not open (rare); the file itself is already on disk
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory
    finally:
        os.close(fd)


def write_json(path: Path, data: dict, mode: int = 0o600) -> None:
    """`data` as indented JSON (UTF-8, not escaped), written atomically."""
    write_bytes(path, json.dumps(data, indent=1, ensure_ascii=False).encode(), mode)


def read_json(path: Path) -> dict | None:
    """The object in `path`, or None if it is missing; ValueError if it is not a JSON object."""
    try:
        data = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"{Path(path).name} holds {type(data).__name__}, not a JSON object")
    return data
