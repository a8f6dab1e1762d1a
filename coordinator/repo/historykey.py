"""The history key: the secret the hub seals its commits with (seal.py), kept in the repo's
runtime folder beside the operator token (`agentcom/history.key`, mode 0600, never in git).

The file also names `anchor`: main as it was when the key was made. Commits from before the key
existed carry no seal; they are trusted by the coordinator's name only if they are ancestors of
the anchor, which no later push can add to.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from coordinator.repo.lock import runtime_dir
from coordinator.wire.atomic import create
from coordinator.wire.errors import AgentcomError

KEY_FILE = "history.key"


@dataclass(frozen=True)
class HistoryKey:
    key: bytes
    anchor: str | None   # main when the key was made; None for a repo that had no commit yet


def load(repo_path: str | os.PathLike) -> HistoryKey | None:
    """The repo's history key, or None if it has none yet."""
    path = Path(repo_path) / "agentcom" / KEY_FILE
    try:
        doc = json.loads(path.read_text())
        return HistoryKey(bytes.fromhex(doc["key"]), doc["anchor"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AgentcomError(f"{path} is unreadable ({e}); restore it from the backup of the repo's "
                            "agentcom/ folder (docs/operations.md, the history key)") from None


def ensure(repo_path: str | os.PathLike, head: str | None) -> tuple[HistoryKey, bool]:
    """The repo's history key, made now (anchored at `head`, main as the caller just read it) if
    it has none; returns (key, made). Never replaces a key: two processes racing to make one
    both end up with whichever landed first."""
    found = load(repo_path)
    if found is not None:
        return found, False
    folder = runtime_dir(repo_path)
    doc = {"key": secrets.token_hex(32), "anchor": head}
    made = create(folder / KEY_FILE, (json.dumps(doc) + "\n").encode(), mode=0o600)
    return load(repo_path), made
