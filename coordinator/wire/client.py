"""How a CLI command reaches the coordinator: over HTTP to a running hub, or, when none runs,
by becoming the coordinator for one command (taking the single-writer lock).

Both backends offer the same verbs, so every CLI command is written once.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from coordinator.repo.tokens import TokenStore, read_operator_token
from coordinator.wire.errors import CoordinatorBusy, HubRefused, HubUnavailable, NotARepo
from coordinator.repo.lock import WriterLock
from coordinator.repo.repoinit import is_coordination_repo

DEFAULT_REPO = Path("~/.agentcom/hub.git")
TIMEOUT = 30.0


def default_repo() -> Path:
    return Path(os.environ.get("AGENTCOM_REPO") or DEFAULT_REPO).expanduser()


class HttpBackend:
    """The hub's JSON API (docs/http-api.md)."""

    def __init__(self, url: str, token: str | None, timeout: float = TIMEOUT):
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                answer = json.loads(e.read())
            except ValueError:
                answer = {"message": f"HTTP {e.code}"}
            raise HubRefused(e.code, answer.get("message", f"HTTP {e.code}"), answer.get("error")) from None
        except (urllib.error.URLError, OSError) as e:
            raise HubUnavailable(self.url, str(getattr(e, "reason", e))) from None

    def health(self) -> dict:
        return self._request("GET", "/api/health")

    def whoami(self) -> dict:
        return self._request("GET", "/api/whoami")

    def submit(self, doc: dict) -> dict:
        return self._request("POST", "/api/tasks", doc)["task"]

    def status(self) -> dict:
        return self._request("GET", "/api/status")

    def state(self) -> dict:
        return self._request("GET", "/api/state")

    def show(self, task_id: str) -> dict:
        return self._request("GET", f"/api/tasks/{task_id}")

    def history(self, task_id: str) -> list[dict]:
        return self._request("GET", f"/api/tasks/{task_id}/log")["history"]

    def retry(self, task_id: str, lane: str | None = None) -> dict:
        return self._request("POST", f"/api/tasks/{task_id}/retry", {"lane": lane} if lane else {})["task"]

    def cancel(self, task_id: str) -> dict:
        return self._request("POST", f"/api/tasks/{task_id}/cancel", {})["task"]

    def reprioritise(self, task_id: str, lane: str) -> dict:
        return self._request("POST", f"/api/tasks/{task_id}/priority", {"lane": lane})["task"]

    def agents(self) -> list[dict]:
        return self._request("GET", "/api/agents")["agents"]

    def register_agent(self, fields: dict, rotate: bool = False) -> dict:
        return self._request("POST", "/api/agents", {**fields, "rotate_token": rotate})

    def remove_agent(self, name: str) -> dict:
        return self._request("DELETE", f"/api/agents/{name}")

    def self_test(self, name: str) -> dict:
        return self._request("POST", f"/api/agents/{name}/self-test", {})["task"]

    # what a sidecar calls, with its agent token (docs/agent-protocol.md)

    def assignments(self, name: str) -> dict:
        return self._request("GET", f"/api/agents/{name}/assignments")

    def heartbeat(self, name: str, url: str | None, holding: list[dict]) -> dict:
        return self._request("POST", f"/api/agents/{name}/heartbeat",
                             {**({"url": url} if url else {}), "holding": holding})

    def report(self, task_id: str, body: dict) -> dict:
        return self._request("POST", f"/api/tasks/{task_id}/report", body)

    # the local forge's pull requests (docs/git-workflow.md), with an agent or operator token

    def open_pr(self, request: dict) -> dict:
        return self._request("POST", "/api/prs", request)

    def find_prs(self, **filters: str) -> list[dict]:
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        return self._request("GET", "/api/prs" + (f"?{query}" if query else ""))["prs"]

    def get_pr(self, number: int) -> dict:
        return self._request("GET", f"/api/prs/{int(number)}")

    def label_pr(self, number: int, labels: list[str]) -> list[str]:
        return self._request("POST", f"/api/prs/{int(number)}/labels", {"labels": labels})["labels"]

    def comment_pr(self, number: int, body: str) -> dict:
        return self._request("POST", f"/api/prs/{int(number)}/comments", {"body": body})

    def status_pr(self, number: int, status: dict) -> dict:
        return self._request("POST", f"/api/prs/{int(number)}/statuses", status)

    def request_reviewers_pr(self, number: int, reviewers: list[str], teams: list[str]) -> dict:
        return self._request("POST", f"/api/prs/{int(number)}/requested_reviewers",
                             {"reviewers": reviewers, "team_reviewers": teams})

    def merge_pr(self, number: int, sha: str, method: str) -> dict:
        return self._request("PUT", f"/api/prs/{int(number)}/merge", {"sha": sha, "merge_method": method})

    # the gatekeeper's decisions (docs/gatekeeper.md), recorded with the operator token

    def reviews(self, **filters) -> list[dict]:
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        return self._request("GET", "/api/reviews" + (f"?{query}" if query else ""))["reviews"]

    def record_review(self, doc: dict) -> dict:
        return self._request("POST", "/api/reviews", doc)

    def gatekeeper_rules(self) -> str:
        return self._request("GET", "/api/reviews/rules")["text"]


