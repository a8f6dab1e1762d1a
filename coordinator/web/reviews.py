"""JSON API for the gatekeeper's decisions under /api/reviews: read by anyone who can read the
status page, written (one commit per changed decision) with the operator token only, which is
how `agentcom gatekeeper` records through a running hub. So are the moves of tasks waiting in
review on their pull request: settled (merged: done; closed: cancelled) or sent back to work."""
from __future__ import annotations

import re

from flask import Blueprint, g, jsonify, request

from coordinator.core.prrecord import REPO_MAX
from coordinator.gatekeeper.rules import RULES_FILE
from coordinator.hub.batch import Batch
from coordinator.hub.prloop import REWORK_KINDS
from coordinator.web.api import _hub, _json_body
from coordinator.web.auth import requires
from coordinator.wire.errors import UsageError
from coordinator.wire.names import is_name

_NUMBER = re.compile(r"[0-9]{1,9}")

reviews = Blueprint("reviews", __name__, url_prefix="/api/reviews")


@reviews.get("")
def find():
    repo, pull = request.args.get("repo"), request.args.get("pull")
    if repo is not None and not 0 < len(repo) <= 500:
        raise UsageError("repo is 1-500 characters")
    if pull is not None and not _NUMBER.fullmatch(pull):  # not isdigit(): "²" is a digit to it, not to int()
        raise UsageError("pull must be a pull request number")
    found = [r for r in _hub().reviews.every() if (repo is None or r["repo"] == repo)
             and (pull is None or r["pull"] == int(pull))]
    return jsonify(reviews=sorted(found, key=lambda r: str(r.get("decided_at", "")), reverse=True)[:500])


@reviews.post("")
@requires("operator")
def record():
    hub = _hub()
    return jsonify(hub.call(Batch.record_review, _json_body())), 201


@reviews.get("/rules")
def rules():
    data = _hub().read_file(RULES_FILE) or b""
    return jsonify(path=RULES_FILE, text=data.decode(errors="replace"))


@reviews.get("/tasks")
def in_review():
    repo = request.args.get("repo")
    if repo is not None and not 0 < len(repo) <= REPO_MAX:
        raise UsageError(f"repo is 1-{REPO_MAX} characters")
    return jsonify(tasks=_hub().prloop.reviewing(repo))


def _task_and_url(task_id: str, body: dict) -> str:
    if not is_name(task_id):
        raise UsageError("the task id is not a valid id")
    url = body.get("pr_url")
    if not isinstance(url, str) or not 0 < len(url) <= 2000 or not url.isprintable():
        raise UsageError("pr_url must be the pull request's address, 1-2000 characters")
    return url


@reviews.post("/tasks/<task_id>/settle")
@requires("operator")
def settle(task_id):
    body = _json_body()
    url = _task_and_url(task_id, body)
    if not isinstance(body.get("merged"), bool):
        raise UsageError("merged must be true or false")
    texts = {k: body.get(k) or "" for k in ("by", "merge_sha", "why")}
    if any(not isinstance(v, str) or len(v) > 500 for v in texts.values()):
        raise UsageError("by, merge_sha and why are text of at most 500 characters")
    task = _hub().call(Batch.settle_pr, task_id, url, merged=body["merged"], by=texts["by"] or g.who["name"],
                       merge_sha=texts["merge_sha"] or None, why=texts["why"])
    return jsonify(task=task, settled=task is not None)


@reviews.post("/tasks/<task_id>/send-back")
@requires("operator")
def send_back(task_id):
    body = _json_body()
    url = _task_and_url(task_id, body)
    rework = body.get("rework")
    if not isinstance(rework, dict) or rework.get("kind") not in REWORK_KINDS:
        raise UsageError(f"rework must be an object whose kind is one of {', '.join(REWORK_KINDS)}")
    fields = {k: rework.get(k) or "" for k in ("branch", "base", "head_sha", "detail")}
    if any(not isinstance(v, str) for v in fields.values()) or len(fields["detail"]) > 65536 or \
            any(len(fields[k]) > 500 for k in ("branch", "base", "head_sha")):
        raise UsageError("rework's branch, base and head_sha are text of at most 500 characters, detail 65536")
    task = _hub().call(Batch.send_back, task_id, url, {"kind": rework["kind"], **fields}, g.who["name"])
    return jsonify(task=task, sent=task is not None)
