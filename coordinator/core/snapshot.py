"""[pure] The fleet at a glance (`GET /api/state`): agents, lanes, running work, completions, the
dead letter, rejected files, tokens, the pull requests that wait for a human, and the conditions
that need a human, each with its reason.

Built from the in-memory view and ledger only; nothing here reads git. Lists that can grow with
the queue are capped (`LIST_MAX`), with the full count beside them.
"""
from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import datetime

from coordinator.core.agent import AgentState
from coordinator.core.layout import LANES, State
from coordinator.core.ledger import Ledger
from coordinator.core.reviewrecord import awaiting
from coordinator.core.reviewrecord import counts as review_counts
from coordinator.core.reviewrecord import escalations as open_escalations
from coordinator.core.view import Record, View
from coordinator.wire.times import format_time, parse_time

LIST_MAX = 100        # dead tasks, rejected files and health conditions listed at most
NEXT_PER_LANE = 5     # queued tasks shown per lane
PIPELINE = ("queued", "assigned", "working", "review", "merged", "done")


def snapshot(view: View, ledger: Ledger, agents: list[dict], notes: dict, *, now: datetime,
             head: str, config_error: str | None, fixed: dict | None = None) -> dict:
    """The whole picture at `now`; `agents` are the API's agent rows, `notes` the progress notes,
    `fixed` what `from_view` gave for this same view (it changes only with a commit)."""
    fixed = fixed if fixed is not None else from_view(view, config_error)
    by_agent = ledger.tokens_by_agent
    return {
        "generated_at": format_time(now),
        "head": head,
        **{k: fixed[k] for k in ("counts", "lanes", "next", "pipeline")},
        "agents": [{**a, "tokens_used": by_agent.get(a["name"], 0)} for a in agents],
        "running": [_running(r, notes, now) for r in _held(view)],
        "completions": list(ledger.completions),
        **{k: fixed[k] for k in ("dead", "rejected", "escalations")},
        "tokens": {"since": format_time(ledger.started), "total": sum(by_agent.values()),
                   "by_agent": dict(sorted(by_agent.items())), "by_model": dict(sorted(ledger.tokens_by_model.items())),
                   "hourly": ledger.series(now)},
        "health": fixed["health"],
        "config_error": config_error,
    }


def from_view(view: View, config_error: str | None, reviews: list[dict] | None = None,
              waits: Callable[[Record], list[str]] | None = None, gate: list[dict] | None = None) -> dict:
    """The parts that follow from the view alone: counts, lanes, the dead letter, rejected
    files and health, and from the gatekeeper's `reviews` records (None or empty: it has not
    run) and its own conditions (`gate`); `waits` gives what a queued task waits for (none when
    not given). Read from the view's
    indexes: nothing here walks the queue or the finished tasks, so the cost does not grow with
    either."""
    counts = _counts(view)
    return {
        "counts": counts,
        "lanes": view.lane_depths(),
        "next": {lane: _next_up(view, lane, waits) for lane in LANES},
        "pipeline": _pipeline(counts, review_counts(reviews) if reviews else None),
        "dead": _capped([_dead(r) for r in _dead_letter(view)]),
        "rejected": _capped([{"path": r.path, **r.reason} for r in sorted(
            view.rejected.values(), key=lambda r: r.path, reverse=True)]),
        "health": _capped(health(view, config_error, reviews, gate)),
        "escalations": _capped(open_escalations(reviews or [], limit=LIST_MAX)),
    }


def _counts(view: View) -> dict[str, int]:
    """Tasks per state from the view's indexes (as View.counts, without walking every task)."""
    held = [r.loc.state for mine in view.held.values() for r in mine.values()]
    assigned = sum(1 for s in held if s is State.ASSIGNED)
    live = len(view.queued) + len(held) + len(view.review) + len(view.dead)
    return {"queued": len(view.queued), "assigned": assigned, "working": len(held) - assigned,
            "review": len(view.review), "done": len(view.done), "dead": len(view.dead),
            "cancelled": len(view.tasks) - live - len(view.done), "rejected": len(view.rejected)}


