"""Registering and removing agents: the agents/NAME.yaml commit (through the hub's loop) plus
the agent's token (shown once, kept only as a hash). Used by the HTTP API and the local CLI."""
from __future__ import annotations

from .agents import registration
from .auth import TokenStore


def register(hub, tokens: TokenStore, body: dict, by: str, rotate: bool = False) -> dict:
    """Add or update an agent; a token is made for a new agent, or on `rotate` (old ones revoked).

    Returns {agent, created, token}; token is None when the agent keeps the one it has.
    """
    fields = registration(body)
    agent, created = hub.call(hub.register_agent, fields, by)
    token = None
    if created or rotate or not tokens.holds("agent", fields["name"]):
        tokens.revoke("agent", fields["name"])
        token = tokens.issue("agent", fields["name"])
    return {"agent": agent, "created": created, "token": token}


def remove(hub, tokens: TokenStore, name: str, by: str) -> dict:
    """Revoke the agent's tokens first (it can do nothing more), then take it out of agents/."""
    revoked = tokens.revoke("agent", name)
    hub.call(hub.remove_agent, name, by)
    return {"removed": name, "tokens_revoked": revoked}
