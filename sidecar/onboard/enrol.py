"""An agent's identity on this machine: its registration on the hub and its token, kept in a
private sidecar config. Used by `add-agent` and by the local fleet of `demo` and `smoke`.

A re-run keeps the identity: the token saved in the config is kept while the hub accepts it,
and a new one is made (revoking the old) only when asked, or when the saved one is gone or
refused. A config without a working token is not the agent's home, though: if the agent is
online or holds tasks there, a new token would cut off its sidecar while its runs go on, and
the new sidecar (with no record of them) would run its tasks again; that is refused unless
`take_over`. (The hub's view is read just before the token changes: a sidecar elsewhere that
first comes online in between is not seen.)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from coordinator.wire.atomic import write_bytes
from coordinator.wire.client import HttpBackend
from coordinator.wire.errors import AgentcomError, HubRefused
from sidecar.runtime.config import CONFIG_MAX_BYTES


@dataclass(frozen=True)
class Enrolment:
    agent: dict           # the agent as the hub shows it
    token: str = ""       # its token (never printed)
    created: bool = False
    rotated: bool = False  # a new token replaced the old ones (which no longer work)
    how: str = ""          # one line on where the token came from


class AgentInUse(AgentcomError):
    """The agent runs elsewhere (online, or holding tasks) and this config holds no token the hub
    accepts; carries what the hub shows."""

    def __init__(self, name: str, row: dict, config: Path, why: str):
        self.name, self.row, self.config = name, row, config
        held = ", ".join(row["tasks"]) or "no task"
        self.problem = (f"agent {name} is in use elsewhere: the hub shows it {row['state']} (last heartbeat "
                        f"{row.get('last_heartbeat') or 'never'}) holding {held}, and {why} {config}, so "
                        "its sidecar runs from another machine or config")
        self.fix = (f"run add-agent where it runs (that config keeps its token); or there, `agentcom "
                    f"remove-agent {name}` first (it delivers its reports and stops its runs); or wait until "
                    "it is offline and holds nothing; or give --take-over to move it here anyway: its sidecar "
                    "there is refused from its next call, its runs there go on until stopped, and the tasks "
                    "it holds run again here")
        super().__init__(f"{self.problem}\n  fix: {self.fix}")


def in_use(row: dict) -> bool:
    """Online, or holding tasks: a sidecar somewhere runs (or will run) its work."""
    return row["state"] != "offline" or bool(row["tasks"])


def enrol(api: HttpBackend, fields: dict, config: Path, rotate: bool = False, take_over: bool = False) -> Enrolment:
    """Register (or update) the agent and settle its token; see the module docstring."""
    name = fields["name"]
    row = next((a for a in api.agents() if a["name"] == name), None)
    saved = saved_token(config) if row is not None else None
    ours = saved is not None and token_accepted(api.url, name, saved)
    why = "no token saved in" if saved is None else "the hub refuses the token saved in"
    taken = row is not None and not ours and in_use(row)
    if taken and not take_over:  # checked before anything on the hub changes
        raise AgentInUse(name, row, config, why)
    moved = (f"; taken over from where it ran ({row['state']}, holding {', '.join(row['tasks']) or 'no task'}): "
             "its sidecar there is refused from its next call, and the tasks it held run again here") if taken else ""
    answer = api.register_agent(fields, rotate=rotate)
    if answer["token"]:
        how = ("new agent; token made" if answer["created"] else
               "new token made on request; the old ones are revoked" if rotate else
               "the hub held no token for it; token made")
        return Enrolment(answer["agent"], answer["token"], answer["created"], not answer["created"], how + moved)
    if ours:
        return Enrolment(answer["agent"], saved, False, False, f"identity kept: the token in {config} still works")
    answer = api.register_agent({"name": name}, rotate=True)
    return Enrolment(answer["agent"], answer["token"], False, True,
                     f"{why} {config}: made a new one (the old ones are revoked){moved}")


def token_accepted(hub: str, name: str, token: str) -> bool:
    """Does the hub take this token as agent `name`? (Reads its assignments: changes nothing.)"""
    try:
        HttpBackend(hub, token, timeout=10).assignments(name)
    except HubRefused as e:
        if e.status in (401, 403):
            return False
        raise
    return True


def saved_token(config: Path) -> str | None:
    """The token in an existing config file, if it holds one (a broken file holds none)."""
    try:
        data = config.read_bytes()
        doc = yaml.safe_load(data) if len(data) <= CONFIG_MAX_BYTES else None
    except (OSError, yaml.YAMLError):
        return None
    token = doc.get("token") if isinstance(doc, dict) else None
    return token if isinstance(token, str) and token else None


def write_private(path: Path, text: str) -> None:
    """Mode 0600 from the first byte, written atomically; its folder is made (0700) if missing."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_bytes(path, text.encode(), mode=0o600)
