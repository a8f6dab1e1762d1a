"""Tokens: made once, shown once, stored only as SHA-256 hashes, checked in constant time.

Roles: `operator` may change anything; `agent` tokens (for sidecars) act only as their agent.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from .lock import atomic_write, runtime_dir

TOKENS_FILE = "tokens.json"
OPERATOR_TOKEN_FILE = "operator.token"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """The hub's token table: {hash: {role, name}} in agentcom/tokens.json (mode 0600)."""

    def __init__(self, repo_path: str | os.PathLike):
        self.path = runtime_dir(repo_path) / TOKENS_FILE
        self._stamp = None
        self._table = self._read()

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

    def issue(self, role: str, name: str) -> str:
        """A new token for (role, name); only its hash is kept."""
        token = f"acm_{role[:2]}_{secrets.token_urlsafe(32)}"
        self._table = self._read()
        self._table[_hash(token)] = {"role": role, "name": name}
        atomic_write(self.path, json.dumps(self._table, indent=1).encode(), mode=0o600)
        return token

    def revoke(self, role: str, name: str) -> int:
        """Drop every token of (role, name); the next request that uses one is refused."""
        self._table = self._read()
        keep = {h: who for h, who in self._table.items() if (who["role"], who["name"]) != (role, name)}
        gone = len(self._table) - len(keep)
        if gone:
            atomic_write(self.path, json.dumps(keep, indent=1).encode(), mode=0o600)
            self._table = keep
        return gone

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
        atomic_write(path, (token + "\n").encode(), mode=0o600)
    return path


def read_operator_token(repo_path: str | os.PathLike) -> str | None:
    path = Path(repo_path) / "agentcom" / OPERATOR_TOKEN_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
