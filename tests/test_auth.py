"""Tokens as the hub stores them: hashes only, and a revocation made anywhere (another process,
a hand edit) seen by the running hub's table at its next check."""
from __future__ import annotations

import json
import os

from coordinator.repo.tokens import TokenStore, _hash
from coordinator.wire.atomic import write_bytes


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
    write_bytes(running.path, json.dumps(table, indent=1).encode(), mode=0o600)
    os.utime(running.path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(running.path).st_size == before.st_size
    assert running.check(old) is None and running.check(new) == {"role": "agent", "name": "ada"}


def test_concurrent_changes_never_bring_a_revoked_token_back_or_fail(repo):
    """Request threads and other processes change the table at once: each change is read,
    made and written as one step, so none is lost."""
    import threading

    hub, cli = TokenStore(repo), TokenStore(repo)   # two tables on one file, as two processes have
    for round_ in range(20):
        doomed = hub.issue("agent", f"doomed{round_}")
        errors, made = [], []
        start = threading.Barrier(5)

        def revoke(start=start, round_=round_):
            start.wait()
            hub.revoke("agent", f"doomed{round_}")

        def issue(store, n, start=start, made=made, errors=errors, round_=round_):
            start.wait()
            try:
                made.append(store.issue("agent", f"other{round_}-{n}"))
            except Exception as e:  # noqa: BLE001 - the test reports any failure
                errors.append(e)

        threads = [threading.Thread(target=revoke)] + [
            threading.Thread(target=issue, args=(store, n)) for n, store in enumerate((hub, cli, hub, cli))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors
        fresh = TokenStore(repo)
        assert fresh.check(doomed) is None, f"round {round_}: a revoked token works again"
        assert all(fresh.check(token) for token in made), f"round {round_}: an issued token was lost"


def test_a_rotation_replaces_the_old_token_in_one_step(repo):
    store = TokenStore(repo)
    old = store.issue("agent", "ada")
    new = store.issue("agent", "ada", replace=True)
    assert store.check(old) is None and store.check(new) == {"role": "agent", "name": "ada"}
    assert store.agent_key("ada") == _hash(new)
