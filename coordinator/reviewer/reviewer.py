"""The reviewer: reads each open pull request opened by an agent through a Forge, judges it with
the pure core (`verdict.review`) and acts on the verdict, then has the hub record the decision.

    merge         with the exact head SHA reviewed; a 409 (the head moved) means review again,
                  never merge what was not reviewed
    escalate      label, request the configured reviewers, one comment with the reasons, tell the
    block         operator; once per head and action (block adds a second, louder label)
    advise-merge  one comment per head: a human merges (auto-merge is off for the repo, or the PR
                  still carries an escalation label: a human was asked, so a later head is theirs)
    wait          nothing but the record, and that only when something changed

A PR its agent can fix (a conflict, a branch behind its base, a failed required check, changes a
reviewer asked for) goes back to its own task, waiting in review, as a new attempt on the same
branch and PR (`reaction.react`), up to the repo's `rework_max`; a PR a human was asked about
stays with that human. A PR merged or closed, by anyone, settles its task (done or cancelled).
PRs are reviewed oldest first, so merges land in task order. Where decisions are kept and tasks
read is a `Book` (`books.py`: the hub in this process, or a running hub over HTTP). Time is an
argument (`clock`), never slept.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from coordinator.core.prrecord import number_in_url, same_pr
from coordinator.core.trailers import squash_message
from coordinator.forge.base import FILES_MAX, ForgeError, HeadMoved, NotMergeable, PrNotFound, PullRequest
from coordinator.gatekeeper import record as records
from coordinator.gatekeeper import rules as rule_file
from coordinator.gatekeeper.reaction import check_log, react, review_comments
from coordinator.gatekeeper.rules import BLOCK_LABEL
from coordinator.gatekeeper.verdict import Action, Checks
from coordinator.gatekeeper.verdict import review as judge
from coordinator.reviewer import alerts
from coordinator.reviewer.options import target_names
from coordinator.wire import names
from coordinator.wire.errors import AgentcomError
from coordinator.wire.times import format_time, parse_time

log = logging.getLogger("agentcom.gatekeeper")
ATTEMPTS = 3            # reviews of one PR in one pass when its head keeps moving
_TASK = re.compile(rf"AgentCom task `({names.PATTERN})`")
_BRANCH = re.compile(rf"agent/({names.PATTERN})/.+")


class Book(Protocol):
    """Where the reviewer reads rules and tasks and keeps its decisions (the hub: single writer)."""

    def rules(self) -> rule_file.Rules: ...
    def task(self, task_id: str) -> dict | None: ...
    def prior(self, repo: str, number: int) -> dict | None: ...
    def record(self, doc: dict) -> bool: ...
    def send_back(self, task_id: str, pr_url: str, rework: dict) -> dict | None: ...
    def settle(self, task_id: str, pr_url: str, *, merged: bool, by: str, merge_sha: str | None = None,
               why: str = "") -> dict | None: ...
    def reviewing(self, repo: str) -> list[dict]: ...
    def open_records(self, repo: str) -> list[dict]: ...


@dataclass(frozen=True)
class Outcome:
    number: int
    action: str
    head_sha: str
    committed: bool
    merged: str | None = None      # the merge commit, when this pass merged
    sent_back: str | None = None   # the task this pass sent back to work on the PR


def agent_of(pr: PullRequest, local: bool, logins: dict) -> str | None:
    """The agent that opened the PR, from who opened it, never from what the PR says about itself
    (labels and text are the agent's to write). On the local forge the author is the agent the
    hub took from its token; on GitHub the author's login must be in `trust.logins`: mapped to one
    agent, or "*" (a login all agents share: the agent is the NAME of its `agent/NAME/...`
    branch, and the task must then be that agent's)."""
    if local:
        return pr.author or None
    mapped = logins.get((pr.author or "").lower())
    if mapped != "*":
        return mapped
    m = _BRANCH.fullmatch(pr.head or "")
    return m.group(1) if m else None


def task_of(pr: PullRequest, agent: str) -> str | None:
    """The task id the PR names, if its branch is that agent's branch for it (a claim, not yet
    believed: see `task_doubt`)."""
    m = _TASK.search(pr.body or "")
    if m and (pr.head == f"agent/{agent}/{m.group(1)}" or pr.head.startswith(f"agent/{agent}/{m.group(1)}-")):
        return m.group(1)
    return None


def task_doubt(task: dict | None, agent: str, repo: str, url: str) -> str | None:
    """Why the task a PR claims is not believed to be its own (None: it is): the task must be held
    (or last run) by the PR's agent, on this repo when it names one, and when it recorded a pull
    request, this one."""
    if not isinstance(task, dict):
        return "the task it names does not exist"
    if task.get("agent") != agent:
        return "the task it names is not held by, nor was it last run by, the agent that opened it"
    if task.get("repo") and task["repo"] != repo:
        return "the task it names is for another repo"
    recorded = (task.get("result") or {}).get("pr_url") if isinstance(task.get("result"), dict) else None
    if recorded and recorded != url:
        return "the task it names recorded another pull request"
    return None


def utcnow() -> datetime:
    return datetime.now(UTC)


class Reviewer:
    """Reviews the PRs of one repository (`remote` as the forge names it, `name` as OWNER/NAME)."""

    def __init__(self, forge, book: Book, remote: str, name: str, *, local: bool = False,
                 clock: Callable[[], datetime] = utcnow, notify_timeout: float = alerts.TIMEOUT,
                 notify_webhook: str | None = None, notify_command: tuple = (), runner=None):
        self.forge, self.book, self.remote, self.name, self.local = forge, book, remote, name, local
        self.clock, self.notify_timeout, self.notify_webhook = clock, notify_timeout, notify_webhook
        self.notify_command = notify_command   # set on the hub's machine: the rules never name a command
        self.names = target_names(remote, name, local=local)
        # the hub's own checks (checkrun.CheckRunner), on the local forge only: offered each head reviewed
        self.offer_checks = runner.offer if runner is not None else lambda *_: []

    def rules(self) -> rule_file.Rules:
        """The rules on main, the `repos:` entry keyed by this target's path or URL filed under its name."""
        return self.book.rules().naming(*self.names)

    def review_all(self) -> list[Outcome]:
        """One pass: first the PRs recorded open, or waited on by a task in review, that are not
        open any more (so an escalation a human merged or closed leaves the status page, and the
        task is settled), then every open PR, oldest first (merges land in task order); a PR that
        fails is logged and the pass goes on."""
        out = []
        open_now = sorted(self.forge.open_prs(), key=lambda p: p.number)
        waited = {number_in_url(t["pr_url"] or "") for t in self.book.reviewing(self.remote)}
        gone = ({r["pull"] for r in self.book.open_records(self.remote)} | waited) - {p.number for p in open_now}
        for number in sorted(n for n in gone if n):
            try:
                self.review(number)
            except PrNotFound:   # a task waits on a PR the forge has never heard of: it ends, with why
                for t in self.book.reviewing(self.remote):
                    if number_in_url(t["pr_url"] or "") == number:
                        self.book.settle(t["id"], t["pr_url"], merged=False, by="agentcom-gatekeeper",
                                         why=f"the forge has no pull request #{number} in {self.name}")
            except AgentcomError as e:
                log.error("gatekeeper: %s#%s not checked: %s", self.name, number, e)
        for pr in open_now:
            try:
                found = self.review(pr.number)
            except AgentcomError as e:  # loop boundary: one PR's failure must not stop the rest
                log.error("gatekeeper: %s#%s not reviewed: %s", self.name, pr.number, e)
                continue
            if found is not None:
                out.append(found)
        return out

    def review_head(self, sha: str) -> list[Outcome]:
        """Review the open PRs whose head is `sha` (a status or check run named only a commit)."""
        found = [self.review(pr.number) for pr in self.forge.open_prs() if pr.head_sha == sha]
        return [o for o in found if o is not None]

    def review(self, number: int) -> Outcome | None:
        """Judge PR `number` and act; None if it is not an open PR by an agent."""
        for _ in range(ATTEMPTS):
            try:
                return self._once(number)
            except HeadMoved:
                log.info("gatekeeper: %s#%s moved while being merged; reviewing its new head", self.name, number)
        raise AgentcomError(f"{self.name}#{number} kept moving through {ATTEMPTS} reviews; next pass")

    def _read(self, number: int, pr: PullRequest):
        """The PR with the files, statuses and check runs of one head (read again if it moved)."""
        for _ in range(ATTEMPTS):
            files = self.forge.pr_files(number)
            statuses, runs = self.forge.statuses(pr.head_sha), self.forge.check_runs(pr.head_sha)
            again = self.forge.get_pr(number)
            if again.head_sha == pr.head_sha:
                return again, files, statuses, runs
            pr = again
        raise HeadMoved(number, pr.head_sha)

    def _once(self, number: int) -> Outcome | None:
        pr = self.forge.get_pr(number)
        if pr.state != "open" or pr.merged:
            self._closed(pr)
            return None
        pr, files, statuses, runs = self._read(number, pr)
        rules = self.rules()
        agent = agent_of(pr, self.local, rules.trust.logins)
        if pr.state != "open" or pr.merged or agent is None:
            return None
        merge = rules.for_repo(self.name)
        self.offer_checks(number, pr.head_sha, merge.checks, statuses)
        prior = self.book.prior(self.remote, number)
        now = self.clock()
        same_head = prior is not None and prior.get("head_sha") == pr.head_sha
        seen_at = parse_time(prior["seen_at"]) if same_head and prior.get("seen_at") else now
        elapsed = max(0, int((now - seen_at).total_seconds()))
        task_id = task_of(pr, agent)
        task = self.book.task(task_id) if task_id else None
        doubt = task_doubt(task, agent, self.remote, pr.url) if task_id else None
        if doubt:
            task_id = task = None   # unsure.no_task: a human looks
        truncated = len(files) >= FILES_MAX or (pr.changed_files is not None and len(files) < pr.changed_files)
        pr_doc = {"number": pr.number, "title": pr.title, "body": pr.body,
                  "head": {"sha": pr.head_sha, "ref": pr.head}, "user": {"login": pr.author}}
        # behind a base that branch protection wants it up to date with: as unmergeable as a conflict
        mergeable = False if pr.mergeable_state == "behind" else pr.mergeable
        v = judge(files, truncated, pr=pr_doc, task=task, agent=agent,
                  checks=Checks(tuple(statuses), tuple(runs), mergeable, elapsed), rules=rules, repo=self.name)
        acted = prior.get("acted_on") if same_head else None
        doc = {"repo": self.remote, "repo_name": self.name, "pull": number, "url": pr.url, "title": pr.title,
               "state": "open", "task": task_id, "agent": agent, "head_sha": v.head_sha, "head": pr.head,
               "seen_at": format_time(seen_at), "decided_at": format_time(now), "action": v.action.value,
               "score": v.score, "why": v.why, "trust": v.trust,
               "rules": list(dict.fromkeys(f.rule for f in v.reasons)) + (["pr.task_claim"] if doubt else []),
               "reasons": [{"rule": f.rule, "severity": f.severity.value, "points": f.points,
                            "explanation": f.explanation, **({"path": f.path} if f.path else {}),
                            **({"line": f.line} if f.line else {})} for f in v.reasons][:200]
                          + ([{"rule": "pr.task_claim", "severity": "note", "points": 0,
                               "explanation": f"the pull request's task was not believed: {doubt}"}] if doubt else []),
               "merged_by": None, "acted_on": acted}
        if prior and prior.get("human"):
            doc["human"] = prior["human"]   # the last thing a human did stays on the record
        held = [label for label in pr.labels if label in (merge.escalation_label, BLOCK_LABEL)]
        reworking, times = _rework_of(task, pr.url)
        changes = self._changes_requested(pr, rules) if task is not None else ""
        gates = [f.rule for f in v.reasons if f.gate] + (["review.changes"] if changes else [])
        away = _since((task or {}).get("rework"), now)
        how = react(gates, behind=pr.mergeable_state == "behind", held=bool(held),
                    task_state=(task or {}).get("state"), reworking=reworking, sent=times, cap=merge.rework_max,
                    away=away, timeout=merge.rework_timeout)
        _steer(doc, how, v.action is Action.MERGE, held, bool(changes))
        ahead = self._older_on_same_files(pr, files, task) if doc["action"] == Action.MERGE.value else None
        if ahead is not None:
            doc.update(action=Action.WAIT.value, why=f"Waiting for #{ahead}, an older task's pull request changing "
                       "the same files, to merge first (merges land in task order)")
            doc["rules"].append("pr.older_first")
        merged = sent = None
        if doc["action"] == Action.MERGE.value:
            merged = self._merge(pr, doc, task, merge)
            again = self.forge.get_pr(number) if merged is None else None
            if again is not None and again.mergeable is not False and again.mergeable_state != "behind":
                # refused for another reason (a protection rule, a review it requires): a human
                doc.update(action=Action.ESCALATE.value, why="Escalated to a human: the forge refused the merge, "
                           "though the branch merges (a protection rule?)")
                doc["rules"].append("checks.refused")
            elif merged is None:   # the forge refused: the branch cannot merge after all
                doc["rules"].append("checks.conflict")
                how = react(["checks.conflict"], behind=False, held=False, task_state=(task or {}).get("state"),
                            reworking=False, sent=times, cap=merge.rework_max)
                _steer(doc, how, False, [], False)
                if not how.send:
                    doc.update(action=Action.ESCALATE.value, why="Escalated to a human: the forge refused the "
                               "merge, the branch cannot merge" + (f" ({how.human})" if how.human else ""))
        if how.send:
            detail = {"conflict": f"{pr.head} conflicts with {pr.base}", "behind": f"{pr.head} is behind {pr.base}",
                      "check": check_log(merge.required_checks, statuses, runs), "changes": changes}[how.send]
            sent = self.book.send_back(task_id, pr.url, {"kind": how.send, "branch": pr.head, "base": pr.base,
                                                         "head_sha": v.head_sha, "detail": detail})
            if sent:
                doc["sent_back"] = {"kind": how.send, "count": times + 1, "at": doc["decided_at"]}
            else:   # the task moved on meanwhile (settled, or sent back by another pass)
                doc["why"] = "Waiting: the task no longer waits on this pull request"
        key = f"{v.head_sha}:{doc['action']}"
        if doc["action"] in (Action.ESCALATE.value, Action.BLOCK.value, Action.ADVISE.value) and acted != key:
            # the comment tells the action taken, which may be milder or louder than the verdict's
            shown = replace(v, action=Action(doc["action"]), why=doc["why"])
            doc["notified"], failed = self._act(pr, shown, doc, merge)
            doc["acted_on"] = key   # even if a step failed: a retry would repeat the steps that worked
            if failed:
                doc["failed"] = failed
        committed = self.book.record(doc)
        if merged:
            self._finished(pr, doc, merged=True, by="agentcom-gatekeeper", merge_sha=merged)
        return Outcome(number, doc["action"], v.head_sha, committed, merged, sent.get("id") if sent else None)

    def _merge(self, pr: PullRequest, doc: dict, task: dict | None, merge) -> str | None:
        """Merge the reviewed head with the task's title and trailers; the merge commit, or None
        when the forge refuses it as not mergeable (HeadMoved: review again)."""
        # the intent first: if this process dies (or the hub fails) after the forge merged,
        # the next pass finds the record open and the PR merged at this head, and credits it
        self.book.record({**doc, "merging": doc["head_sha"]})
        doc["merging"] = doc["head_sha"]
        title, message = squash_message((task or {}).get("title") or pr.title, pr.number, doc["task"], doc["agent"],
                                        doc["head_sha"], "agentcom-gatekeeper")
        try:
            merged = self.forge.merge(pr.number, doc["head_sha"], merge.method, title, message)
        except NotMergeable:
            doc["merging"] = None   # refused: nothing merged, and a human's later merge is theirs
            return None
        doc.update(merged_by="agentcom-gatekeeper", merge_sha=merged, state="closed")
        return merged

    def _older_on_same_files(self, pr: PullRequest, files: list[dict], task: dict | None) -> int | None:
        """An open PR of an older task (by the task's creation, else the PR's number) that changes a
        file this one changes and is not waiting for a human: it merges first, and this one is
        brought up to date after it."""
        mine = {f.get("filename") for f in files} | {f.get("previous_filename") for f in files}
        mine.discard(None)
        order = ((task or {}).get("created_at") or "", pr.number)
        for other in self.forge.open_prs():
            prior = self.book.prior(self.remote, other.number) or {}
            if other.number == pr.number or prior.get("action") in (Action.ESCALATE.value, Action.BLOCK.value) \
                    or "pr.held" in (prior.get("rules") or ()):
                continue
            theirs = self.book.task(prior["task"]) if prior.get("task") else None
            if theirs is None or theirs.get("state") not in ("review", "queued", "assigned", "working") or \
                    (theirs.get("created_at") or "", other.number) >= order:
                continue   # only an older task still on its PR goes first: never an unknown author's
            try:
                changed = {f.get("filename") for f in self.forge.pr_files(other.number)}
            except ForgeError:
                continue
            if changed & mine:
                return other.number
        return None

    def _changes_requested(self, pr: PullRequest, rules) -> str:
        """The changes people asked for on this head (never the agents' own logins), or ""."""
        try:
            found = self.forge.reviews(pr.number)
        except ForgeError as e:
            log.warning("gatekeeper: %s#%s: reviews not read: %s", self.name, pr.number, e)
            return ""
        reviewers = frozenset(r.lower() for r in rules.for_repo(self.name).reviewers)
        return review_comments(found, pr.head_sha, rules.agent_logins() | {(pr.author or "").lower()}, reviewers)

    def _finished(self, pr: PullRequest, doc: dict, *, merged: bool, by: str, merge_sha: str | None = None) -> None:
        """The PR merged or closed: its task (if it waits on it) done or cancelled; once merged,
        the branch of the agent the gatekeeper believed opened it is deleted unless the repo keeps
        them (`delete_branches`). A closed PR's branch is kept: its work is nowhere else."""
        agent = doc.get("agent")
        if merged and agent and pr.head.startswith(f"agent/{agent}/") and \
                self.rules().for_repo(self.name).delete_branches:
            try:
                self.forge.delete_branch(pr.head)
            except ForgeError as e:   # an open PR from the same branch, or the forge refused: kept
                log.warning("gatekeeper: %s#%s: branch %s kept: %s", self.name, pr.number, pr.head, e)
        task_id = doc.get("task") or next((t["id"] for t in self.book.reviewing(self.remote)
                                           if same_pr(t["pr_url"], pr.url)
                                           and pr.head.startswith(f"agent/{t['agent']}/{t['id']}")), None)
        if task_id:
            self.book.settle(task_id, pr.url, merged=merged, by=by, merge_sha=merge_sha,
                             why=doc.get("closed_by") or "")

    def _closed(self, pr: PullRequest) -> None:
        """A PR recorded open is closed: merged by this gatekeeper (its record holds the intent
        to merge this very head, and the forge says it merged: the process died, or the hub
        failed, before the outcome was recorded), or by someone else, or closed unmerged. A PR
        without a record was never decided here: nothing to say."""
        prior = self.book.prior(self.remote, pr.number)
        if prior is None:
            # never decided here (an author the gatekeeper does not review): its task still settles
            self._finished(pr, {}, merged=pr.merged, by=pr.merged_by or "someone on the forge", merge_sha=pr.merge_sha)
            return
        if prior.get("state", "open") != "open":
            # recorded closed already; its task settles now if a crash came between the two
            # (settling is idempotent: a task not waiting on this PR is left alone)
            self._finished(pr, {"task": prior.get("task")}, merged=pr.merged,
                           by=prior.get("merged_by") or pr.merged_by or "someone on the forge", merge_sha=pr.merge_sha)
            return
        now = format_time(self.clock())
        if pr.merged and prior.get("merging") and prior["merging"] == pr.head_sha:
            doc = {**prior, "state": "closed", "decided_at": now, "action": Action.MERGE.value,
                   "merged_by": "agentcom-gatekeeper", "merge_sha": pr.merge_sha, "merged_by_login": pr.merged_by,
                   "closed_by": "merged by the gatekeeper (recorded after the merge, from the forge)"}
            self.book.record(doc)
            self._finished(pr, doc, merged=True, by="agentcom-gatekeeper", merge_sha=pr.merge_sha)
            return
        doc = {**prior, "state": "closed", "decided_at": now, "merged_by_login": pr.merged_by,
               "closed_by": "merged elsewhere" if pr.merged else "closed without the gatekeeper"}
        self.book.record(doc)
        self._finished(pr, doc, merged=pr.merged, by=pr.merged_by or "someone on the forge", merge_sha=pr.merge_sha)

    def _act(self, pr: PullRequest, v, doc: dict, merge) -> tuple[str | None, list[str]]:
        """Tell the PR and the operator: label, reviewers, one comment (and, for a risk, notify).
        A step the forge refuses does not stop the others; returns (the notice's outcome, what
        failed), so the record says what was not done."""
        failed = []

        def step(what: str, call, *args) -> None:
            try:
                call(*args)
            except ForgeError as e:
                log.warning("gatekeeper: %s#%s: %s failed: %s", self.name, pr.number, what, e)
                failed.append(f"{what}: {e}"[:300])

        step("comment", self.forge.comment, pr.number, records.comment(v, branch=pr.head))
        if doc["action"] == Action.ADVISE.value:
            return None, failed
        labels = (merge.escalation_label,) + ((BLOCK_LABEL,) if doc["action"] == Action.BLOCK.value else ())
        step("label", self.forge.add_labels, pr.number, labels)
        reviewers = tuple(r for r in merge.reviewers if r != pr.author)  # an author cannot review their own PR
        step("request reviewers", self.forge.request_reviewers, pr.number, reviewers, merge.team_reviewers)
        notice = {k: doc[k] for k in ("repo_name", "pull", "url", "title", "task", "agent", "head_sha", "action",
                                      "score", "why", "rules", "decided_at")}
        notice["reasons"] = [r["explanation"] for r in doc["reasons"] if r["severity"] != "note"]
        if failed:
            notice["not_done"] = failed
        return alerts.send(self.notify_command, notice, self.notify_timeout, self.notify_webhook), failed


def _steer(doc: dict, how, safe: bool, held: list[str], changes: bool) -> None:
    """The decision after the reaction: wait (its agent is on it, or it is sent back to it), a
    human (the cap, or changes asked on a PR its task does not wait on), or, for a safe PR a
    human was asked about, advice to that human."""
    if how.wait or how.send:
        doc.update(action=Action.WAIT.value, why=f"Waiting: {how.wait}" if how.wait else
                   f"Sent back to its agent {doc['agent']} to fix ({how.send}) on the same branch and pull request")
        doc["rules"].append("pr.reworking" if how.wait else "pr.sent_back")
    elif how.human or changes:
        doc.update(action=Action.ESCALATE.value, why="Escalated to a human: " + (
            how.human or "a reviewer requested changes, and the task is not waiting on this pull request"))
        doc["rules"].append(how.rule if how.human else "review.changes")
    elif safe and held:
        # a human was asked to look at this PR: a later, safe head does not take it back from them
        doc["rules"].append("pr.held")
        doc.update(action=Action.ADVISE.value, why=f"Every gate passes, but the pull request carries {held[0]} "
                   "from an earlier escalation; a human merges, or releases it (`agentcom pr release`) to let "
                   "the gatekeeper merge")


def _since(rework: dict | None, now: datetime) -> float:
    """Seconds since the PR was sent back (0 when unknown)."""
    try:
        return max(0.0, (now - parse_time(rework["at"])).total_seconds()) if rework and rework.get("at") else 0.0
    except ValueError:
        return 0.0


def _rework_of(task: dict | None, url: str) -> tuple[bool, int]:
    """(whether the task is back at work on this very PR, times this PR was sent back)."""
    rework = (task or {}).get("rework") or {}
    if not same_pr(rework.get("url"), url):
        return False, 0
    return True, int(rework.get("count") or 0)
