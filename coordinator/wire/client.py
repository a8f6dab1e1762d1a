"""The hub's HTTP client (`HttpBackend`), used by the CLI, the sidecar and the forges, and
`default_repo()`, where a client looks for the coordination repo on this machine. Standard library
only; the one-shot local coordinator that offers the same verbs without a hub is `coordinator.cli.local`.
"""
from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from coordinator.wire.errors import HubRefused, HubUnavailable

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
        except (http.client.HTTPException, ValueError) as e:  # an answer cut short (a hub killed mid-reply)
            raise HubUnavailable(self.url, f"its answer was cut short or not JSON ({type(e).__name__})") from None

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

    def pr_files(self, number: int) -> list[dict]:
        return self._request("GET", f"/api/prs/{int(number)}/files")["files"]

    def label_pr(self, number: int, labels: list[str]) -> list[str]:
        return self._request("POST", f"/api/prs/{int(number)}/labels", {"labels": labels})["labels"]

    def comment_pr(self, number: int, body: str) -> dict:
        return self._request("POST", f"/api/prs/{int(number)}/comments", {"body": body})

    def status_pr(self, number: int, status: dict) -> dict:
        return self._request("POST", f"/api/prs/{int(number)}/statuses", status)

    def request_reviewers_pr(self, number: int, reviewers: list[str], teams: list[str]) -> dict:
        return self._request("POST", f"/api/prs/{int(number)}/requested_reviewers",
                             {"reviewers": reviewers, "team_reviewers": teams})

    def merge_pr(self, number: int, sha: str, method: str, title: str | None = None,
                 message: str | None = None) -> dict:
        body = {"sha": sha, "merge_method": method}
        body.update({k: v for k, v in (("commit_title", title), ("commit_message", message)) if v is not None})
        return self._request("PUT", f"/api/prs/{int(number)}/merge", body)

    def close_pr(self, number: int) -> dict:
        return self._request("PATCH", f"/api/prs/{int(number)}", {"state": "closed"})

    def unlabel_pr(self, number: int, label: str) -> list[str]:
        name = urllib.parse.quote(label, safe="")
        return self._request("DELETE", f"/api/prs/{int(number)}/labels/{name}")["labels"]

    def delete_pr_head(self, number: int) -> dict:
        return self._request("DELETE", f"/api/prs/{int(number)}/head")

    # what a human does about a pull request (`agentcom pr`), with the operator token

    def pulls(self, repo: str | None = None) -> list[dict]:
        query = urllib.parse.urlencode({"repo": repo}) if repo else ""
        return self._request("GET", "/api/pulls" + (f"?{query}" if query else ""))["pulls"]

    def pull(self, number: int, repo: str | None = None) -> dict:
        query = urllib.parse.urlencode({"repo": repo}) if repo else ""
        return self._request("GET", f"/api/pulls/{int(number)}" + (f"?{query}" if query else ""))

    def act_on_pull(self, number: int, verb: str, reason: str | None = None, repo: str | None = None) -> dict:
        body = {k: v for k, v in (("reason", reason), ("repo", repo)) if v}
        return self._request("POST", f"/api/pulls/{int(number)}/{verb}", body)

    # the gatekeeper's decisions (docs/gatekeeper.md), recorded with the operator token

    def reviews(self, **filters) -> list[dict]:
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        return self._request("GET", "/api/reviews" + (f"?{query}" if query else ""))["reviews"]

    def record_review(self, doc: dict) -> dict:
        return self._request("POST", "/api/reviews", doc)

    def reviewing(self, repo: str) -> list[dict]:
        query = urllib.parse.urlencode({"repo": repo})
        return self._request("GET", f"/api/reviews/tasks?{query}")["tasks"]

    def send_back(self, task_id: str, pr_url: str, rework: dict) -> dict:
        return self._request("POST", f"/api/reviews/tasks/{urllib.parse.quote(task_id)}/send-back",
                             {"pr_url": pr_url, "rework": rework})

    def settle(self, task_id: str, outcome: dict) -> dict:
        return self._request("POST", f"/api/reviews/tasks/{urllib.parse.quote(task_id)}/settle", outcome)

    def gatekeeper_rules(self) -> str:
        return self._request("GET", "/api/reviews/rules")["text"]
