"""Tokens as the hub stores them: hashes only, and a revocation made anywhere (another process,
a hand edit) seen by the running hub's table at its next check."""
from __future__ import annotations

import json
import os

from coordinator.auth import TokenStore, _hash
from coordinator.lock import atomic_write


def test_only_hashes_are_stored_and_a_revocation_by_another_writer_is_seen_at_the_next_check(repo):
    running, other = TokenStore(repo), TokenStore(repo)
    token = running.issue("agent", "ada")
    assert token not in running.path.read_text() and _hash(token) in running.path.read_text()
    assert running.check(token) == {"role": "agent", "name": "ada"}
    assert other.revoke("agent", "ada") == 1
    assert running.check(token) is None


def test_a_same_size_replacement_within_one_clock_tick_is_still_seen(repo):
    running = TokenStore(repo)
    old = running.issue("agent", "ada")
    assert running.check(old) is not None
    before = os.stat(running.path)
    # another writer swaps ada's token for one of the same length, and the file system's clock
    # has not moved: same size, same mtime, only a new file
    new = old[:-1] + ("A" if old[-1] != "A" else "B")
    table = {h: who for h, who in json.loads(running.path.read_text()).items() if who["name"] != "ada"}
    table[_hash(new)] = {"role": "agent", "name": "ada"}
    atomic_write(running.path, json.dumps(table, indent=1).encode(), mode=0o600)
    os.utime(running.path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(running.path).st_size == before.st_size
    assert running.check(old) is None and running.check(new) == {"role": "agent", "name": "ada"}
