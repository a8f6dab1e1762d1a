"""How a CLI command reaches the coordinator: over HTTP to a running hub, or, when none runs,
by becoming the coordinator for one command (taking the single-writer lock).

Both backends offer the same verbs, so every CLI command is written once.
"""
from __future__ import annotations

import os
from pathlib import Path

from coordinator.repo.lock import WriterLock
from coordinator.repo.repoinit import is_coordination_repo
from coordinator.repo.tokens import TokenStore, read_operator_token
from coordinator.wire.client import HttpBackend, default_repo
from coordinator.wire.errors import CoordinatorBusy, NotARepo


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
