"""[pure] A git comparison → GitHub's changed-files items, the one shape a PR gatekeeper reads:
{filename, status, additions, deletions, changes, patch?, previous_filename?}.

Statuses follow GitHub: added, removed, modified, renamed, copied, changed (only the file's
mode or type changed), unchanged. `patch` holds the hunks from the first `@@` on, without a
final newline; it is left out for a binary file and for one whose hunks pass PATCH_MAX bytes.
"""
from __future__ import annotations

PATCH_MAX = 1 << 20
_STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied", "T": "changed"}


def github_item(status: str, old_path: str, new_path: str, old_mode: int, new_mode: int,
                additions: int, deletions: int, binary: bool, hunks: str | None) -> dict:
    """One changed file as GitHub lists it."""
    kind = _STATUS.get(status, "modified")
    if kind == "modified" and not hunks and not binary and old_mode != new_mode:
        kind = "changed"
    if kind == "renamed" and old_path == new_path:
        kind = "modified"
    item = {"filename": old_path if kind == "removed" else new_path, "status": kind,
            "additions": 0 if binary else additions, "deletions": 0 if binary else deletions}
    item["changes"] = item["additions"] + item["deletions"]
    if hunks and not binary and len(hunks.encode()) <= PATCH_MAX:
        item["patch"] = hunks[:-1] if hunks.endswith("\n") else hunks
    if kind in ("renamed", "copied"):
        item["previous_filename"] = old_path
    return item
