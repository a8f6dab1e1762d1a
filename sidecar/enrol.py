"""An agent's identity on this machine: its registration on the hub and its token, kept in a
private sidecar config. Used by `add-agent` and by the local fleet of `demo` and `smoke`.

A re-run keeps the identity: the token saved in the config is kept while the hub accepts it,
and a new one is made (revoking the old) only when asked, or when the saved one is gone or
refused.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from coordinator.client import HttpBackend
from coordinator.errors import HubRefused

from .config import CONFIG_MAX_BYTES


@dataclass(frozen=True)
class Enrolment:
    agent: dict           # the agent as the hub shows it
    token: str = ""       # its token (never printed)
    created: bool = False
    rotated: bool = False  # a new token replaced the old ones (which no longer work)
    how: str = ""          # one line on where the token came from


def enrol(api: HttpBackend, fields: dict, config: Path, rotate: bool = False) -> Enrolment:
    """Register (or update) the agent and settle its token; see the module docstring."""
    answer = api.register_agent(fields, rotate=rotate)
    if answer["token"]:
        how = ("new agent; token made" if answer["created"] else
               "new token made on request; the old ones are revoked" if rotate else
               "the hub held no token for it; token made")
        return Enrolment(answer["agent"], answer["token"], answer["created"], not answer["created"], how)
    saved = saved_token(config)
    if saved is not None and token_accepted(api.url, fields["name"], saved):
        return Enrolment(answer["agent"], saved, False, False, f"identity kept: the token in {config} still works")
    answer = api.register_agent({"name": fields["name"]}, rotate=True)
    why = f"no token saved in {config}" if saved is None else f"the hub refuses the token saved in {config}"
    return Enrolment(answer["agent"], answer["token"], False, True, f"{why}: made a new one (the old ones are revoked)")


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
    """Mode 0600 from the first byte; written beside, fsynced, then moved into place, so a crash
    leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.lock")
    tmp.unlink(missing_ok=True)  # left by a crash: one writer per agent's config
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
