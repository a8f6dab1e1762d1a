"""JSON API for what a human does about pull requests, under /api/pulls, with the operator token
only: list the open ones, show one, merge, close or release one (coordinator/hub/pulls.py does
the work; this is its HTTP face)."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from coordinator.hub import pulls as human
from coordinator.web.api import _hub, _json_body
from coordinator.web.auth import requires

pulls = Blueprint("pulls", __name__, url_prefix="/api/pulls")


def _gate():
    return human.gate_of(current_app.extensions.get("agentcom.gatekeeper"))


def _base() -> str:
    return request.url_root.rstrip("/")


@pulls.get("")
@requires("operator")
def find():
    repo = request.args.get("repo")
    human.check_repo(repo)
    return jsonify(pulls=human.listing(_hub(), _base(), repo)[:1000])


@pulls.get("/<int:number>")
@requires("operator")
def show(number):
    repo = request.args.get("repo")
    human.check_repo(repo)
    return jsonify(human.show(_hub(), _gate(), number, repo, _base()))


@pulls.post("/<int:number>/<any(merge, close, release):verb>")
@requires("operator")
def act(number, verb):
    reason, repo, sha = human.check_body(_json_body(optional=True))
    return jsonify(human.act(_hub(), _gate(), verb, number, g.who["name"], reason, repo, sha))
