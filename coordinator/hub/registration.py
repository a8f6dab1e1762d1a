"""Registering and removing agents: the agents/NAME.yaml commit (a batch of the hub's loop) plus
the agent's token (shown once, kept only as a hash); and an agent's self-test task. Used by the
HTTP API and the local CLI."""
from __future__ import annotations

from coordinator.core.agent import registration
from coordinator.hub.batch import Batch
from coordinator.repo.tokens import TokenStore
from coordinator.wire.errors import AgentNotFound


def register(hub, tokens: TokenStore, body: dict, by: str, rotate: bool = False) -> dict:
    """Add or update an agent; a token is made for a new agent, or on `rotate` (old ones revoked).

    Returns {agent, created, token}; token is None when the agent keeps the one it has.
    """
    fields = registration(body)
    agent, created = hub.call(Batch.register_agent, fields, by)
    token = None
    if created or rotate or not tokens.holds("agent", fields["name"]):
        token = tokens.issue("agent", fields["name"], replace=True)
    return {"agent": agent, "created": created, "token": token}


def remove(hub, tokens: TokenStore, name: str, by: str) -> dict:
    """Revoke the agent's tokens first (it can do nothing more), then take it out of agents/."""
    revoked = tokens.revoke("agent", name)
    hub.call(Batch.remove_agent, name, by)
    return {"removed": name, "tokens_revoked": revoked}


SELF_TEST_PROMPT = ("AgentCom self-test: the sidecar answers this task itself (its workdir exists, its "
                    "agent command resolves) without running the agent command.")
SELF_TEST_DEADLINE = "10m"   # never picked up: it goes to dead/ instead of waiting for ever


def self_test(hub, name: str, by: str) -> dict:
    """Queue a self-test task pinned to `name` (urgent, no retries). Only the hub sets its
    `self_test` mark, which a submission can never carry, so no agent or user can make a real
    task look like one and have it answered without being run."""
    def queue(batch: Batch) -> dict:
        if name not in hub.view.agents:
            raise AgentNotFound(name)
        doc = {"title": f"self-test of agent {name}", "prompt": SELF_TEST_PROMPT, "pin": name,
               "priority": "urgent", "max_retries": 0, "deadline": SELF_TEST_DEADLINE}
        return batch.submit(doc, f"self-test by {by}", marks={"self_test": True})
    return hub.call(queue)
