"""[pure] The gatekeeper's decision records: `reviews/REPO-N.yaml` on main, written by the hub
only, one per pull request, holding its latest decision (git history keeps every earlier one).

A record says which head was reviewed and when that head was first seen (the clock a required
check's timeout runs on), the action, score and every reason, who merged, and what was done
about it (comment, labels, reviewers, operator notified, the task sent back to work on it), and
the last thing a human did about it through the hub (`human`: verb, by, at, reason).
"""
from __future__ import annotations

import re

REVIEWS_DIR = "reviews"
RECORD_MAX = 1 << 20
REASONS_MAX = 200
ACTIONS = ("merge", "advise-merge", "wait", "escalate", "block")
HUMAN_ACTIONS = ("escalate", "block", "advise-merge")   # a PR left with one of these waits for a human
# the fields whose change is a new decision; the rest (when, the notification's outcome) is not
DECISION_KEYS = ("head_sha", "action", "score", "rules", "merged_by", "state", "merging")
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def slug(repo: str) -> str:
    """A file-name-safe name for a repo (`acme/web` → `acme-web`; a path keeps its last parts)."""
    text = _SLUG.sub("-", repo.removesuffix(".git").strip("/")).strip("-.") or "repo"
    return text[-80:].lstrip("-.") or "repo"


def path_of(repo: str, number: int) -> str:
    return f"{REVIEWS_DIR}/{slug(repo)}-{int(number)}.yaml"


def changed(prior: dict | None, doc: dict) -> bool:
    """Whether `doc` records a decision other than `prior` (a new commit is due)."""
    return prior is None or any(prior.get(k) != doc.get(k) for k in DECISION_KEYS) or \
        prior.get("sent_back") != doc.get("sent_back") or prior.get("acted_on") != doc.get("acted_on") or \
        prior.get("human") != doc.get("human")


def problems(doc: object) -> list[str]:
    """What is wrong with a decision record sent to the hub."""
    if not isinstance(doc, dict):
        return ["a review record is a JSON object"]
    out = []
    for key, kind in (("repo", str), ("pull", int), ("head_sha", str), ("action", str), ("score", int),
                      ("rules", list), ("reasons", list), ("why", str), ("url", str)):
        if not isinstance(doc.get(key), kind) or isinstance(doc.get(key), bool):
            out.append(f"{key} is missing or not a {kind.__name__}")
    if doc.get("action") not in ACTIONS:
        out.append(f"action must be one of {', '.join(ACTIONS)}")
    if isinstance(doc.get("reasons"), list) and len(doc["reasons"]) > REASONS_MAX:
        out.append(f"at most {REASONS_MAX} reasons")
    if isinstance(doc.get("repo"), str) and not 0 < len(doc["repo"]) <= 500:
        out.append("repo is 1-500 characters")
    return out


def is_merged(record: dict) -> bool:
    """Whether the record's PR was merged, by the gatekeeper or by anyone else (a human's merge
    is recorded with the forge's merger login and "merged elsewhere")."""
    return bool(record.get("merged_by") or record.get("merged_by_login")
                or str(record.get("closed_by") or "").startswith("merged"))


def is_open(record: dict) -> bool:
    return record.get("state", "open") == "open" and not is_merged(record)


def awaiting(records: list[dict]) -> list[dict]:
    """The open records whose PR waits for a human (escalated, blocked, or to be merged by
    hand), newest decision first."""
    found = [r for r in records if r.get("action") in HUMAN_ACTIONS and is_open(r)]
    return sorted(found, key=lambda r: (str(r.get("decided_at", "")), str(r.get("repo")), r.get("pull", 0)),
                  reverse=True)


def counts(records: list[dict]) -> dict:
    """The status page's pipeline figures: PRs reviewed, merged (by anyone), escalated now."""
    return {"reviewed": len(records), "merged": sum(1 for r in records if is_merged(r)),
            "escalated": sum(1 for r in records if r.get("action") in ("escalate", "block") and is_open(r))}


def escalations(records: list[dict], limit: int = 50) -> list[dict]:
    """The open PRs that wait for a human, newest first, with a link and reasons."""
    return [{"repo": r["repo"], "pull": r["pull"], "url": r.get("url"), "title": r.get("title", ""),
             "action": r["action"], "score": r["score"], "task": r.get("task"), "agent": r.get("agent"),
             "head_sha": r["head_sha"], "decided_at": r.get("decided_at"),
             "reasons": [x.get("explanation", "") for x in r.get("reasons", []) if x.get("severity") != "note"][:10]}
            for r in awaiting(records)[:limit]]
