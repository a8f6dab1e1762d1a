"""The hub's side of the local forge: opens, labels and comments on pull request records
(`prs/N.yaml`), each change one commit made in the hub's loop, and reads them back.

Records are read from `prs/` once, into an index kept with the tree id it was read from; the
hub's own writes carry it over, so neither a request nor a new PR walks every record.
"""
from __future__ import annotations

from coordinator.core.trailers import event_message
from coordinator.hub import prtarget
from coordinator.wire.errors import InvalidTask, TaskNotFound, UsageError
from coordinator.forge.base import ForgeError, PrExists, PrNotFound
from coordinator.core.prrecord import (COMMENT_MAX, PRS_DIR, label_problems, new_record, number_of, path_of, record_problems, request_problems, text_problems, with_comment, with_labels, with_merge, with_reviewers, with_status)
from coordinator.core.task import dump_any, load
from coordinator.wire.times import format_time

RECORD_MAX = 16 << 20  # 200 comments at their limit fit; anything bigger was not written by the hub


class NotYours(ForgeError):
    """An agent asked for a change to a pull request that is not its own to make (403)."""

    def __init__(self, agent: str, problem: str):
        self.agent = agent
        super().__init__(f"agent {agent}: {problem}", 403)


class _Index:
    """Every record under prs/ as of one tree of that directory, and the highest number used
    there (by any file, so a number is never given twice)."""

    def __init__(self, tree_id, records: dict[int, dict], top: int):
        self.tree_id, self.records, self.top = tree_id, records, top


def _index(hub) -> _Index:
    git = hub.store.git
    entry = git.get(hub.store.tree, PRS_DIR)
    tree_id = entry.oid if entry else None
    cached = getattr(hub, "_pr_index", None)
    if cached is not None and cached.tree_id == tree_id:
        return cached
    records, top = {}, 0
    for e in git.files(hub.store.tree, PRS_DIR):
        number = number_of(e.path)
        if number is None:
            continue
        top = max(top, number)
        try:
            doc = load(git.read(e.oid), e.path, RECORD_MAX)
        except InvalidTask:
            continue
        if not record_problems(doc, number):
            records[number] = doc
    hub._pr_index = _Index(tree_id, records, top)
    return hub._pr_index


# --- changes (run in the hub's loop through hub.call) -------------------------------------

def open_pr(hub, request: dict, author: str, role: str = "operator") -> dict:
    """Record a new pull request; PrExists if one from the same head is open on that repo, and
    NoCommits or a ForgeError if the target lacks a branch or the head holds nothing new. An
    agent opens one only for a task it holds (or ran last), on that task's repo, from a branch
    of its own; the operator may open any."""
    problems = request_problems(request)
    if problems:
        raise InvalidTask("pull request", problems)
    if role != "operator":
        head_sha = _check_agents_request(hub, request, author)
    else:
        head_sha = prtarget.check_open(request["repo"], request["head"], request["base"])
    request = {**request, "head_sha": request.get("head_sha") or head_sha}
    index = _index(hub)
    for r in index.records.values():
        if r["state"] == "open" and r["repo"] == request["repo"] and r["head"] == request["head"]:
            raise PrExists(request["head"], r["number"])
    number = index.top + 1
    record = new_record(request, number, author, format_time(hub.now()))
    _stage(hub, record, f"pr #{number}: opened {request['head']} → {request['base']}", f"opened by {author}")
    return record


def _check_agents_request(hub, request: dict, agent: str) -> str:
    """The head branch's commit, if an agent may open this PR."""
    task_id = request.get("task")
    if not task_id:
        raise NotYours(agent, "a pull request opened with an agent token must name its task ('task')")
    try:
        task = hub.show(task_id)["task"]
    except TaskNotFound:
        raise NotYours(agent, f"there is no task {task_id}") from None
    if task.get("agent") != agent:
        raise NotYours(agent, f"task {task_id} is not held by this agent, nor was it run by it last")
    if task.get("repo") != request["repo"]:
        raise NotYours(agent, f"repo {request['repo'][:100]!r} is not the repo of task {task_id}")
    # the repo is the task's (the operator's choice), so the hub may look into it now; the
    # branches are checked first, as the forge did before it called
    at = prtarget.check_open(request["repo"], request["head"], request["base"])
    if not request["head"].startswith(f"agent/{agent}/"):
        raise NotYours(agent, f"head {request['head']} is not one of this agent's branches (agent/{agent}/...)")
    # the head commit recorded must be the branch's own, not any sha an agent names
    if request.get("head_sha", at) != at:
        raise InvalidTask("pull request", [f"head_sha is not the commit {request['head']} is at in the repo"])
    return at