class LocalBackend:
    """No hub runs: open the repo as its coordinator for the length of one call."""

    def __init__(self, repo: Path):
        self.repo = repo

    def _with_hub(self, action):
        from coordinator.hub.hub import Hub

        hub = Hub(self.repo, role="cli")
        try:
            return action(hub)
        finally:
            hub.close()

    def submit(self, doc: dict) -> dict:
        source = f"cli ({os.environ.get('USER', 'local')})"
        return self._with_hub(lambda h: h.call(lambda batch: batch.submit(doc, source)))

    def status(self) -> dict:
        return self._with_hub(lambda h: h.status())

    def state(self) -> dict:
        return self._with_hub(lambda h: h.state())

    def show(self, task_id: str) -> dict:
        return self._with_hub(lambda h: h.show(task_id))

    def history(self, task_id: str) -> list[dict]:
        return self._with_hub(lambda h: h.history(task_id))

    def retry(self, task_id: str, lane: str | None = None) -> dict:
        return self._with_hub(lambda h: h.call(lambda batch: batch.retry(task_id, "cli", lane=lane)))

    def cancel(self, task_id: str) -> dict:
        return self._with_hub(lambda h: h.call(lambda batch: batch.cancel(task_id, "cli")))

    def reprioritise(self, task_id: str, lane: str) -> dict:
        return self._with_hub(lambda h: h.call(lambda batch: batch.reprioritise(task_id, lane, "cli")))

    def agents(self) -> list[dict]:
        return self._with_hub(lambda h: h.agent_list())

    def register_agent(self, fields: dict, rotate: bool = False) -> dict:
        from coordinator.hub.registration import register
        return self._with_hub(lambda h: register(h, TokenStore(self.repo), fields, "cli", rotate))

    def remove_agent(self, name: str) -> dict:
        from coordinator.hub.registration import remove
        return self._with_hub(lambda h: remove(h, TokenStore(self.repo), name, "cli"))


def connect(repo: str | None, hub: str | None):
    """The backend for --repo/--hub: the hub's URL if given or running, else the repo itself."""
    token = os.environ.get("AGENTCOM_TOKEN")
    path = Path(repo).expanduser() if repo else default_repo()
    if hub:
        return HttpBackend(hub, token or read_operator_token(path))
    if not is_coordination_repo(path):
        raise NotARepo(str(path))
    lock = WriterLock(path)
    if lock.is_held_elsewhere():
        url = lock.read_info().get("url")
        if not url:
            raise CoordinatorBusy(str(path), lock.holder())
        return HttpBackend(url, token or read_operator_token(path))
    return LocalBackend(path)
