"""What a human does about a pull request the hub knows (`agentcom pr`, /api/pulls): list the
open ones, show one, merge its current head, close it, or release it to the gatekeeper again.

A PR of the repo the hub's gatekeeper watches is acted on through that gatekeeper's forge; a
local forge's PR through its record here. Either way the task waiting on it is settled (merged:
done; closed: cancelled, with the reason), the gatekeeper's record of the PR says which human
did what, and the gatekeeper is asked to look at the PR again.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from coordinator.core.trailers import squash_message
from coordinator.forge.base import ForgeError, HeadMoved, NotMergeable, PrNotFound
from coordinator.gatekeeper import rules as rule_file
from coordinator.gatekeeper.rules import BLOCK_LABEL
from coordinator.hub import prmerge, prtarget
from coordinator.hub.batch import Batch
from coordinator.wire.errors import UsageError
from coordinator.wire.times import format_time

log = logging.getLogger("agentcom.pulls")
VERBS = ("merge", "close", "release")
REASON_MAX = 500
REPO_MAX = 500


@dataclass(frozen=True)
class Gate:
    """The gatekeeper running in the hub: its forge, the repo as the forge names it (`remote`)
    and as OWNER/NAME (`name`), and the service to ask for a review."""

    forge: object
    remote: str
    name: str
    local: bool
    service: object = None


def gate_of(service) -> Gate | None:
    if service is None:
        return None
    r = service.reviewer
    return Gate(r.forge, r.remote, r.name, bool(r.local), service)


def check_body(body: dict) -> tuple[str, str | None, str | None]:
    """(reason, repo, sha) of an action's body: {"reason": text ≤ 500, "repo": optional, "sha":
    optional, for a merge: the head the human reviewed, refused (409) if the PR moved since}."""
    unknown = sorted(set(body) - {"reason", "repo", "sha"})
    if unknown:
        raise UsageError(f"unknown field(s) {', '.join(unknown)[:200]}; an action takes reason, repo and sha")
    reason, repo, sha = body.get("reason") or "", body.get("repo"), body.get("sha")
    if not isinstance(reason, str) or len(reason) > REASON_MAX:
        raise UsageError(f"reason is text of at most {REASON_MAX} characters")
    if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", sha)):
        raise UsageError("sha is the 40-character head commit the merge is meant for")
    check_repo(repo)
    return reason.strip(), repo, sha


def check_repo(repo: object) -> None:
    if repo is not None and (not isinstance(repo, str) or not 0 < len(repo) <= REPO_MAX or "\n" in repo):
        raise UsageError(f"repo is the repo's OWNER/NAME or path, 1-{REPO_MAX} characters")


def listing(hub, base_url: str, repo: str | None = None) -> list[dict]:
    """The PRs open or waiting for a human: the gatekeeper's open records and the local forge's
    open PRs, one row each, newest decision first."""
    rows: dict[tuple[str, int], dict] = {}
    for r in hub.reviews.every():
        if r.get("state", "open") == "open":
            rows[(r["repo"], r["pull"])] = _review_row(r)
    for record in hub.prs.find(state="open", limit=10**6):
        key = (record["repo"], record["number"])
        rows[key] = {**_record_row(record, base_url), **{k: v for k, v in rows.get(key, {}).items()
                                                          if v is not None and k != "url"}}
        rows[key]["labels"] = record["labels"]
    found = [row for row in rows.values() if repo is None or repo in (row["repo"], row.get("repo_name"))]
    return sorted(found, key=lambda row: (str(row.get("decided_at") or ""), row["number"]), reverse=True)


def _review_row(r: dict) -> dict:
    return {"repo": r["repo"], "repo_name": r.get("repo_name"), "number": r["pull"], "url": r.get("url"),
            "title": r.get("title", ""), "task": r.get("task"), "agent": r.get("agent"), "action": r["action"],
            "why": r.get("why"), "head_sha": r["head_sha"], "decided_at": r.get("decided_at"),
            "labels": None, "human": r.get("human")}


def _record_row(record: dict, base_url: str) -> dict:
    return {"repo": record["repo"], "repo_name": None, "number": record["number"],
            "url": f"{base_url.rstrip('/')}/api/prs/{record['number']}", "title": record["title"],
            "task": record.get("task"), "agent": record["author"], "action": None, "why": None,
            "head_sha": record["head_sha"], "decided_at": record.get("updated_at"), "labels": record["labels"],
            "human": None}


def _target(hub, gate: Gate | None, number: int, repo: str | None) -> tuple[str, str]:
    """(repo, how) of PR `number`: how is "forge" (the gatekeeper's) or "local" (a record here)."""
    def via(name: str) -> str:
        remote = gate is not None and not gate.local and name in (gate.remote, gate.name)
        return "forge" if remote else "local"

    known = [(row["repo"], row.get("repo_name")) for row in listing(hub, "") if row["number"] == number]
    known = [k for k in known if repo is None or repo in k]
    if len(known) > 1:
        repos = ", ".join(k[0] for k in known)[:300]
        raise UsageError(f"pull request #{number} is open in {len(known)} repos ({repos}); "
                         "name one with repo (--pr-repo on the command line)")
    if known:
        name = known[0][0]
        if via(name) == "local" and not _has_record(hub, number, name):
            raise ForgeError(f"{name}#{number} is not on this hub's local forge and no gatekeeper runs for "
                             f"{name} in this hub; act on it where it lives", 409)
        return name, via(name)
    if gate is not None and not gate.local and repo in (None, gate.remote, gate.name):
        return gate.remote, "forge"
    try:
        record = hub.prs.get(number)
    except PrNotFound:
        raise PrNotFound(number) from None
    if repo is not None and repo != record["repo"]:
        raise PrNotFound(number)
    return record["repo"], "local"


def _has_record(hub, number: int, repo: str) -> bool:
    try:
        return hub.prs.get(number)["repo"] == repo
    except PrNotFound:
        return False


def show(hub, gate: Gate | None, number: int, repo: str | None, base_url: str) -> dict:
    """One PR: its row, what the gatekeeper recorded (reasons), and what the forge says now."""
    name, how = _target(hub, gate, number, repo)
    prior = hub.reviews.get(name, number)
    out = next((row for row in listing(hub, base_url) if row["number"] == number and row["repo"] == name), None)
    if how == "forge":
        pr = gate.forge.get_pr(number)
        out = {**(out or {"repo": name, "repo_name": gate.name, "number": number, "action": None, "why": None,
                          "task": None, "agent": pr.author, "decided_at": None, "human": None}),
               "url": pr.url, "title": pr.title, "state": pr.state, "merged": pr.merged, "head": pr.head,
               "base": pr.base, "head_sha": pr.head_sha, "labels": list(pr.labels), "mergeable": pr.mergeable,
               "reviews": gate.forge.reviews(number)}
    else:
        record = prtarget.with_live(hub.prs.get(number))
        out = {**(out or _record_row(record, base_url)), "state": record["state"],
               "merged": bool(record.get("merged")), "head": record["head"], "base": record["base"],
               "head_sha": record["head_sha"], "labels": record["labels"], "mergeable": record.get("mergeable"),
               "reviews": []}
    out["reasons"] = [x.get("explanation", "") for x in (prior or {}).get("reasons", [])
                      if x.get("severity") != "note"][:50]
    out["human"] = (prior or {}).get("human")
    return out


def act(hub, gate: Gate | None, verb: str, number: int, by: str, reason: str = "", repo: str | None = None,
        sha: str | None = None) -> dict:
    """Merge, close or release PR `number` as `by`; returns what was done."""
    if verb not in VERBS:
        raise UsageError(f"unknown action {verb!r}; use one of {', '.join(VERBS)}")
    name, how = _target(hub, gate, number, repo)
    rules = rule_file.parse(hub.read_file(rule_file.RULES_FILE) or b"")
    ours = gate is not None and name in (gate.remote, gate.name)
    if ours and gate.service is not None:   # an entry keyed by the target's path or URL counts too
        rules = rules.naming(*gate.service.reviewer.names)
    merge = rules.for_repo(gate.name if ours else name)
    prior = hub.reviews.get(name, number)
    done = (_on_forge if how == "forge" else _on_record)(hub, gate, verb, number, by, reason, merge, prior, sha)
    if verb == "merge" and merge.delete_branches:   # a closed PR's branch is kept: its work is nowhere else
        done["branch_deleted"] = _tidy(hub, gate if how == "forge" else None, number, by)
    if prior is not None:
        doc = {**prior, "human": {"verb": verb, "by": by, "at": format_time(hub.clock()), "reason": reason},
               "decided_at": format_time(hub.clock())}
        if verb in ("merge", "close"):
            doc.update(state="closed", closed_by=f"{'merged' if verb == 'merge' else 'closed'} by {by}",
                       merging=None)
            if done.get("merge_sha"):
                doc.update(merge_sha=done["merge_sha"], merged_by_login=by)
        hub.call(Batch.record_review, doc)
    if gate is not None and gate.service is not None:
        gate.service.wanted(number)   # the gatekeeper looks again: a release is decided anew
    return {"repo": name, "number": number, "verb": verb, "by": by, "reason": reason, **done}


def _tidy(hub, gate: Gate | None, number: int, by: str) -> str | None:
    """Delete the agent's branch of a PR just merged; the branch, or None if kept (not an agent's
    branch, gone already, or the forge refused: logged)."""
    try:
        if gate is not None:
            head = gate.forge.get_pr(number).head
            return head if head.startswith("agent/") and gate.forge.delete_branch(head) else None
        head = hub.prs.get(number)["head"]
        return head if head.startswith("agent/") and prmerge.delete_head(hub, number, by)["deleted"] else None
    except ForgeError as e:
        log.warning("pull request #%s: its branch was kept: %s", number, e)
        return None


def _on_forge(hub, gate: Gate, verb: str, number: int, by: str, reason: str, merge, prior, sha=None) -> dict:
    forge = gate.forge
    pr = forge.get_pr(number)
    task = (prior or {}).get("task")
    if verb == "merge":
        if pr.state != "open" or pr.merged:
            raise NotMergeable(number, "it is closed")
        if sha is not None and pr.head_sha != sha:
            raise HeadMoved(number, sha)   # the agent pushed after the human looked: look again
        subject, body = squash_message(pr.title, number, task, (prior or {}).get("agent") or pr.author,
                                       pr.head_sha, by)
        made = forge.merge(number, pr.head_sha, merge.method, subject, body)
        settled = hub.call(Batch.settle_pr, task, pr.url, merged=True, by=by, merge_sha=made) if task else None
        return {"merge_sha": made, "head_sha": pr.head_sha, "task": task, "task_settled": settled is not None}
    if verb == "close":
        forge.close(number)
        settled = hub.call(Batch.settle_pr, task, pr.url, merged=False, by=by, why=reason) if task else None
        return {"task": task, "task_settled": settled is not None}
    for label in (merge.escalation_label, BLOCK_LABEL):
        forge.remove_label(number, label)
    return {"removed": [merge.escalation_label, BLOCK_LABEL]}


def _on_record(hub, gate, verb: str, number: int, by: str, reason: str, merge, prior, sha=None) -> dict:
    record = hub.prs.get(number)
    task = record.get("task")
    was = _task_state(hub, task)
    if verb == "merge":
        if record["state"] != "open":
            raise NotMergeable(number, "it is closed")
        head = prtarget.head_of(record["repo"], record["head"])
        if head is None:
            raise ForgeError(f"{record['repo']} has no branch {record['head']} any more; nothing to merge", 422)
        if sha is not None and head != sha:
            raise HeadMoved(number, sha)
        method = "squash" if merge.method == "rebase" else merge.method  # the local forge cannot rebase
        after = prmerge.merge(hub, number, head, method, by)
        return {"merge_sha": after["merge_sha"], "head_sha": head, "task": task,
                "task_settled": was == "review" and _task_state(hub, task) == "done"}
    if verb == "close":
        hub.call(Batch.close_pr, number, by, reason)
        return {"task": task, "task_settled": was == "review" and _task_state(hub, task) == "cancelled"}
    for label in (merge.escalation_label, BLOCK_LABEL):
        hub.call(Batch.unlabel_pr, number, label, by)
    return {"removed": [merge.escalation_label, BLOCK_LABEL]}


def _task_state(hub, task_id: str | None) -> str | None:
    if not task_id:
        return None
    record = hub.view.get(task_id)
    return record.loc.state.value if record is not None else None