def _check_own(hub, number: int, by: str, role: str) -> None:
    """An agent labels and comments only on pull requests it opened; the operator on any."""
    if role != "operator" and get(hub, number)["author"] != by:
        raise NotYours(by, f"pull request #{number} was opened by someone else")


def add_labels(hub, number: int, labels: list, by: str, role: str = "operator") -> dict:
    problems = label_problems(labels)
    if problems:
        raise UsageError("; ".join(problems))
    _check_own(hub, number, by, role)
    try:
        record = with_labels(get(hub, number), labels, format_time(hub.now()))
    except ValueError as e:
        raise UsageError(str(e)) from None
    _stage(hub, record, f"pr #{number}: labels {', '.join(record['labels'])}", f"labelled by {by}")
    return record


def comment(hub, number: int, body: str, by: str, role: str = "operator") -> dict:
    problems = text_problems(body, "body", COMMENT_MAX, required=True)
    if problems:
        raise UsageError("; ".join(problems))
    _check_own(hub, number, by, role)
    try:
        record = with_comment(get(hub, number), by, body, format_time(hub.now()))
    except ValueError as e:
        raise UsageError(str(e)) from None
    _stage(hub, record, f"pr #{number}: comment by {by}", f"commented by {by}")
    return record["comments"][-1]


def set_status(hub, number: int, status: dict, by: str) -> dict:
    """Record a commit status on the PR (statuses of the local forge live in its record)."""
    record = with_status(get(hub, number), {**status, "by": by}, format_time(hub.now()))
    _stage(hub, record, f"pr #{number}: status {status['context']} {status['state']} on {status['sha'][:12]}",
           f"status set by {by}")
    return record["statuses"][0]


def request_reviewers(hub, number: int, reviewers: list, teams: list, by: str) -> dict:
    problems = label_problems(list(reviewers)) + label_problems(list(teams))
    if problems:
        raise UsageError("; ".join(problems))
    try:
        record = with_reviewers(get(hub, number), list(reviewers), list(teams), format_time(hub.now()))
    except ValueError as e:
        raise UsageError(str(e)) from None
    _stage(hub, record, f"pr #{number}: reviewers {', '.join(record['reviewers'] + record['team_reviewers'])}",
           f"requested by {by}")
    return record


def record_merge(hub, number: int, head_sha: str, merge_sha: str, by: str) -> dict:
    """The PR merged (the target repo already holds the merge): closed, with who and which head."""
    record = get(hub, number)
    if record.get("merged"):
        return record
    record = with_merge(record, head_sha, merge_sha, by, format_time(hub.now()))
    _stage(hub, record, f"pr #{number}: merged {head_sha[:12]} into {record['base']}", f"merged by {by}")
    return record


def _stage(hub, record: dict, subject: str, reason: str) -> None:
    index = _index(hub)
    hub.store.stage({path_of(record["number"]): dump_any(record)}, event_message(subject, reason))
    # our own write: carry the index over instead of reading every record again (if the batch
    # is rolled back, prs/ no longer matches this tree id and the index is rebuilt)
    hub._pr_index = _Index(hub.store.git.get(hub.store.tree, PRS_DIR).oid,
                           {**index.records, record["number"]: record}, max(index.top, record["number"]))


# --- reads (any thread) -------------------------------------------------------------------

def get(hub, number: int) -> dict:
    with hub.state_lock:
        found = _index(hub).records.get(number)
    if found is None:
        raise PrNotFound(number)
    return found


def find(hub, *, repo: str | None = None, head: str | None = None, state: str | None = None,
         limit: int = 100) -> list[dict]:
    """Records matching every filter given, newest first."""
    with hub.state_lock:
        records = list(_index(hub).records.values())
    found = [r for r in records if (repo is None or r["repo"] == repo) and (head is None or r["head"] == head)
             and (state is None or r["state"] == state)]
    return sorted(found, key=lambda r: -r["number"])[:limit]
