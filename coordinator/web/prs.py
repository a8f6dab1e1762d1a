"""JSON API for the local forge's pull requests under /api/prs. Opening, labelling and
commenting need an agent or the operator token (an agent's only for its own task and its own
PRs); commit statuses, requesting reviewers, merging, closing, taking a label off and deleting a
head branch need the operator's (an agent must not be able to turn its own checks green, nor
lift an escalation). Each change is one commit made by the hub's loop. What a
PR's branches hold now (head, mergeability, changed files) is read from the target by prtarget,
so the local forge never opens that repo itself."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from coordinator.core.prrecord import STATES, is_branch, label_problems, summary
from coordinator.forge.base import check_status
from coordinator.hub import prtarget
from coordinator.hub.batch import Batch
from coordinator.web.api import _hub, _json_body, nudge_gatekeeper
from coordinator.web.auth import any_role, requires
from coordinator.wire.errors import UsageError

prs = Blueprint("prs", __name__, url_prefix="/api/prs")
LOG_MAX = 8000   # characters of a status's log: what a failing check tells the agent


@prs.get("")
def find():
    args = request.args
    state, head = args.get("state"), args.get("head")
    if state is not None and state not in STATES:
        raise UsageError(f"state must be one of {', '.join(STATES)}")
    if head is not None and not is_branch(head):
        raise UsageError("head must be a branch name")
    repo = args.get("repo")
    if repo is not None and len(repo) > 500:
        raise UsageError("repo is at most 500 characters")
    found = _hub().prs.find(repo=repo, head=head, state=state)
    return jsonify(prs=[summary(r) for r in prtarget.with_heads(found)])


@prs.get("/<int:number>")
def get(number):
    return jsonify(prtarget.with_live(_hub().prs.get(number)))


@prs.get("/<int:number>/files")
def files(number):
    return jsonify(files=prtarget.changed_files(_hub().prs.get(number)))


@prs.post("")
@any_role
def open_pr():
    hub, body, who = _hub(), _json_body(), g.who
    # the target's reads run here, in this request's thread, so a long walk of its history never
    # holds up the loop; in the loop the hub only confirms the head has not moved since
    checked = hub.prs.check_target(body, who["name"], who["role"])
    record = hub.call(Batch.open_pr, body, who["name"], who["role"], checked)
    nudge_gatekeeper(record["repo"], record["number"])
    return jsonify(prtarget.with_live(record)), 201


@prs.post("/<int:number>/labels")
@any_role
def labels(number):
    hub, body = _hub(), _json_body()
    record = hub.call(Batch.label_pr, number, body.get("labels"), g.who["name"], g.who["role"])
    return jsonify(labels=record["labels"])


@prs.post("/<int:number>/comments")
@any_role
def comment(number):
    hub, body = _hub(), _json_body()
    return jsonify(hub.call(Batch.comment_pr, number, body.get("body"), g.who["name"], g.who["role"])), 201



@prs.post("/<int:number>/statuses")
@requires("operator")
def status(number):
    hub, body = _hub(), _json_body()
    item = {"sha": body.get("sha"), "state": body.get("state"), "context": body.get("context"),
            "description": body.get("description") or ""}
    check_status(item["sha"], item["state"], item["context"], item["description"])
    log = body.get("log")   # the local forge's check output (GitHub keeps it in a check run)
    if log is not None:
        if not isinstance(log, str) or len(log) > LOG_MAX:
            raise UsageError(f"log must be text of at most {LOG_MAX} characters")
        item["log"] = log
    answer = hub.call(Batch.set_pr_status, number, item, g.who["name"])
    nudge_gatekeeper(hub.prs.get(number)["repo"], number)
    return jsonify(answer), 201


@prs.post("/<int:number>/requested_reviewers")
@requires("operator")
def reviewers(number):
    hub, body = _hub(), _json_body()
    record = hub.call(Batch.request_pr_reviewers, number, body.get("reviewers") or [],
                      body.get("team_reviewers") or [], g.who["name"])
    return jsonify(reviewers=record["reviewers"], team_reviewers=record["team_reviewers"]), 201


@prs.put("/<int:number>/merge")
@requires("operator")
def merge(number):
    from coordinator.hub.prmerge import merge as merge_pr

    hub, body = _hub(), _json_body()
    record = merge_pr(hub, number, body.get("sha"), body.get("merge_method", "merge"), g.who["name"],
                      body.get("commit_title"), body.get("commit_message"))
    return jsonify(sha=record["merge_sha"], merged=True, message="Pull Request successfully merged")


@prs.patch("/<int:number>")
@requires("operator")
def update(number):
    """GitHub's PATCH of a pull request, for its one change here: {"state": "closed"}."""
    hub, body = _hub(), _json_body()
    unknown = sorted(set(body) - {"state", "reason"})
    if unknown or body.get("state") != "closed":
        raise UsageError('send {"state": "closed"} (and an optional "reason") to close a pull request'
                         + (f"; unknown field(s): {', '.join(unknown)[:200]}" if unknown else ""))
    reason = body.get("reason") or ""
    if not isinstance(reason, str) or len(reason) > 500:
        raise UsageError("reason is text of at most 500 characters")
    record = hub.call(Batch.close_pr, number, g.who["name"], reason)
    return jsonify(prtarget.with_live(record))


@prs.delete("/<int:number>/labels/<path:label>")
@requires("operator")
def unlabel(number, label):
    problems = label_problems([label])
    if problems:
        raise UsageError("; ".join(problems))
    record = _hub().call(Batch.unlabel_pr, number, label, g.who["name"])
    return jsonify(labels=record["labels"])


@prs.delete("/<int:number>/head")
@requires("operator")
def delete_head(number):
    from coordinator.hub.prmerge import delete_head as delete

    return jsonify(delete(_hub(), number, g.who["name"]))
