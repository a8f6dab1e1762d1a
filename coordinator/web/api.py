"""JSON API under /api: reads come from the hub's in-memory view; changes go through its loop.

Changes need the operator token (`Authorization: Bearer TOKEN`, checked in auth.py); what a
sidecar calls needs that agent's own token. Reads need none, which is why the hub listens on
loopback unless told otherwise.
"""
from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, g, jsonify, request

from coordinator.core.layout import LANES
from coordinator.core.prrecord import number_in_url
from coordinator.hub.batch import Batch
from coordinator.hub.registration import register, remove, self_test
from coordinator.web.auth import agent_name, caller, requires, tokens
from coordinator.web.auth import task_id as checked_id
from coordinator.wire.errors import UsageError
from coordinator.wire.jsonbody import read_object
from coordinator.wire.protocol import parse_heartbeat, parse_report

api = Blueprint("api", __name__, url_prefix="/api")


def _hub():
    return current_app.extensions["agentcom.hub"]


def nudge_gatekeeper(repo: str | None, number: int | None) -> None:
    """Ask the hub's own gatekeeper to look at PR `number` of `repo` soon (a PR opened, a status
    posted, a task done with its PR): the local forge sends no webhooks, and waiting for the slow
    poll would leave a PR waiting minutes for nothing."""
    service = current_app.extensions.get("agentcom.gatekeeper")
    if service is not None and number is not None and repo == service.reviewer.remote:
        service.wanted(number)


operator = requires("operator")
agent_only = requires("agent")


def _json_body(optional: bool = False) -> dict:
    """The request's JSON object, read by the one body reader (coordinator/jsonbody.py)."""
    data = request.get_data()
    if optional and not data:
        return {}
    return read_object(data)


@api.get("/health")
def health():
    hub = _hub()
    return jsonify(ok=True, head=hub.head(), repo=hub.repo_path)


@api.get("/whoami")
def whoami():
    """Whose token this is ({role, name}); 401 for none or one the hub does not hold."""
    who = caller()
    if who is None:
        return jsonify(error="Unauthorized", message="the hub does not hold this token (none sent, "
                       "revoked, or made for another hub)"), 401
    return jsonify(role=who["role"], name=who["name"])


@api.get("/status")
def status():
    return jsonify(_hub().status())


@api.get("/state")
def state():
    """The whole picture (coordinator/state.py), cached per version; If-None-Match gets a 304."""
    version, body = _hub().state_body(time.monotonic)
    etag = f'W/"{version}"'
    if etag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    return Response(body, mimetype="application/json", headers={"ETag": etag, "Cache-Control": "no-cache"})


@api.get("/tasks/<task_id>")
def show(task_id):
    return jsonify(_hub().show(checked_id(task_id)))


@api.get("/tasks/<task_id>/log")
def history(task_id):
    return jsonify(history=_hub().history(checked_id(task_id)))


@api.post("/tasks")
@operator
def submit():
    body = _json_body()
    hub = _hub()
    task = hub.call(Batch.submit, body, f"api ({g.who['name']})")
    return jsonify(task=task, id=task["id"]), 201


@api.post("/tasks/<task_id>/retry")
@operator
def retry(task_id):
    hub = _hub()
    lane = _json_body(optional=True).get("lane")
    if lane is not None and lane not in LANES:
        raise UsageError(f"lane must be one of {', '.join(LANES)}")
    return jsonify(task=hub.call(Batch.retry, checked_id(task_id), g.who["name"], lane=lane))


@api.post("/tasks/<task_id>/priority")
@operator
def reprioritise(task_id):
    hub = _hub()
    lane = _json_body().get("lane")
    if lane not in LANES:
        raise UsageError(f"lane must be one of {', '.join(LANES)}")
    return jsonify(task=hub.call(Batch.reprioritise, checked_id(task_id), lane, g.who["name"]))


@api.post("/tasks/<task_id>/cancel")
@operator
def cancel(task_id):
    hub = _hub()
    return jsonify(task=hub.call(Batch.cancel, checked_id(task_id), g.who["name"]))


# --- agents ------------------------------------------------------------------------------

@api.get("/agents")
def agents():
    return jsonify(agents=_hub().agent_list())


@api.post("/agents")
@operator
def add_agent():
    body = _json_body()
    rotate = body.pop("rotate_token", False)
    if not isinstance(rotate, bool):
        raise UsageError("rotate_token must be true or false")
    answer = register(_hub(), tokens(), body, g.who["name"], rotate=rotate)
    return jsonify(answer), 201 if answer["created"] else 200


@api.delete("/agents/<name>")
@operator
def remove_agent(name):
    return jsonify(remove(_hub(), tokens(), agent_name(name), g.who["name"]))


@api.post("/agents/<name>/self-test")
@operator
def agent_self_test(name):
    task = self_test(_hub(), agent_name(name), g.who["name"])
    return jsonify(task=task, id=task["id"]), 201


@api.post("/agents/<name>/heartbeat")
@agent_only
def heartbeat(name):
    return jsonify(_hub().heartbeat(name, parse_heartbeat(_json_body(optional=True))))


@api.get("/agents/<name>/assignments")
@agent_only
def assignments(name):
    return jsonify(_hub().assignments(name))


@api.post("/tasks/<task_id>/report")
@agent_only
def report(task_id):
    hub, r = _hub(), parse_report(_json_body())
    answer = hub.call(Batch.report, g.who["name"], checked_id(task_id), r)
    if answer["state"] == "review":
        nudge_gatekeeper((hub.show(task_id)["task"]).get("repo"), number_in_url(r.pr_url or ""))
    return jsonify(answer)


# --- the pre-receive hook's fast path ------------------------------------------------------

@api.post("/hooks/pre-receive")
@operator
def pre_receive():
    body = _json_body()
    lines, objects = body.get("updates"), body.get("objects")
    if not isinstance(lines, list) or len(lines) > 1000 or not all(isinstance(x, str) for x in lines):
        raise UsageError("updates must be a list of at most 1000 'old new ref' lines")
    if objects is not None and not isinstance(objects, str):
        raise UsageError("objects must be a path or null")
    code, out = _hub().check_push(lines, objects)
    return jsonify(code=code, lines=out)


@api.post("/hooks/proc-receive")
@operator
def proc_receive():
    """A push to refs/for/: its task files checked and queued (or not), answered per ref."""
    lines = _json_body().get("updates")
    if not isinstance(lines, list) or len(lines) > 100 or not all(isinstance(x, str) for x in lines):
        raise UsageError("updates must be a list of at most 100 'old new ref' lines")
    return jsonify(_hub().submit_push(lines))