def _next_up(view: View, lane: str, waits: Callable[[Record], list[str]] | None) -> list[dict]:
    """The first few queued tasks of a lane, in the order they were queued, with what each waits for."""
    return [{"id": r.loc.task_id, "title": r.task.get("title"), "queued_at": r.task.get("queued_at"),
             "pin": r.task.get("pin"), "needs": r.task.get("needs", []), "waits_for": waits(r) if waits else []}
            for r in view.first_queued(lane, NEXT_PER_LANE)]


def _capped(rows: list) -> dict:
    return {"total": len(rows), "items": rows[:LIST_MAX]}


def _pipeline(counts: dict, reviewed: dict | None) -> list[dict]:
    """The stages of the flow with their counts: tasks per state (review: tasks waiting on their
    PR), and the PRs merged by anyone, which only the gatekeeper's records tell (null until it
    has recorded one)."""
    have = {**{s: counts[s] for s in ("queued", "assigned", "working", "review", "done")},
            "merged": reviewed["merged"] if reviewed else None}
    return [{"stage": s, "count": have[s]} for s in PIPELINE]


def _held(view: View) -> list[Record]:
    rows = [r for mine in view.held.values() for r in mine.values()]
    return sorted(rows, key=lambda r: (r.loc.agent, r.loc.task_id))


def _dead_letter(view: View) -> list[Record]:
    """Dead tasks, the most recent first."""
    return sorted((r for r in view.dead.values() if r.task is not None),
                  key=lambda r: (r.task.get("finished_at") or "", r.loc.task_id), reverse=True)


def _running(r: Record, notes: dict, now: datetime) -> dict:
    t = r.task
    since = t.get("started_at") if r.loc.state is State.WORKING else t.get("updated_at")
    note = notes.get(r.loc.task_id)
    if note is not None and note[0] != t.get("attempt"):
        note = None
    return {"id": r.loc.task_id, "title": t.get("title"), "state": r.loc.state.label, "agent": r.loc.agent,
            "attempt": t.get("attempt"), "priority": t.get("priority"), "since": since,
            "elapsed_s": _seconds(now, since), "note": note[1] if note else None,
            "noted_at": note[2] if note else None, "tokens_used": int(t.get("tokens_used") or 0)}


def _dead(r: Record) -> dict:
    t = r.task
    return {"id": r.loc.task_id, "title": t.get("title"), "attempt": t.get("attempt"),
            "finished_at": t.get("finished_at"), "last_error": t.get("last_error"),
            "priority": t.get("priority"), "tokens_used": int(t.get("tokens_used") or 0)}


def _seconds(now: datetime, since: str | None) -> float | None:
    try:
        return round(max(0.0, (now - parse_time(since)).total_seconds()), 1) if since else None
    except ValueError:
        return None


def health(view: View, config_error: str | None, reviews: list[dict] | None = None,
           gate: list[dict] | None = None) -> list[dict]:
    """Conditions a human must look at, most pressing first: {kind, subject, reason}, and for a
    pull request also its url, repo, pull, task, agent and decided_at (from the gatekeeper's
    `reviews` records). `gate`: the gatekeeper's conditions about its target and its rules, as
    the hub keeps them (an unprotected base branch, a `repos:` entry that names nothing)."""
    found = []
    if config_error:
        found.append(_cond("config_error", "agentcom.yaml", f"agentcom.yaml is invalid, the last good "
                           f"settings are in use: {config_error}; push a fixed file"))
    found += [_cond(c["kind"], c["subject"], c["reason"]) for c in gate or ()]
    for name, agent in sorted(view.agents.items()):
        held = sorted(view.held.get(name, {}))
        if agent.state is AgentState.BLOCKED:
            found.append(_cond("agent_blocked", name, f"agent {name} waits on a human: {agent.reason}"))
        elif agent.state is AgentState.OFFLINE and held:
            found.append(_cond("agent_offline_holding", name, f"agent {name} is offline ({agent.reason}) "
                               f"while holding {', '.join(held)}; the hub reclaims them"))
    for name in sorted(set(view.held) - set(view.agents)):
        found.append(_cond("agent_offline_holding", name, f"{', '.join(sorted(view.held[name]))} held by "
                           f"{name}, which is not registered; the hub reclaims them"))
    for r in _dead_letter(view):
        found.append(_cond("dead_task", r.loc.task_id, f"task {r.loc.task_id} is dead: "
                           f"{r.task.get('last_error') or 'no error recorded'}; retry or cancel it"))
    found += _stuck_queued(view)
    found += [_waiting_pr(r) for r in awaiting(reviews or [])]
    return found


