"""A forge with no network: pull requests against a bare git repo on the hub's machine. A PR is
a branch pushed to that repo plus a record `prs/N.yaml` in the coordination repo, which only the
hub writes (through its API, POST /api/prs). This forge is a client of that API and nothing
else: the hub checks the branches, and reads the head, mergeability and changed files from the
bare repo as it is now, so a sidecar never loads git's library or anything that writes a repo."""
from __future__ import annotations

from coordinator.core.prrecord import is_branch, label_problems
from coordinator.forge.base import (
    BranchInUse,
    ForgeError,
    HeadMoved,
    NoCommits,
    NotMergeable,
    PrExists,
    PrNotFound,
    PullRequest,
    check_merge_text,
    check_pr_text,
    check_status,
)
from coordinator.wire.client import HttpBackend
from coordinator.wire.errors import HubRefused


class LocalForge:
    """PRs on the bare repo `repo` (as the task names it), recorded through the hub at `hub`,
    for `task` (which the hub requires of an agent's token)."""

    def __init__(self, hub: HttpBackend, repo: str, task: str | None = None):
        self.hub, self.repo, self.task = hub, repo, task

    def open_pr(self, head: str, base: str, title: str, body: str, labels: tuple[str, ...] = ()) -> PullRequest:
        check_pr_text(title, body, labels)
        # no head_sha: the hub checks the branches and records the head branch's commit
        request = {"repo": self.repo, "head": head, "base": base, "title": title, "body": body,
                   "labels": list(labels)}
        if self.task:
            request["task"] = self.task
        try:
            record = self.hub.open_pr(request)
        except HubRefused as e:
            if e.error == "PrExists":
                raise PrExists(head) from None
            if e.error == "NoCommits":
                raise NoCommits(head, base) from None
            if e.error == "ForgeError":  # the target's own answer: no such branch, not a repo
                raise ForgeError(e.message, e.status) from None
            raise ForgeError(f"the hub refused the pull request: {e.message}", e.status) from None
        return self._pr(record)

    def find_open_pr(self, head: str) -> PullRequest | None:
        try:
            found = self.hub.find_prs(repo=self.repo, head=head, state="open")
        except HubRefused as e:
            raise ForgeError(f"the hub refused: {e.message}", e.status) from None
        return self.get_pr(found[0]["number"]) if found else None  # the list holds summaries: read it whole

    def open_prs(self, limit: int = 1000) -> list[PullRequest]:
        try:
            found = self.hub.find_prs(repo=self.repo, state="open")
        except HubRefused as e:
            raise ForgeError(f"the hub refused: {e.message}", e.status) from None
        return [self.get_pr(r["number"]) for r in found[:limit]]  # the list holds summaries

    def get_pr(self, number: int) -> PullRequest:
        return self._pr(self._record(number))

    def _record(self, number: int) -> dict:
        try:
            record = self.hub.get_pr(number)
        except HubRefused as e:
            if e.status == 404:
                raise PrNotFound(number) from None
            raise ForgeError(f"the hub refused: {e.message}", e.status) from None
        if record.get("repo") != self.repo:
            raise PrNotFound(number)  # a PR of another repo is not one of this forge's
        return record

    def pr_files(self, number: int) -> list[dict]:
        self._record(number)
        try:
            return self.hub.pr_files(number)
        except HubRefused as e:
            if e.status == 404:
                raise PrNotFound(number) from None
            raise ForgeError(e.message, e.status) from None

    def add_labels(self, number: int, labels: tuple[str, ...]) -> tuple[str, ...]:
        self._record(number)
        try:
            return tuple(self.hub.label_pr(number, list(labels)))
        except HubRefused as e:
            raise ForgeError(f"the hub refused the labels: {e.message}", e.status) from None

    def comment(self, number: int, body: str) -> None:
        self._record(number)
        try:
            self.hub.comment_pr(number, body)
        except HubRefused as e:
            raise ForgeError(f"the hub refused the comment: {e.message}", e.status) from None

    def statuses(self, sha: str) -> list[dict]:
        """The statuses recorded on `sha` in any of this repo's open PR records, newest first."""
        try:
            found = self.hub.find_prs(repo=self.repo)
        except HubRefused as e:
            raise ForgeError(f"the hub refused: {e.message}", e.status) from None
        # GitHub's shape: who posted a status is its `creator.login` (the hub records it as `by`)
        items = [{**s, "creator": {"login": s.get("by")}} for r in found for s in r.get("statuses") or ()
                 if s.get("sha") == sha]
        return sorted(items, key=lambda s: (s.get("updated_at", ""), s.get("id", 0)), reverse=True)

    def check_runs(self, sha: str) -> list[dict]:
        return []  # check runs are a GitHub App's; a local CI reports commit statuses

    def set_status(self, sha: str, state: str, context: str, description: str = "", log: str | None = None) -> dict:
        """As the Forge's, with `log`: a check's output, kept on the status (what its agent is told)."""
        check_status(sha, state, context, description)
        try:
            found = self.hub.find_prs(repo=self.repo, state="open")
        except HubRefused as e:
            raise ForgeError(f"the hub refused: {e.message}", e.status) from None
        target = next((r for r in found if r["head_sha"] == sha), None)  # the hub lists heads as they are now
        if target is None:
            raise ForgeError(f"no open pull request of {self.repo} has {sha[:12]} as its head", 422)
        try:
            return self.hub.status_pr(target["number"], {"sha": sha, "state": state, "context": context,
                                                         "description": description,
                                                         **({"log": log} if log is not None else {})})
        except HubRefused as e:
            raise ForgeError(f"the hub refused the status: {e.message}", e.status) from None

    def request_reviewers(self, number: int, reviewers: tuple[str, ...], teams: tuple[str, ...] = ()) -> None:
        self._record(number)
        if not reviewers and not teams:
            return
        try:
            self.hub.request_reviewers_pr(number, list(reviewers), list(teams))
        except HubRefused as e:
            raise ForgeError(f"the hub refused the reviewers: {e.message}", e.status) from None

    def merge(self, number: int, sha: str, method: str, title: str | None = None, message: str | None = None) -> str:
        check_merge_text(title, message)
        self._record(number)
        try:
            return self.hub.merge_pr(number, sha, method, title, message)["sha"]
        except HubRefused as e:
            if e.status == 409:
                raise HeadMoved(number, sha) from None
            if e.status == 405:
                raise NotMergeable(number, e.message) from None
            raise ForgeError(f"the hub refused the merge: {e.message}", e.status) from None

    def close(self, number: int) -> PullRequest:
        self._record(number)
        try:
            return self._pr(self.hub.close_pr(number))
        except HubRefused as e:
            raise ForgeError(f"the hub refused to close it: {e.message}", e.status) from None

    def remove_label(self, number: int, label: str) -> None:
        problems = label_problems([label])
        if problems:
            raise ForgeError("; ".join(problems), 422)
        self._record(number)
        try:
            self.hub.unlabel_pr(number, label)
        except HubRefused as e:
            raise ForgeError(f"the hub refused: {e.message}", e.status) from None

    def delete_branch(self, branch: str) -> bool:
        """Through the record of the closed PR whose head it is: the hub deletes only such a
        branch (never a base, never an open PR's head), so one with no closed PR is refused."""
        if not is_branch(branch):
            raise ForgeError(f"{str(branch)[:80]!r} is not a branch name", 422)
        try:
            found = self.hub.find_prs(repo=self.repo, head=branch)
        except HubRefused as e:
            raise ForgeError(f"the hub refused: {e.message}", e.status) from None
        opened = [r["number"] for r in found if r["state"] == "open"]
        if opened:
            raise BranchInUse(branch, f"it is the head of open pull request #{opened[0]}; close it first")
        if not found:
            raise BranchInUse(branch, "the local forge deletes only the head branch of a merged or closed "
                                      "pull request, and no pull request of this repo has it as its head")
        try:
            return bool(self.hub.delete_pr_head(found[0]["number"])["deleted"])
        except HubRefused as e:
            if e.error == "BranchInUse":
                raise BranchInUse(branch, e.message) from None
            raise ForgeError(f"the hub refused to delete {branch}: {e.message}", e.status) from None

    def reviews(self, number: int) -> list[dict]:
        self._record(number)
        return []  # the local forge has no reviews: its humans act through `agentcom pr`

    def _pr(self, record: dict) -> PullRequest:
        """A record as the hub serves it: head_sha, mergeable and changed_files as they are now."""
        mergeable = record.get("mergeable")
        return PullRequest(number=record["number"], url=f"{self.hub.url}/api/prs/{record['number']}",
                           state=record["state"], head=record["head"], head_sha=record["head_sha"],
                           base=record["base"], title=record["title"], body=record["body"],
                           author=record["author"], labels=tuple(record["labels"]), mergeable=mergeable,
                           merged=bool(record.get("merged")), changed_files=record.get("changed_files"),
                           mergeable_state={True: "clean", False: "dirty"}.get(mergeable),
                           merged_by=record.get("merged_by"), merge_sha=record.get("merge_sha"))
