"""[pure] A gatekeeper decision as data, as a commit message with git trailers (keys and lines
from core/trailers.py), and as plain-words comment text for the pull request.

    gatekeeper: acme/web#12 escalate (score 80)

    Task: T-42
    Repo: acme/web
    Pull: 12
    Head: 3f9c...
    Action: escalate
    Score: 80
    Rules: protected.ci, checks.none
    Agent: ada
    Merged-By: -

`git log --grep 'Task: T-42'` finds it beside the task's transitions.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

from coordinator.core import trailers
from coordinator.core.trailers import NONE, trailer_value
from coordinator.gatekeeper.findings import Finding
from coordinator.gatekeeper.verdict import Action, Verdict

KEYS = trailers.DECISION_KEYS
MAX_LISTED = 50
_BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+-]{0,199}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
TITLES = {Action.MERGE: "merged", Action.ADVISE: "safe to merge (a human merges: auto-merge is off)",
          Action.WAIT: "waiting", Action.ESCALATE: "escalated to a human", Action.BLOCK: "blocked"}


@dataclass(frozen=True)
class Decision:
    repo: str
    pull: int
    head_sha: str
    action: str
    score: int
    rules: tuple[str, ...]   # every rule that fired, notes included, each once
    task_id: str | None = None
    agent: str | None = None
    merged_by: str | None = None


def decision(verdict: Verdict, repo: str, pull: int, task_id: str | None, agent: str | None,
             merged_by: str | None = None) -> Decision:
    rules = tuple(dict.fromkeys(f.rule for f in verdict.reasons))
    return Decision(repo, pull, verdict.head_sha, verdict.action.value, verdict.score, rules, task_id,
                    agent, merged_by)


def message(d: Decision, intent: bool = False, human: dict | None = None) -> str:
    """The commit message that records one decision in the coordination repo (`intent`: the
    merge is about to be asked for, and not known to be done; `human`: what a human did, which
    this commit records, {verb, by, reason})."""
    values = (d.task_id or NONE, d.repo, d.pull, d.head_sha, d.action, d.score, ", ".join(d.rules) or NONE,
              d.agent or NONE, d.merged_by or NONE)
    shown = "merging" if intent else d.action
    subject = trailer_value(f"gatekeeper: {d.repo}#{d.pull} {shown} (score {d.score})")
    extra = ()
    if human:
        subject = trailer_value(f"human: {d.repo}#{d.pull} {human.get('verb')} by {human.get('by')}")
        reason = human.get("reason")
        extra = ((trailers.HUMAN, f"{human.get('verb')} by {human.get('by')}" + (f": {reason}" if reason else "")),)
    return subject + "\n\n" + trailers.lines(zip(KEYS, values, strict=True)) + trailers.lines(extra)


def parse(text: str) -> Decision | None:
    """The Decision in a commit message, or None if it is not a complete decision record."""
    found = trailers.read(text, KEYS)
    if set(found) != set(KEYS) or not found["Pull"].isdigit() or not found["Score"].isdigit():
        return None

    def opt(key):
        return None if found[key] == NONE else found[key]

    rules = tuple(r for r in found["Rules"].split(", ") if r and found["Rules"] != NONE)
    return Decision(found["Repo"], int(found["Pull"]), found["Head"], found["Action"], int(found["Score"]),
                    rules, opt("Task"), opt("Agent"), opt(trailers.MERGED_BY))


def shown(text: str, limit: int = 200) -> str:
    """Untrusted text (a file name) made inert for a GitHub comment: no markup, mentions, links or
    control characters survive; it is shown as code."""
    text = _CONTROL.sub("?", text)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return "<code>" + html.escape(text, quote=True).replace("@", "&#64;") + "</code>"


def comment(verdict: Verdict, branch: str | None = None) -> str:
    """The comment for the pull request: the action and every reason, in plain words (`branch`,
    the PR's head, named in a block's advice on deleting it)."""
    gates = [f for f in verdict.reasons if f.gate]
    notes = [f for f in verdict.reasons if not f.gate]
    lines = [f"**AgentCom gatekeeper: {TITLES[verdict.action]}** (risk score {verdict.score})", "",
             f"Reviewed head commit `{verdict.head_sha[:12]}`. {verdict.why}.",
             f"The change: {verdict.figures.files} file(s), +{verdict.figures.additions} "
             f"-{verdict.figures.deletions} lines; the agent's trust level is {verdict.trust}."]
    if gates:
        lines += ["", "Reasons:"] + [_item(f) for f in gates[:MAX_LISTED]]
        lines += [f"- ... and {len(gates) - MAX_LISTED} more"] if len(gates) > MAX_LISTED else []
    if notes:
        lines += ["", "Recorded, without effect on the verdict:"] + [_item(f) for f in notes[:MAX_LISTED]]
    if verdict.action is Action.ESCALATE or verdict.action is Action.BLOCK:
        lines += ["", "A human decides from here. The pull request's own text never changes this verdict."]
    if verdict.action is Action.BLOCK:
        name = f"`{branch}`" if branch and _BRANCH.fullmatch(branch) else "the pull request's branch"
        arg = branch if branch and _BRANCH.fullmatch(branch) else "BRANCH"
        lines += ["", f"Closing this pull request is not enough: {name} still holds the secret in the target "
                  f"repository's history, where anyone who can fetch it can read it. Delete the branch "
                  f"(`git push origin --delete {arg}`), then rotate the secret: treat it as leaked."]
    return "\n".join(lines) + "\n"


def _item(f: Finding) -> str:
    where = f" in {shown(f.path)}" + (f" line {f.line}" if f.line else "") if f.path else ""
    points = f" (+{f.points})" if f.points else ""
    return f"- `{f.rule}`{points}: {f.explanation}{where}"
