"""Tokens: made once, shown once, stored only as SHA-256 hashes, checked in constant time.

Roles: `operator` may change anything; `agent` tokens (for sidecars) act only as their agent.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from contextlib import contextmanager
from pathlib import Path

import filelock

from coordinator.repo.lock import runtime_dir
from coordinator.wire.atomic import write_bytes

TOKENS_FILE = "tokens.json"
CHANGE_TIMEOUT = 10.0   # seconds to wait for another writer of the table
OPERATOR_TOKEN_FILE = "operator.token"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """The hub's token table: {hash: {role, name}} in agentcom/tokens.json (mode 0600)."""

    def __init__(self, repo_path: str | os.PathLike):
        self.path = runtime_dir(repo_path) / TOKENS_FILE
        self._stamp = None
        self._table = self._read()
        self._threads = threading.Lock()
        self._processes = filelock.UnixFileLock(str(self.path.with_name(TOKENS_FILE + ".flock")),
                                                timeout=CHANGE_TIMEOUT)

    def _read(self) -> dict:
        """The table as on disk (re-read when the file changed, so a revocation takes at once)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        # the inode too: every write replaces the file, and two writes of the same size within
        # one tick of the file system's clock would otherwise look unchanged (a revocation missed)
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._table = json.loads(self.path.read_text())
            self._stamp = stamp
        return self._table

    @contextmanager
    def _changing(self):
        """Read, change and write the table as one step: request threads and other processes
        (a one-shot CLI) change it too, and a change made between our read and our write would
        be lost (a revoked token brought back)."""
        with self._threads, self._processes:
            table = dict(self._read())
            yield table
            if table != self._table:
                write_bytes(self.path, json.dumps(table, indent=1).encode(), mode=0o600)
                self._table = table

    def issue(self, role: str, name: str, *, replace: bool = False) -> str:
        """A new token for (role, name); only its hash is kept. `replace` revokes the others in
        the same step, so no moment exists with both or neither."""
        token = f"acm_{role[:2]}_{secrets.token_urlsafe(32)}"
        with self._changing() as table:
            if replace:
                for h in [h for h, who in table.items() if (who["role"], who["name"]) == (role, name)]:
                    del table[h]
            table[_hash(token)] = {"role": role, "name": name}
        return token

    def revoke(self, role: str, name: str) -> int:
        """Drop every token of (role, name); the next request that uses one is refused."""
        with self._changing() as table:
            gone = [h for h, who in table.items() if (who["role"], who["name"]) == (role, name)]
            for h in gone:
                del table[h]
        return len(gone)

    def holds(self, role: str, name: str) -> bool:
        return any((who["role"], who["name"]) == (role, name) for who in self._read().values())

    def agent_key(self, name: str) -> str | None:
        """The stored hash of the agent's newest token: the key its notifications are signed with
        (protocol.notify_key), so the hub keeps no secret beyond what it stores already."""
        keys = [h for h, who in self._read().items() if (who["role"], who["name"]) == ("agent", name)]
        return keys[-1] if keys else None

    def check(self, token: str | None) -> dict | None:
        """{role, name} for a valid token, else None; compares every stored hash in constant time."""
        if not token:
            return None
        wanted, found = _hash(token), None
        for stored, who in self._read().items():
            if hmac.compare_digest(stored, wanted):
                found = who
        return found


def ensure_operator_token(repo_path: str | os.PathLike) -> Path:
    """Make the local operator token on first use; the file (0600) is the operator's credential."""
    path = runtime_dir(repo_path) / OPERATOR_TOKEN_FILE
    if not path.exists():
        token = TokenStore(repo_path).issue("operator", "local operator")
        write_bytes(path, (token + "\n").encode(), mode=0o600)
    return path


def read_operator_token(repo_path: str | os.PathLike) -> str | None:
    path = Path(repo_path) / "agentcom" / OPERATOR_TOKEN_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
