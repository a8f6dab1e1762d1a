"""[pure] The verdict on one pull request: a risk score, every reason, and one action.

    block          a secret is in the diff (a hard gate)
    escalate       anything risky or unsure, a check red, silent past its timeout, or none required
    wait           required checks still running, or mergeability still unknown, within their timeouts
    advise-merge   every gate passes, but auto-merge is off for the repo
    merge          every gate passes, checks are green, the required set is non-empty, mergeable
                   is True and auto-merge is on for the repo

The title and body of the pull request never change the score or the action: instruction-like
text in them is recorded as a note, and that is all.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from coordinator.gatekeeper import checks as check_states
from coordinator.gatekeeper import untrusted
from coordinator.gatekeeper.diffscan import Figures, Scan
from coordinator.gatekeeper.diffscan import scan as scan_files
from coordinator.gatekeeper.findings import Finding, Severity, make
from coordinator.gatekeeper.rules import Level, Merge, Rules

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class Action(str, Enum):
    MERGE = "merge"
    ADVISE = "advise-merge"
    WAIT = "wait"
    ESCALATE = "escalate"
    BLOCK = "block"


@dataclass(frozen=True)
class Checks:
    """The required checks' state as GitHub reports it, and seconds since the head was pushed."""

    statuses: tuple = ()       # GET /repos/{o}/{r}/commits/{sha}/statuses items
    check_runs: tuple = ()     # GET /repos/{o}/{r}/commits/{sha}/check-runs "check_runs" items
    mergeable: bool | None = None
    elapsed: int = 0


@dataclass(frozen=True)
class Verdict:
    action: Action
    score: int
    reasons: tuple[Finding, ...]   # every finding, notes included, in the order found
    head_sha: str
    why: str                       # the action in plain words
    trust: str                     # the agent's trust level
    figures: Figures


def review(files: list, truncated: bool, *, pr: dict, task: dict | None, agent: str | None, checks: Checks,
           rules: Rules, repo: str) -> Verdict:
    """Scan and judge one pull request in one call: what the reviewer runs on every head it sees."""
    scope = task.get("scope") if isinstance(task, dict) else None
    return decide(scan_files(files, truncated, rules, scope), pr=pr, task=task, agent=agent, checks=checks,
                  rules=rules, repo=repo)


def decide(scan: Scan, *, pr: dict, task: dict | None, agent: str | None, checks: Checks,
           rules: Rules, repo: str) -> Verdict:
    """Combine the diff's findings with the task, the agent's trust and the checks into a verdict."""
    w, merge = rules.weights, rules.for_repo(repo)
    trust, level = rules.trust_of(agent)
    head = (pr.get("head") or {}).get("sha") if isinstance(pr.get("head"), dict) else None
    found = list(scan.findings)
    if not (isinstance(head, str) and _SHA.fullmatch(head)):
        head = "-"
        found.append(make(w, "unsure.head", Severity.UNSURE, "the pull request's head commit is unknown"))
    found += size(scan.figures, rules, level)
    if not level.may_merge:
        found.append(make(w, "trust.untrusted", Severity.RISK, f"the agent's trust level is {trust}"))
    found += _task(task, w)
    found += [make(w, "pr.instructions", Severity.NOTE, "the pull request's text addresses the reviewer "
                   f"({label}); it was ignored") for label in untrusted.instructions(pr.get("title"), pr.get("body"))]
    author = (pr.get("user") or {}).get("login") if isinstance(pr.get("user"), dict) else None
    distrusted = rules.agent_logins() | ({author.lower()} if isinstance(author, str) and author else set())
    waiting, check_findings = _checks(checks, merge, w, distrusted)
    found += check_findings
    score = sum(f.points for f in found)
    if any(f.severity is Severity.BLOCK for f in found):
        action, why = Action.BLOCK, "Blocked: the diff holds a secret; remove it and rotate it"
    elif any(f.gate for f in found):
        action, why = Action.ESCALATE, "Escalated to a human: " + _count(found)
    elif waiting:
        action, why = Action.WAIT, "Waiting for " + ", ".join(waiting)
    elif merge.auto_merge:
        action, why = Action.MERGE, f"Every gate passes; merge {head[:12]} by {merge.method}"
    else:
        action, why = Action.ADVISE, "Every gate passes; auto-merge is off for this repo, so a human merges"
    return Verdict(action, score, tuple(found), head, why, trust, scan.figures)


