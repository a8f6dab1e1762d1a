"""Where the reviewer keeps its decisions (the reviewer's `Book`): the hub in this process
(`HubBook`), or a running hub over its HTTP API with the operator token (`HttpBook`). Either way
the hub alone commits them."""
from __future__ import annotations

from coordinator.gatekeeper import rules as rule_file
from coordinator.wire.errors import HubRefused, TaskNotFound


class HubBook:
    """Rules from main, tasks from the view, decisions and follow-up tasks through the loop."""

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

    def follow_up(self, doc: dict) -> str:
        from coordinator.hub.batch import Batch

        return self.hub.call(Batch.submit, doc, "gatekeeper", where="follow-up task")["id"]

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

    def follow_up(self, doc: dict) -> str:
        return self.backend.submit(doc)["id"]

    def open_records(self, repo: str) -> list[dict]:
        return [r for r in self.backend.reviews(repo=repo) if r.get("state", "open") == "open"]
