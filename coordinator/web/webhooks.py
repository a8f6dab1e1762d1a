"""POST /api/webhooks/github: GitHub's deliveries, verified and turned into reviews.

A delivery is taken only with a valid `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the
configured secret, compared in constant time); with no secret configured every delivery is
refused. A delivery id handled before is answered and ignored (GitHub redelivers), within a
bounded memory; one that was refused (a bad body, a full queue) is not remembered, so its
redelivery is taken. `pull_request`, `status`, `check_run` and `check_suite` events of the
gatekeeper's repo queue a review, and `branch_protection_rule` and `repository_ruleset` a pass
(which looks at the base branch's protection again); anything else is acknowledged and dropped. This endpoint alone
skips the page's cross-site check: its signature is its authentication.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections import OrderedDict

from flask import Blueprint, current_app, jsonify, request

from coordinator.wire.jsonbody import BadJson, Limits, read_object

PATH = "/api/webhooks/github"
# GitHub sends no payload over 25 MB, so up to that a delivery is read, never refused as too big;
# the rest of the API keeps its small bound (web/__init__.py MAX_BODY)
MAX_BODY = 25 * 1024 * 1024
# a PR body is at most 65,536 characters; other strings (a commit message) are bounded by MAX_BODY
LIMITS = Limits(string=None)
DELIVERIES_KEPT = 10000
EVENTS = ("pull_request", "status", "check_run", "check_suite", "branch_protection_rule", "repository_ruleset")
PASS = "all"   # what the gatekeeper service (reviewer/thread.py ALL) takes as "a whole pass"
_SHA = re.compile(r"[0-9a-f]{40}")

webhooks = Blueprint("webhooks", __name__)


class Deliveries:
    """The last DELIVERIES_KEPT delivery ids, oldest forgotten first."""

    def __init__(self, kept: int = DELIVERIES_KEPT):
        self.kept, self._seen, self._lock = kept, OrderedDict(), threading.Lock()

    def first_time(self, delivery: str) -> bool:
        with self._lock:
            if delivery in self._seen:
                return False
            self._seen[delivery] = True
            while len(self._seen) > self.kept:
                self._seen.popitem(last=False)
            return True

    def forget(self, delivery: str) -> None:
        """Not handled after all (refused, or its review could not be queued): a redelivery is taken."""
        with self._lock:
            self._seen.pop(delivery, None)


def signed(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` is `sha256=HEX` of body under secret (constant-time comparison)."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def targets(event: str, payload: dict) -> list:
    """What to review for one event: PR numbers, or head SHAs when the event names no PR."""
    if event in ("branch_protection_rule", "repository_ruleset"):
        return [PASS]   # the base branch's protection may have changed
    if event == "pull_request":
        number = payload.get("number") or (payload.get("pull_request") or {}).get("number")
        return [number] if isinstance(number, int) else []  # a closed PR: its record is closed too
    if event == "status":
        sha = payload.get("sha")
        return [sha] if isinstance(sha, str) and _SHA.fullmatch(sha) else []
    item = payload.get(event) if isinstance(payload.get(event), dict) else {}
    numbers = [p.get("number") for p in item.get("pull_requests") or () if isinstance(p, dict)]
    numbers = [n for n in numbers if isinstance(n, int)]
    sha = item.get("head_sha")
    return numbers or ([sha] if isinstance(sha, str) and _SHA.fullmatch(sha) else [])


@webhooks.post(PATH)
def github():
    secret = current_app.extensions.get("agentcom.webhook_secret")
    if not secret:
        return jsonify(error="Forbidden", message="no webhook secret is configured on this hub; start it with "
                       "--webhook-secret-file FILE, or set webhook_secret_file in its agentcom/local.yaml "
                       "(docs/gatekeeper.md)"), 403
    request.max_content_length = MAX_BODY  # GitHub's payloads, not the API's small bodies
    body = request.get_data(cache=False)
    if not signed(secret, body, request.headers.get("X-Hub-Signature-256")):
        return jsonify(error="Unauthorized", message="X-Hub-Signature-256 does not match the body "
                       "signed with this hub's webhook secret"), 401
    delivery = request.headers.get("X-GitHub-Delivery", "")
    if not 0 < len(delivery) <= 100:
        return jsonify(error="BadRequest", message="X-GitHub-Delivery must name the delivery"), 400
    deliveries = current_app.extensions["agentcom.deliveries"]
    if not deliveries.first_time(delivery):
        return jsonify(delivery=delivery, duplicate=True), 200
    answer = _handle(delivery, request.headers.get("X-GitHub-Event", ""), body)
    if answer[1] >= 400:
        # not handled: a redelivery of the same id (with a good body, or once the queue has room)
        # must be taken, not dropped as a duplicate; the poll covers it too
        deliveries.forget(delivery)
    return answer


def _handle(delivery: str, event: str, body: bytes) -> tuple:
    """The answer to one signed delivery seen for the first time: (response, status[, headers])."""
    service = current_app.extensions.get("agentcom.gatekeeper")
    if event == "ping" or event not in EVENTS:
        return jsonify(delivery=delivery, event=event[:50], ignored=True), 200
    try:
        payload = read_object(body, LIMITS)
    except BadJson as e:
        return jsonify(error="BadJson", delivery=delivery, message=str(e)), 400
    repo = (payload.get("repository") or {}).get("full_name") if isinstance(payload.get("repository"), dict) else None
    if service is None or not isinstance(repo, str) or repo.lower() != service.name.lower():
        return jsonify(delivery=delivery, event=event, ignored=True, message="not the gatekeeper's repository"), 200
    wanted = targets(event, payload)
    queued = [t for t in wanted if service.wanted(t)]
    if len(queued) < len(wanted):
        return jsonify(error="ServiceUnavailable", delivery=delivery, event=event, queued=queued,
                       message="the review queue is full; redeliver later"), 503, {"Retry-After": "60"}
    return jsonify(delivery=delivery, event=event, queued=queued), 202
