"""Small JSON files written atomically (temp file, fsync, rename), read back leniently.

Standard library only: the run wrapper and the agent's report command import it as a script.
"""
from __future__ import annotations

import json
import os
from pathlib import Path


def write_json(path: Path, data: dict, mode: int = 0o600) -> None:
    """Readers see the old file or the new one, never half; a crash leaves at most a .tmp file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, json.dumps(data, indent=1, ensure_ascii=False).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    """The object in `path`, or None if it is missing; ValueError if it is not a JSON object."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} holds {type(data).__name__}, not a JSON object")
    return data
