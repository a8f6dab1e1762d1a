"""[pure] The state of each required check, read from both of GitHub's systems: commit statuses
(the latest per context wins) and check runs (the latest per name wins). A check reported in
both is as bad as the worse of the two.

Only trusted reports count, as in branch protection: a status by its creator's login, a check
run by its app's slug. A report by the pull request's author or by any agent's login never
counts, nor one without a known reporter; where the rules name a check's source, only that
source counts. What is left out is as if never reported (missing: wait, then escalate).
"""
from __future__ import annotations

from enum import Enum

PASSED = ("success", "neutral", "skipped")
FAILED = ("failure", "cancelled", "timed_out", "action_required", "stale", "startup_failure", "error")
RUNNING = ("queued", "in_progress", "waiting", "requested", "pending")


class State(str, Enum):
    GREEN = "green"
    PENDING = "pending"
    RED = "red"
    MISSING = "missing"   # nothing reported under this name (yet)


_RANK = {State.RED: 3, State.PENDING: 2, State.GREEN: 1, State.MISSING: 0}


def _latest(items, key: str) -> dict[str, dict]:
    """The newest item per name: by its time (ISO text sorts in time order), then by id."""
    best = {}
    for item in items if isinstance(items, (list, tuple)) else ():
        if not isinstance(item, dict) or not isinstance(item.get(key), str):
            continue
        when = item.get("updated_at") or item.get("created_at") if key == "context" \
            else item.get("completed_at") or item.get("started_at")
        order = (str(when or ""), item.get("id") if isinstance(item.get("id"), int) else -1)
        if item[key] not in best or order >= best[item[key]][0]:
            best[item[key]] = (order, item)
    return {name: item for name, (_, item) in best.items()}


def _of_status(status: dict) -> State:
    state = status.get("state")
    return State.GREEN if state == "success" else State.PENDING if state == "pending" else State.RED


def _of_run(run: dict) -> State:
    if run.get("status") in RUNNING:
        return State.PENDING
    if run.get("status") == "completed" and run.get("conclusion") in PASSED:
        return State.GREEN
    return State.RED  # completed and failed, or a shape we do not know: never green


def reporter(item, key: str) -> str | None:
    """Who made a status (`creator.login`) or a check run (`app.slug`), in lower case."""
    holder = item.get("creator" if key == "context" else "app") if isinstance(item, dict) else None
    who = holder.get("login" if key == "context" else "slug") if isinstance(holder, dict) else None
    return who.lower() if isinstance(who, str) and who else None


def trusted(items, key: str, sources: dict, distrusted: frozenset) -> tuple[list, list]:
    """(the reports that count, the ignored ones) among `items` (statuses or check runs)."""
    kept, ignored = [], []
    for item in items if isinstance(items, (list, tuple)) else ():
        if not isinstance(item, dict):
            continue
        who, source = reporter(item, key), sources.get(item.get(key))
        fine = who is not None and who not in distrusted and (source is None or who == source.lower())
        (kept if fine else ignored).append(item)
    return kept, ignored


def required(names, statuses, check_runs, sources: dict | None = None,
             distrusted: frozenset = frozenset()) -> dict[str, State]:
    """Each required check's state from its trusted reports; an unknown state is red, never green."""
    sources = sources or {}
    statuses = trusted(statuses, "context", sources, distrusted)[0]
    check_runs = trusted(check_runs, "name", sources, distrusted)[0]
    by_context, by_name = _latest(statuses, "context"), _latest(check_runs, "name")
    result = {}
    for name in names:
        seen = [_of_status(by_context[name])] if name in by_context else []
        seen += [_of_run(by_name[name])] if name in by_name else []
        result[name] = max(seen, key=_RANK.get) if seen else State.MISSING
    return result
