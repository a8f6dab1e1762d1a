"""[pure] The local forge's pull request records: `prs/N.yaml` on main, written by the hub only.

A record is small and bounded: which repo and branches, the head commit when it was opened,
title, body, author, labels, state, and the comments made on it. The branch itself lives in the
target repo; the record is what makes it a pull request.
"""
from __future__ import annotations

import re

from coordinator.wire.names import PATTERN

PRS_DIR = "prs"
REPO_MAX = 500
BRANCH_MAX = 200
TITLE_MAX = 256
BODY_MAX = 65536
LABELS_MAX = 20
LABEL_MAX = 50
COMMENTS_MAX = 200
COMMENT_MAX = 65536
STATUSES_MAX = 100     # commit statuses kept per record (the newest)
REVIEWERS_MAX = 20
COMMENTS_BYTES_MAX = 1 << 20  # all of a PR's comments together, so a record stays small to serve
NUMBER_MAX = 10**9
STATES = ("open", "closed")
_SHA = re.compile(r"[0-9a-f]{40}")
_BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+-]*")


def path_of(number: int) -> str:
    return f"{PRS_DIR}/{number}.yaml"


def number_of(path: str) -> int | None:
    """N for prs/N.yaml, else None."""
    m = re.fullmatch(rf"{PRS_DIR}/([1-9][0-9]{{0,9}})\.yaml", path)
    return int(m.group(1)) if m else None


def number_in_url(url: str) -> int | None:
    """The PR number at the end of its address: GitHub's .../pull/N, the local forge's .../api/prs/N."""
    m = re.search(r"/(?:pull|pulls|prs)/([1-9][0-9]{0,9})/?$", url or "")
    return int(m.group(1)) if m else None


def same_pr(a: str | None, b: str | None) -> bool:
    """Whether two addresses name one pull request: equal, or the local forge's /api/prs/N through
    two addresses of the same hub (a sidecar's and the gatekeeper's)."""
    if not a or not b:
        return False
    if a == b:
        return True
    na, nb = number_in_url(a), number_in_url(b)
    return na is not None and na == nb and "/api/prs/" in a and "/api/prs/" in b


def is_branch(name: object) -> bool:
    """A branch name git accepts and a shell or a URL cannot misread."""
    return (isinstance(name, str) and 0 < len(name) <= BRANCH_MAX and _BRANCH.fullmatch(name) is not None
            and ".." not in name and "//" not in name and "/." not in name and "@{" not in name
            and not name.endswith((".lock", "/", ".")))


def request_problems(body: object) -> list[str]:
    """What is wrong with a request to open a PR: {repo, head, base, head_sha?, title, body, labels}
    (without a head_sha the hub records the head branch's commit)."""
    if not isinstance(body, dict):
        return ["the request must be a JSON object"]
    known = ("repo", "head", "base", "head_sha", "title", "body", "labels", "task")
    out = [f"unknown field '{k}' (known: {', '.join(known)})" for k in body if k not in known]
    repo = body.get("repo")
    if not isinstance(repo, str) or not 0 < len(repo) <= REPO_MAX or "\n" in repo:
        out.append(f"repo must be the target repo's path or URL, 1-{REPO_MAX} characters")
    for key in ("head", "base"):
        if not is_branch(body.get(key)):
            out.append(f"{key} must be a branch name (letters, digits, . _ / + -; at most {BRANCH_MAX})")
    if body.get("head") == body.get("base"):
        out.append("head and base must be different branches")
    if "head_sha" in body and (not isinstance(body["head_sha"], str) or not _SHA.fullmatch(body["head_sha"])):
        out.append("head_sha must be the head commit's 40-character hex id")
    out += text_problems(body.get("title"), "title", TITLE_MAX, required=True)
    out += text_problems(body.get("body", ""), "body", BODY_MAX)
    out += label_problems(body.get("labels", []))
    task = body.get("task")
    if task is not None and (not isinstance(task, str) or not re.fullmatch(PATTERN, task)):
        out.append("task must be a task id")
    return out


def text_problems(value: object, key: str, limit: int, required: bool = False) -> list[str]:
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        return [f"{key} must be text of {'1' if required else '0'}-{limit} characters"]
    return []


def label_problems(labels: object) -> list[str]:
    if not isinstance(labels, list) or len(labels) > LABELS_MAX:
        return [f"labels must be a list of at most {LABELS_MAX} names"]
    return [f"label {str(x)[:60]!r} must be 1-{LABEL_MAX} characters of one line without commas"
            for x in labels if not isinstance(x, str) or not x.strip() or len(x) > LABEL_MAX
            or any(c in x for c in ",\n\r")]