def _stuck_queued(view: View) -> list[dict]:
    """Queued tasks that cannot start until a human acts: pinned to an agent that does not exist,
    or waiting on a task that is dead, cancelled or unknown."""
    found = []
    for r in view.waiting.values():
        t = r.task
        pin, deps = t.get("pin"), t.get("depends_on")
        if not (pin or deps):
            continue
        if pin and pin not in view.agents:
            found.append(_cond("pinned_to_unknown_agent", r.loc.task_id, f"task {r.loc.task_id} is pinned to "
                               f"agent {pin}, which is not registered; register it or resubmit unpinned"))
        for dep in deps or ():
            other = view.tasks.get(dep)
            if other is None:
                why = "does not exist"
            elif other.loc.state in (State.DEAD, State.CANCELLED):
                why = f"is {other.loc.state.label}"
            else:
                continue
            found.append(_cond("depends_on_unfinishable", r.loc.task_id, f"task {r.loc.task_id} waits on "
                               f"task {dep}, which {why}; retry {dep} or cancel {r.loc.task_id}"))
    return sorted(found, key=lambda c: (c["subject"], c["kind"]))


def _waiting_pr(r: dict) -> dict:
    """A pull request the gatekeeper left to a human, what it is waiting for, and what to do."""
    name, repo, pull = r.get("repo_name") or r["repo"], r["repo"], r["pull"]
    subject = f"{name}#{pull}"
    about = f"pull request {subject} \"{r.get('title') or ''}\" (task {r.get('task') or 'none'})"
    why = (r.get("why") or "").rstrip(".")
    if r["action"] == "block":
        # the branch name is the agent's choice: quoted, so a command pasted from here runs nothing else
        branch = shlex.quote(r["head"]) if isinstance(r.get("head"), str) and r["head"] else "BRANCH"
        kind, reason = "pr_blocked", (f"{about} is blocked: {why}. The secret is still in the history of branch "
                                      f"{branch} in {name}, even once the PR is closed: delete the branch "
                                      f"(git push origin --delete {branch}) and rotate the secret")
    elif r["action"] == "escalate":
        kind, reason = "pr_escalated", f"{about} was escalated to a human: {why}; merge it, close it or release it"
    elif "pr.held" in (r.get("rules") or ()):
        kind, reason = "pr_held", (f"{about} passes every gate but a human's escalation label holds it: {why}; "
                                   "merge it, or release it to the gatekeeper")
    else:
        kind, reason = "pr_needs_merge", (f"{about} passes every gate, and auto-merge is off for {name}: "
                                          f"{why}; a human merges it")
    return {**_cond(kind, subject, reason), "url": r.get("url"), "repo": repo, "pull": pull,
            "task": r.get("task"), "agent": r.get("agent"), "decided_at": r.get("decided_at"),
            "head_sha": r.get("head_sha")}


def _cond(kind: str, subject: str, reason: str) -> dict:
    return {"kind": kind, "subject": subject, "reason": reason}
