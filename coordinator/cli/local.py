"""How a CLI command reaches the coordinator: over HTTP to a running hub, or, when none runs,
by becoming the coordinator for one command (taking the single-writer lock).

Both backends offer the same verbs, so every CLI command is written once. A hub that is still
starting is waited for (HUB_START_WAIT), and so is another one-shot command (ONE_SHOT_WAIT):
neither is a reason to fail (repo/lock.py).
"""
from __future__ import annotations

import os
from pathlib import Path

import click

from coordinator.repo.lock import HUB, HUB_START_WAIT, ONE_SHOT_WAIT, WriterLock
from coordinator.repo.repoinit import is_coordination_repo
from coordinator.repo.tokens import TokenStore, read_operator_token
from coordinator.wire.client import HttpBackend, default_repo
from coordinator.wire.errors import CoordinatorBusy, NotARepo


def say(line: str) -> None:
    """What the command is waiting for, on standard error (standard output is its answer)."""
    click.echo(f"agentcom: {line}", err=True)


class LocalBackend:
    """No hub runs: open the repo as its coordinator for the length of one call."""

    def __init__(self, repo: Path, command: str = "agentcom"):
        self.repo, self.command = repo, command

    def _with_hub(self, action, verb: str, *args):
        """`action(hub)` as the coordinator; if a hub took the lock since we looked, the same
        `verb(*args)` through it instead."""
        from coordinator.hub.hub import Hub

        try:
            hub = Hub(self.repo, role="cli", wait=ONE_SHOT_WAIT, say=say, command=self.command)
        except CoordinatorBusy as e:
            url = WriterLock(self.repo).serving(HUB_START_WAIT, say=say) if e.role == HUB else None
            if url is None:
                raise
            token = os.environ.get("AGENTCOM_TOKEN") or read_operator_token(self.repo)
            return getattr(HttpBackend(url, token), verb)(*args)
        try:
            return action(hub)
        finally:
            hub.close()

    def submit(self, doc: dict) -> dict:
        source = f"cli ({os.environ.get('USER', 'local')})"
        return self._with_hub(lambda h: h.call(lambda batch: batch.submit(doc, source)), "submit", doc)

    def status(self) -> dict:
        return self._with_hub(lambda h: h.status(), "status")

    def state(self) -> dict:
        return self._with_hub(lambda h: h.state(), "state")

    def show(self, task_id: str) -> dict:
        return self._with_hub(lambda h: h.show(task_id), "show", task_id)

    def history(self, task_id: str) -> list[dict]:
        return self._with_hub(lambda h: h.history(task_id), "history", task_id)

    def retry(self, task_id: str, lane: str | None = None) -> dict:
        return self._with_hub(lambda h: h.call(lambda batch: batch.retry(task_id, "cli", lane=lane)),
                              "retry", task_id, lane)

    def cancel(self, task_id: str) -> dict:
        return self._with_hub(lambda h: h.call(lambda batch: batch.cancel(task_id, "cli")), "cancel", task_id)

    def reprioritise(self, task_id: str, lane: str) -> dict:
        return self._with_hub(lambda h: h.call(lambda batch: batch.reprioritise(task_id, lane, "cli")),
                              "reprioritise", task_id, lane)

    def agents(self) -> list[dict]:
        return self._with_hub(lambda h: h.agent_list(), "agents")

    def register_agent(self, fields: dict, rotate: bool = False) -> dict:
        from coordinator.hub.registration import register
        return self._with_hub(lambda h: register(h, TokenStore(self.repo), fields, "cli", rotate),
                              "register_agent", fields, rotate)

    def remove_agent(self, name: str) -> dict:
        from coordinator.hub.registration import remove
        return self._with_hub(lambda h: remove(h, TokenStore(self.repo), name, "cli"), "remove_agent", name)


def connect(repo: str | None, hub: str | None):
    """The backend for --repo/--hub: the hub's URL if given or running (or starting: then wait for
    it to serve), else the repo itself."""
    token = os.environ.get("AGENTCOM_TOKEN")
    path = Path(repo).expanduser() if repo else default_repo()
    if hub:
        return HttpBackend(hub, token or read_operator_token(path))
    if not is_coordination_repo(path):
        raise NotARepo(str(path))
    url = WriterLock(path).serving(HUB_START_WAIT, say=say)
    if url:
        return HttpBackend(url, token or read_operator_token(path))
    return LocalBackend(path, _command())


def _command() -> str:
    """This command as typed, without its arguments ("agentcom submit"), for the lock's record."""
    context = click.get_current_context(silent=True)
    words = context.command_path.split()[1:] if context is not None else []
    return " ".join(["agentcom", *words])