def new_record(request: dict, number: int, author: str, now: str) -> dict:
    """The record of a PR just opened (the request already checked)."""
    record = {"number": number, "repo": request["repo"], "head": request["head"], "base": request["base"],
              "head_sha": request["head_sha"], "state": "open", "title": request["title"],
              "author": author, "labels": _merge([], request.get("labels", [])),
              "created_at": now, "updated_at": now}
    if request.get("task"):
        record["task"] = request["task"]
    record["body"] = request.get("body", "")
    record["comments"] = []
    return record


def with_labels(record: dict, labels: list[str], now: str) -> dict:
    merged = _merge(record["labels"], labels)
    if len(merged) > LABELS_MAX:
        raise ValueError(f"a pull request holds at most {LABELS_MAX} labels")
    return {**record, "labels": merged, "updated_at": now}


def with_comment(record: dict, author: str, body: str, now: str) -> dict:
    if len(record["comments"]) >= COMMENTS_MAX:
        raise ValueError(f"pull request #{record['number']} already holds {COMMENTS_MAX} comments")
    held = sum(len(c["body"].encode()) for c in record["comments"])
    if held + len(body.encode()) > COMMENTS_BYTES_MAX:
        raise ValueError(f"pull request #{record['number']}'s comments would pass {COMMENTS_BYTES_MAX} bytes in all "
                         f"({held} held); say it in fewer words")
    return {**record, "comments": [*record["comments"], {"author": author, "at": now, "body": body}],
            "updated_at": now}


def with_status(record: dict, status: dict, now: str) -> dict:
    """A commit status (sha, state, context, description, by) added, newest first, bounded."""
    statuses = record.get("statuses") or []
    item = {"id": max([s.get("id", 0) for s in statuses] + [0]) + 1, **status, "created_at": now, "updated_at": now}
    return {**record, "statuses": [item, *statuses][:STATUSES_MAX], "updated_at": now}


def with_reviewers(record: dict, reviewers: list[str], teams: list[str], now: str) -> dict:
    people = _merge(record.get("reviewers") or [], reviewers)
    groups = _merge(record.get("team_reviewers") or [], teams)
    if len(people) > REVIEWERS_MAX or len(groups) > REVIEWERS_MAX:
        raise ValueError(f"a pull request asks at most {REVIEWERS_MAX} reviewers and {REVIEWERS_MAX} teams")
    return {**record, "reviewers": people, "team_reviewers": groups, "updated_at": now}


def with_merge(record: dict, head_sha: str, merge_sha: str, by: str, now: str) -> dict:
    return {**record, "state": "closed", "merged": True, "head_sha": head_sha, "merge_sha": merge_sha,
            "merged_by": by, "merged_at": now, "updated_at": now}


def with_close(record: dict, by: str, why: str, now: str) -> dict:
    """Closed unmerged, with who and why."""
    return {**record, "state": "closed", "closed_by": by, "closed_at": now,
            **({"close_reason": why} if why else {}), "updated_at": now}


def without_label(record: dict, label: str, now: str) -> dict:
    return {**record, "labels": [x for x in record["labels"] if x != label], "updated_at": now}


def with_head_deleted(record: dict, sha: str, by: str, now: str) -> dict:
    """The head branch was deleted from the target (at `sha`, its commit then)."""
    return {**record, "head_deleted": {"sha": sha, "by": by, "at": now}, "updated_at": now}


def record_problems(doc: object, number: int) -> list[str]:
    """Whether a stored record is one the hub wrote for PR `number`."""
    if not isinstance(doc, dict):
        return ["not a mapping"]
    need = ("number", "repo", "head", "base", "head_sha", "state", "title", "author", "labels", "body", "comments")
    out = [f"missing '{k}'" for k in need if k not in doc]
    if not out:
        if doc["number"] != number:
            out.append(f"number {doc['number']!r} does not match its file name")
        if doc["state"] not in STATES:
            out.append(f"state {doc['state']!r} is not one of {', '.join(STATES)}")
    return out


def _merge(old: list[str], new: list[str]) -> list[str]:
    return list(dict.fromkeys([*old, *(x.strip() for x in new)]))


def summary(record: dict) -> dict:
    """A record without its body and comments (the comments counted), for listing many."""
    out = {k: v for k, v in record.items() if k not in ("body", "comments")}
    out["comment_count"] = len(record["comments"])
    return out
