"""The hub's side of the gatekeeper's records: reads `reviews/` (from any thread), and writes
one decision per commit in a batch of the hub's loop (single writer), with the trailers of
`gatekeeper.record` so `agentcom log TASK` and `git log --grep 'Task: T-1'` show it. A decision
unchanged for the same head makes no commit."""
from __future__ import annotations

import threading

from coordinator.core.reviewrecord import RECORD_MAX, REVIEWS_DIR, changed, path_of, problems
from coordinator.core.task import dump_any, load
from coordinator.gatekeeper.record import Decision, message
from coordinator.hub.batch import Journal
from coordinator.repo.gitrepo import GitRepo
from coordinator.repo.store import Store
from coordinator.wire.errors import InvalidTask


class ReviewBook:
    """Owns the review records and their index: every record under reviews/, read once per tree
    of that directory (a commit that changes it, ours or pushed, makes the next read redo it)."""

    def __init__(self, git: GitRepo, store: Store, journal: Journal, lock: threading.RLock):
        self.git, self.store, self.journal, self.lock = git, store, journal, lock
        self._index: tuple[object, dict[str, dict]] | None = None   # (tree id of reviews/, records)

    def _all(self) -> dict[str, dict]:
        entry = self.git.get(self.store.tree, REVIEWS_DIR)
        tree_id = entry.oid if entry else None
        if self._index is not None and self._index[0] == tree_id:
            return self._index[1]
        records = {}
        for e in self.git.files(self.store.tree, REVIEWS_DIR):
            try:
                doc = load(self.git.read(e.oid), e.path, RECORD_MAX)
            except InvalidTask:
                continue
            if not problems(doc):
                records[e.path] = doc
        self._index = (tree_id, records)
        return records

    def record(self, doc: dict) -> dict:
        """Commit `doc` as the PR's latest decision unless it decides nothing new; returns
        {committed, path}. Runs in a batch of the hub's loop."""
        self.journal.require("record_review")
        found = problems(doc)
        if found:
            raise InvalidTask("review record", found)
        path = path_of(doc["repo"], doc["pull"])
        prior = self._all().get(path)
        if not changed(prior, doc):
            return {"committed": False, "path": path}
        decision = Decision(doc.get("repo_name") or doc["repo"], doc["pull"], doc["head_sha"], doc["action"],
                            doc["score"], tuple(doc["rules"]), doc.get("task"), doc.get("agent"),
                            doc.get("merged_by"))
        intent = bool(doc.get("merging")) and not doc.get("merged_by") and doc.get("state", "open") == "open"
        human = doc.get("human") if isinstance(doc.get("human"), dict) and \
            doc.get("human") != (prior or {}).get("human") else None
        self.journal.stage({path: dump_any(doc)}, message(decision, intent, human))
        if prior is None or (prior.get("head_sha"), prior.get("action")) != (doc["head_sha"], doc["action"]):
            self.journal.decided(doc["action"])   # a new decision on a head, not the record of what followed
        return {"committed": True, "path": path}

    # --- reads (any thread) ------------------------------------------------------------------

    def get(self, repo: str, number: int) -> dict | None:
        with self.lock:
            return self._all().get(path_of(repo, number))

    def every(self) -> list[dict]:
        with self.lock:
            return list(self._all().values())
