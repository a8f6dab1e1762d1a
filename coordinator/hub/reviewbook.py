"""The hub's side of the gatekeeper's records: reads `reviews/`, and writes one decision per
commit in the hub's loop (single writer), with the trailers of `gatekeeper.record` so
`agentcom log TASK` and `git log --grep 'Task: T-1'` show it. A decision unchanged for the same
head makes no commit."""
from __future__ import annotations

from coordinator.wire.errors import InvalidTask
from coordinator.gatekeeper.record import Decision, message
from coordinator.core.reviewrecord import RECORD_MAX, REVIEWS_DIR, changed, path_of, problems
from coordinator.core.task import dump_any, load


def _all(hub) -> dict[str, dict]:
    git = hub.store.git
    entry = git.get(hub.store.tree, REVIEWS_DIR)
    tree_id = entry.oid if entry else None
    cached = getattr(hub, "_review_index", None)
    if cached is not None and cached[0] == tree_id:
        return cached[1]
    records = {}
    for e in git.files(hub.store.tree, REVIEWS_DIR):
        try:
            doc = load(git.read(e.oid), e.path, RECORD_MAX)
        except InvalidTask:
            continue
        if not problems(doc):
            records[e.path] = doc
    hub._review_index = (tree_id, records)
    return records


def record(hub, doc: dict) -> dict:
    """Commit `doc` as the PR's latest decision unless it decides nothing new; returns
    {committed, path}. Runs in the hub's loop."""
    found = problems(doc)
    if found:
        raise InvalidTask("review record", found)
    path = path_of(doc["repo"], doc["pull"])
    prior = _all(hub).get(path)
    if not changed(prior, doc):
        return {"committed": False, "path": path}
    decision = Decision(doc.get("repo_name") or doc["repo"], doc["pull"], doc["head_sha"], doc["action"],
                        doc["score"], tuple(doc["rules"]), doc.get("task"), doc.get("agent"), doc.get("merged_by"))
    intent = bool(doc.get("merging")) and not doc.get("merged_by") and doc.get("state", "open") == "open"
    hub.store.stage({path: dump_any(doc)}, message(decision, intent))
    return {"committed": True, "path": path}


def get(hub, repo: str, number: int) -> dict | None:
    with hub.state_lock:
        return _all(hub).get(path_of(repo, number))


def every(hub) -> list[dict]:
    with hub.state_lock:
        return list(_all(hub).values())
