"""The last step of `add-agent`: prove the whole path (hub → notification → sidecar → report →
commit) with a self-test task pinned to the agent, and when it does not end done, name the
step that failed: not registered, no heartbeat, not assigned, not notified, not accepted, or
the agent's side failed (with its reason)."""
from __future__ import annotations

import time
from pathlib import Path

from coordinator.wire.atomic import read_json
from coordinator.wire.client import HttpBackend
from coordinator.wire.errors import HubRefused, HubUnavailable
from sidecar.onboard.detach import STATUS
from sidecar.onboard.steps import StepFailed

POLL = 0.1
ENDED = ("done", "dead", "cancelled")
SLOW_PICKUP = 5.0   # seconds from assigned to taken: more means the notification did not arrive


def self_test(api: HttpBackend, name: str, state_dir: Path, timeout: float) -> dict:
    """Queue the self-test and follow it; returns {task, state, summary, seconds}. StepFailed
    names the failed step (the task is then cancelled, so it does not linger)."""
    try:
        task_id = api.self_test(name)["id"]
    except HubRefused as e:
        raise StepFailed("self-test", f"the hub refused the self-test: {e}",
                         "check the agent is registered (`agentcom agent list`)") from None
    started, seen, state, doc = time.monotonic(), {}, "queued", {}
    while time.monotonic() - started < timeout:
        try:
            shown = api.show(task_id)
        except (HubRefused, HubUnavailable) as e:
            raise StepFailed("self-test", f"the hub stopped answering while the self-test {task_id} ran: {e}",
                             "start the hub again, then run add-agent again") from None
        state, doc = shown["state"], shown["task"]
        seen.setdefault(state, round(time.monotonic() - started, 3))
        if state in ENDED:
            break
        time.sleep(POLL)
    seconds = {k: seen[k] for k in ("assigned", "working", *ENDED) if k in seen}
    if state == "done":
        result = {"task": task_id, "state": state, "summary": (doc.get("result") or {}).get("summary", ""),
                  "seconds": seconds}
        taken = seconds.get("working", seconds.get("done", 0.0)) - seconds.get("assigned", 0.0)
        if taken > SLOW_PICKUP:  # it worked, but only through a heartbeat: say so, not silently
            url = _read(state_dir / STATUS).get("url") or "no address"
            result["warning"] = (f"not notified: the sidecar took the task {taken:.1f}s after it was assigned, "
                                 f"at a heartbeat; the hub's notification to {url} did not reach it (check "
                                 "`listen` and `advertise`: until then work waits up to a heartbeat)")
        return result
    if state == "dead":
        raise StepFailed("self-test", f"agent run failed: {doc.get('last_error') or 'no reason recorded'} "
                         f"(task {task_id}; {_cancel(api, task_id)})",
                         "fix what the reason names, then run add-agent again")
    if state == "cancelled":
        raise StepFailed("self-test", f"the self-test task {task_id} was cancelled by someone else",
                         "run add-agent again")
    problem, fix = diagnose(api, name, state, state_dir, timeout)
    raise StepFailed("self-test", f"{problem} (task {task_id} was {state} after {timeout:.0f}s; "
                     f"{_cancel(api, task_id)})", fix)


def _cancel(api: HttpBackend, task_id: str) -> str:
    """End a failed self-test in cancelled/: left in dead/ (or sent there by its deadline) it
    would be a `dead_task` that keeps `agentcom health` failing. Says what happened."""
    try:
        api.cancel(task_id)
    except (HubRefused, HubUnavailable) as e:
        return f"it could not be cancelled ({e}): `agentcom cancel {task_id}` ends it"
    return "cancelled; its history stays in git"


def diagnose(api: HttpBackend, name: str, state: str, state_dir: Path, timeout: float) -> tuple[str, str]:
    """Why a self-test still sits in `state`: the first step of the path that did not happen."""
    local = _read(state_dir / STATUS)
    row = next((a for a in api.agents() if a["name"] == name), None)
    if row is None:
        return ("not registered: the hub has no agent of that name any more",
                "someone removed it meanwhile; run add-agent again")
    if row["state"] == "offline" or not row.get("last_heartbeat"):
        why = local.get("hub_error") or "no error recorded in sidecar.json"
        return (f"no heartbeat: the hub has not heard from the sidecar ({why})",
                f"read the sidecar's log; check `hub` in its config; see {state_dir / STATUS}")
    if state == "queued":
        return (f"not assigned: the agent is {row['state']}, holding {', '.join(row['tasks']) or 'nothing'} "
                f"with {row['slots']} slot(s)", "wait for its work to end, or give it more --slots")
    if state == "assigned":
        held = [r for r in local.get("runs") or () if r.get("phase") == "accepting"]
        if held:
            return (f"not accepted: the sidecar took the task but the hub did not take its 'accepted' report "
                    f"({local.get('hub_error') or 'no error recorded'})", "read the sidecar's log")
        return (f"not notified: the hub assigned the task but the sidecar did not pick it up within "
                f"{timeout:.0f}s; the hub calls {local.get('url') or 'no address (none sent)'}",
                "make sure the hub can reach that address (`listen` and `advertise` in the sidecar config)")
    return ("accepted, but no result came back: the sidecar answers a self-test at once",
            f"read the sidecar's log and {state_dir / 'runs'}")


def _read(path: Path) -> dict:
    try:
        return read_json(path) or {}
    except ValueError:
        return {}
