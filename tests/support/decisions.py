"""Gatekeeper decision records shaped as the reviewer writes them, for tests that record them
through a real hub (`POST /api/reviews`)."""
from __future__ import annotations

WHY = {"escalate": "Escalated to a human: touches a protected path (ci)",
       "block": "Blocked: the diff holds a secret; remove it and rotate it",
       "advise-merge": "Every gate passes; auto-merge is off for this repo, a human merges"}


def decision(pull: int, action: str = "escalate", **fields) -> dict:
    """An open record of acme/web's pull request `pull`, decided at 01:MM (MM = pull) on 30 Nov;
    `fields` replace any part of it."""
    doc = {"repo": "acme/web", "repo_name": "acme/web", "pull": pull, "url": f"https://github.com/acme/web/pull/{pull}",
           "title": f"Change number {pull}", "state": "open", "task": f"T-{pull}", "agent": "ada",
           "head": f"agent/ada/T-{pull}-change", "head_sha": "3f9c2b1e" + "0" * 32, "seen_at": "2026-11-30T01:00:00Z",
           "decided_at": f"2026-11-30T01:{pull:02d}:00Z", "action": action, "score": 60,
           "why": WHY.get(action, "Waiting for checks"), "rules": ["protected.ci"], "merged_by": None,
           "acted_on": None,
           "reasons": [{"rule": "protected.ci", "severity": "risk", "points": 50,
                        "explanation": "touches a protected path (ci)", "path": ".github/workflows/ci.yml"},
                       {"rule": "pr.instructions", "severity": "note", "points": 0, "explanation": "ignored"}]}
    return {**doc, **fields}


def record(hub, doc: dict) -> dict:
    status, body = hub.request("POST", "/api/reviews", doc)
    assert status == 201, body
    return body
