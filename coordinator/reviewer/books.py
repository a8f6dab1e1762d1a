"""Where the reviewer keeps its decisions (the reviewer's `Book`): the hub in this process
(`HubBook`), or a running hub over its HTTP API with the operator token (`HttpBook`). Either way
the hub alone commits them."""
from __future__ import annotations

from coordinator.gatekeeper import rules as rule_file
from coordinator.wire.errors import HubRefused, TaskNotFound


class HubBook:
    """Rules from main, tasks from the view, decisions and the moves of tasks in review through the loop."""

    def __init__(self, hub):
        self.hub = hub

    def rules(self) -> rule_file.Rules:
        return rule_file.parse(self.hub.read_file(rule_file.RULES_FILE) or b"")

    def task(self, task_id: str) -> dict | None:
        try:
            return self.hub.show(task_id)["task"]
        except TaskNotFound:
            return None

    def prior(self, repo: str, number: int) -> dict | None:
        return self.hub.reviews.get(repo, number)

    def record(self, doc: dict) -> bool:
        from coordinator.hub.batch import Batch

        return self.hub.call(Batch.record_review, doc)["committed"]

    def send_back(self, task_id: str, pr_url: str, rework: dict) -> dict | None:
        from coordinator.hub.batch import Batch

        return self.hub.call(Batch.send_back, task_id, pr_url, rework, "agentcom-gatekeeper")

    def settle(self, task_id: str, pr_url: str, *, merged: bool, by: str, merge_sha: str | None = None,
               why: str = "") -> dict | None:
        from coordinator.hub.batch import Batch

        return self.hub.call(Batch.settle_pr, task_id, pr_url, merged=merged, by=by, merge_sha=merge_sha, why=why)

    def reviewing(self, repo: str) -> list[dict]:
        return self.hub.prloop.reviewing(repo)

    def open_records(self, repo: str) -> list[dict]:
        return [r for r in self.hub.reviews.every() if r["repo"] == repo and r.get("state", "open") == "open"]


class HttpBook:
    """The same through a running hub's API (`backend` is a client.HttpBackend)."""

    def __init__(self, backend):
        self.backend = backend

    def rules(self) -> rule_file.Rules:
        return rule_file.parse(self.backend.gatekeeper_rules().encode())

    def task(self, task_id: str) -> dict | None:
        try:
            return self.backend.show(task_id)["task"]
        except HubRefused as e:
            if e.status == 404:
                return None
            raise

    def prior(self, repo: str, number: int) -> dict | None:
        found = self.backend.reviews(repo=repo, pull=number)
        return found[0] if found else None

    def record(self, doc: dict) -> bool:
        return self.backend.record_review(doc)["committed"]

    def send_back(self, task_id: str, pr_url: str, rework: dict) -> dict | None:
        return self.backend.send_back(task_id, pr_url, rework).get("task")

    def settle(self, task_id: str, pr_url: str, *, merged: bool, by: str, merge_sha: str | None = None,
               why: str = "") -> dict | None:
        return self.backend.settle(task_id, {"pr_url": pr_url, "merged": merged, "by": by, "merge_sha": merge_sha,
                                             "why": why}).get("task")

    def reviewing(self, repo: str) -> list[dict]:
        return self.backend.reviewing(repo)

    def open_records(self, repo: str) -> list[dict]:
        return [r for r in self.backend.reviews(repo=repo) if r.get("state", "open") == "open"]
