"""JSON API under /api: reads come from the hub's in-memory view; changes go through its loop.

Changes need the operator token (`Authorization: Bearer TOKEN`); reads need none, which is why
the hub listens on loopback unless told otherwise.
"""
from __future__ import annotations

import functools

from flask import Blueprint, current_app, g, jsonify, request

from ..errors import UsageError
from ..layout import LANES, is_safe_name

api = Blueprint("api", __name__, url_prefix="/api")


def _hub():
    return current_app.extensions["agentcom.hub"]


def operator(view):
    """Refuse the request unless it carries an operator token."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else None
        who = current_app.extensions["agentcom.tokens"].check(token)
        if who is None:
            return jsonify(error="Unauthorized", message="this needs an operator token: "
                           "send 'Authorization: Bearer TOKEN' (agentcom reads it from "
                           "AGENTCOM_TOKEN or the repo's agentcom/operator.token)"), 401
        if who["role"] != "operator":
            return jsonify(error="Forbidden", message=f"a {who['role']} token cannot do this; "
                           "it needs the operator role"), 403
        g.who = who
        return view(*args, **kwargs)
    return wrapper


def _task_id(task_id: str) -> str:
    if not is_safe_name(task_id):
        raise UsageError(f"'{task_id[:80]}' is not a task id (letters, digits, . _ -; at most 64)")
    return task_id


def _json_body(optional: bool = False) -> dict:
    if optional and not request.get_data():
        return {}
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise UsageError("the request body must be a JSON object")
    return body


@api.get("/health")
def health():
    hub = _hub()
    return jsonify(ok=True, head=str(hub.store.base), repo=hub.repo_path)


@api.get("/status")
def status():
    return jsonify(_hub().status())


@api.get("/tasks/<task_id>")
def show(task_id):
    return jsonify(_hub().show(_task_id(task_id)))


@api.get("/tasks/<task_id>/log")
def history(task_id):
    return jsonify(history=_hub().history(_task_id(task_id)))


@api.post("/tasks")
@operator
def submit():
    body = _json_body()
    hub = _hub()
    task = hub.call(hub.submit, body, f"api ({g.who['name']})")
    return jsonify(task=task, id=task["id"]), 201


@api.post("/tasks/<task_id>/retry")
@operator
def retry(task_id):
    hub = _hub()
    lane = _json_body(optional=True).get("lane")
    if lane is not None and lane not in LANES:
        raise UsageError(f"lane must be one of {', '.join(LANES)}")
    return jsonify(task=hub.call(hub.retry, _task_id(task_id), g.who["name"], lane=lane))


@api.post("/tasks/<task_id>/cancel")
@operator
def cancel(task_id):
    hub = _hub()
    return jsonify(task=hub.call(hub.cancel, _task_id(task_id), g.who["name"]))
