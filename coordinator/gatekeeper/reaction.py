"""[pure] What the gatekeeper does about a pull request its agent can fix: a conflict, a branch
behind its base, a failed required check, or changes a reviewer requested. Such a PR goes back
to its own task (a new attempt on the same branch and PR), up to a cap per PR; a PR a human was
asked about (it carries an escalation label) is never sent back: it waits for that human.

`react` decides; `check_log` and `review_comments` write what the agent is told, as data.
"""
from __future__ import annotations

from dataclasses import dataclass

from coordinator.gatekeeper import checks as check_states

# the gate findings an agent can fix on its branch, and the kind of rework each asks for
FIXABLE = {"checks.conflict": "conflict", "checks.failed": "check", "review.changes": "changes"}
LOG_MAX = 6000        # characters of a failing check's output given to the agent
COMMENTS_MAX = 6000   # characters of review comments
MAY_REVIEW = ("OWNER", "MEMBER", "COLLABORATOR")   # GitHub's author_association of a reviewer who counts


@dataclass(frozen=True)
class Reaction:
    """`send`: the rework kind to send the task back with; `human`: why a human is asked
    instead (and `rule`, the rule id that says so); `wait`: why the gatekeeper only waits (its
    agent is on it). At most one of send, human and wait is set."""

    send: str | None = None
    human: str | None = None
    wait: str | None = None
    rule: str | None = None


def react(gates: list[str], *, behind: bool, held: bool, task_state: str | None, reworking: bool,
          sent: int, cap: int, away: float = 0, timeout: float = float("inf")) -> Reaction:
    """`gates`: the rule ids of the verdict's gate findings (risks, unsure, secrets). `task_state`:
    the state of the PR's task (None: no task believed); `reworking`: that task is back at work
    on this very PR, sent back `away` seconds ago (a human is asked past `timeout`); `sent`: times
    this PR was sent back already."""
    if reworking and task_state in ("queued", "assigned", "working") and away >= timeout and not held:
        return Reaction(human=f"sent back to its agent {int(away // 60)} minutes ago and not done with it yet",
                        rule="pr.rework_timeout")
    if task_state in ("queued", "assigned", "working"):
        # its agent is still on it: the PR is judged once the task reports done with it
        return Reaction(wait="its agent is updating the pull request" if reworking else
                        "its agent has not reported its task done yet")
    fixable = [g for g in gates if g in FIXABLE]
    if not fixable or len(fixable) != len(gates) or held or task_state != "review":
        return Reaction()   # nothing an agent can fix alone: the verdict stands
    if sent >= cap:
        return Reaction(human=f"sent back to its agent {sent} time(s) and still not mergeable; "
                              f"the cap for this repo is {cap}", rule="pr.rework_cap")
    kind = FIXABLE[fixable[0]] if "checks.conflict" not in fixable else ("behind" if behind else "conflict")
    return Reaction(send=kind)


def check_log(required: tuple, statuses: list, runs: list) -> str:
    """What the failing required checks said: each one's state, description, address and (a local
    forge's `log`, a check run's output) their output, bounded."""
    red = {name for name, state in check_states.required(required, statuses, runs).items()
           if state is check_states.State.RED}
    parts = []
    for s in statuses:
        if isinstance(s, dict) and s.get("context") in red:
            red.discard(s["context"])   # the newest first: one per check
            parts.append(_lines(f"{s['context']}: {s.get('state')}", s.get("description"), s.get("target_url"),
                                s.get("log")))
    for r in runs:
        if isinstance(r, dict) and r.get("name") in red:
            red.discard(r["name"])
            out = r.get("output") if isinstance(r.get("output"), dict) else {}
            parts.append(_lines(f"{r['name']}: {r.get('conclusion') or r.get('status')}", out.get("title"),
                                out.get("summary"), out.get("text"), r.get("details_url")))
    return "\n\n".join(parts)[:LOG_MAX]


def review_comments(reviews: list, head_sha: str, distrusted: frozenset, reviewers: frozenset = frozenset()) -> str:
    """The requested changes on this head, by people who may review the repo (its owners, members
    and collaborators, or the configured `reviewers`; never the agents' own logins), bounded;
    empty when nobody asked for changes. A stranger's review on a public repo counts for nothing."""
    latest: dict[str, dict] = {}
    for r in reviews:
        who = ((r.get("user") or {}).get("login") or "").lower() if isinstance(r, dict) else ""
        trusted = r.get("author_association") in MAY_REVIEW or who in reviewers if who else False
        if trusted and who not in distrusted and r.get("state") in ("CHANGES_REQUESTED", "APPROVED", "DISMISSED"):
            latest[who] = r   # the forge lists them oldest first: the last one per person counts
    asked = [r for r in latest.values() if r.get("state") == "CHANGES_REQUESTED" and r.get("commit_id") == head_sha]
    return "\n\n".join(f"{r['user']['login']} requested changes:\n{r.get('body') or '(no text)'}"
                       for r in asked)[:COMMENTS_MAX]


def _lines(*items) -> str:
    return "\n".join(str(x).strip() for x in items if isinstance(x, str) and x.strip())