def size(figures: Figures, rules: Rules, level: Level) -> list[Finding]:
    """The size limits, scaled by the agent's trust level."""
    limits, w, found = rules.limits, rules.weights, []
    for name, value, limit in (("files", figures.files, limits.files),
                               ("lines_added", figures.additions, limits.lines_added),
                               ("lines_deleted", figures.deletions, limits.lines_deleted)):
        allowed = int(limit * level.size_scale)
        if value > allowed:
            found.append(make(w, f"size.{name}", Severity.RISK, f"{value} {name.replace('_', ' ')}; "
                              f"the limit at this trust level is {allowed}"))
    changed = figures.additions + figures.deletions
    if changed >= limits.deletion_share_from and changed and figures.deletions / changed > limits.deletion_share:
        found.append(make(w, "size.deletion_share", Severity.RISK, f"{figures.deletions} of {changed} changed "
                          f"lines are deletions; the limit is {limits.deletion_share:.0%}"))
    return found


def _task(task: dict | None, w) -> list[Finding]:
    if not isinstance(task, dict):
        return [make(w, "unsure.no_task", Severity.UNSURE, "no task is known for this pull request")]
    found = []
    budget, used = task.get("token_budget"), _count_of(task, "tokens_used")
    if isinstance(budget, int) and not isinstance(budget, bool) and used > budget:
        found.append(make(w, "task.token_budget", Severity.RISK,
                          f"the task used {used} tokens; its budget was {budget}"))
    attempts = _count_of(task, "attempt") - _count_of(task, "attempt_base")
    cap = 1 + _count_of(task, "max_retries")
    if attempts > cap:
        found.append(make(w, "task.retries", Severity.RISK,
                          f"the task took {attempts} attempts; its cap is {cap}"))
    return found


def _count_of(task: dict, key: str) -> int:
    value = task.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _checks(checks: Checks, merge: Merge, w, distrusted: frozenset) -> tuple[list[str], list[Finding]]:
    """(what is still awaited, findings) for the required checks and mergeability; a report by the
    author or an agent, or not from a check's named source, is left out (and noted)."""
    waiting, found = [], []
    names = set(merge.required_checks)
    for key, items in (("context", checks.statuses), ("name", checks.check_runs)):
        for item in check_states.trusted(items, key, merge.check_sources, distrusted)[1]:
            if item.get(key) in names:
                who = check_states.reporter(item, key) or "an unknown reporter"
                found.append(make(w, "checks.untrusted", Severity.NOTE, f"a report of required check "
                                  f"{item[key]!r} by {who} was ignored: not a trusted source"[:300]))
    late = checks.elapsed >= merge.check_timeout
    if not merge.required_checks:
        found.append(make(w, "checks.none", Severity.RISK, "no required checks are set for this repo, and an "
                          "empty set is never green"))
    for name, state in check_states.required(merge.required_checks, checks.statuses, checks.check_runs,
                                             merge.check_sources, distrusted).items():
        label = f"required check {name!r}"
        if state is check_states.State.RED:
            found.append(make(w, "checks.failed", Severity.RISK, f"{label} failed"))
        elif state is not check_states.State.GREEN and late:
            what = "never reported" if state is check_states.State.MISSING else "is still running"
            found.append(make(w, "checks.timeout", Severity.RISK,
                              f"{label} {what} {merge.check_timeout}s after the push"))
        elif state is not check_states.State.GREEN:
            waiting.append(label)
    if checks.mergeable is False:
        found.append(make(w, "checks.conflict", Severity.RISK, "GitHub says the branch cannot be merged "
                          "(a conflict, or it is behind); it goes back to its agent, never merged blind"))
    elif checks.mergeable is not True:
        if checks.elapsed >= merge.mergeable_timeout:
            found.append(make(w, "checks.mergeable_unknown", Severity.UNSURE, "GitHub had not worked out "
                              f"whether the branch merges {merge.mergeable_timeout}s after the push"))
        else:
            waiting.append("GitHub to work out whether the branch merges")
    return waiting, found


def _count(found: list[Finding]) -> str:
    """The gates that fired, for the one-line reason."""
    gates = [f for f in found if f.gate]
    rules = list(dict.fromkeys(f.rule for f in gates))
    return f"{len(gates)} reason(s): " + ", ".join(rules[:8]) + (", ..." if len(rules) > 8 else "")
