"""[pure] The state of each required check, read from both of GitHub's systems: commit statuses
(the latest per context wins) and check runs (the latest per name wins). A check reported in
both is as bad as the worse of the two.
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


def required(names, statuses, check_runs) -> dict[str, State]:
    """Each required check's state; an unknown state is red, never green."""
    by_context, by_name = _latest(statuses, "context"), _latest(check_runs, "name")
    result = {}
    for name in names:
        seen = [_of_status(by_context[name])] if name in by_context else []
        seen += [_of_run(by_name[name])] if name in by_name else []
        result[name] = max(seen, key=_RANK.get) if seen else State.MISSING
    return result
