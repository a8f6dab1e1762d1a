"""JSON API for the gatekeeper's decisions under /api/reviews: read by anyone who can read the
status page, written (one commit per changed decision) with the operator token only, which is
how `agentcom gatekeeper` records through a running hub."""
from __future__ import annotations

import re

from flask import Blueprint, jsonify, request

from coordinator.gatekeeper.rules import RULES_FILE
from coordinator.hub.batch import Batch
from coordinator.web.api import _hub, _json_body
from coordinator.web.auth import requires
from coordinator.wire.errors import UsageError

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
