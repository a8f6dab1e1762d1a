"""[pure] Agents: the registry file each one has in agents/, and its state machine.

An agent's state follows from three facts: is it online (heartbeating), is it blocked (waiting
on a human), and which tasks it holds. `derive` turns those into one state; `ALLOWED` lists the
moves between states, so a change the machine does not expect is a bug caught at once.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum

import jsonschema

from coordinator.core.layout import State
from coordinator.core.task import dump_any, load
from coordinator.wire.errors import InvalidTask
from coordinator.wire.names import PATTERN, is_name

AGENTS_DIR = "agents"
AGENT_MAX_BYTES = 8192


class AgentState(str, Enum):
    OFFLINE = "offline"    # no heartbeat within the grace period
    IDLE = "idle"          # online, holds no task
    ASSIGNED = "assigned"  # holds a task it has not accepted yet
    WORKING = "working"    # runs a task it accepted
    BLOCKED = "blocked"    # runs a task but waits on a human (a prompt, a question)


ALLOWED: dict[AgentState, frozenset[AgentState]] = {
    AgentState.OFFLINE: frozenset({AgentState.IDLE}),
    AgentState.IDLE: frozenset({AgentState.ASSIGNED, AgentState.OFFLINE}),
    AgentState.ASSIGNED: frozenset({AgentState.WORKING, AgentState.IDLE, AgentState.OFFLINE}),
    AgentState.WORKING: frozenset({AgentState.IDLE, AgentState.ASSIGNED, AgentState.BLOCKED,
                                   AgentState.OFFLINE}),
    AgentState.BLOCKED: frozenset({AgentState.WORKING, AgentState.ASSIGNED, AgentState.IDLE,
                                   AgentState.OFFLINE}),
}

REGISTRATION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": f"^{PATTERN}$"},
        "capabilities": {"type": "array", "maxItems": 32, "uniqueItems": True,
                         "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._+-]{0,31}$"}},
        "slots": {"type": "integer", "minimum": 1, "maximum": 32},
        "description": {"type": "string", "maxLength": 200},
    },
}
_REGISTRATION = jsonschema.Draft202012Validator(REGISTRATION_SCHEMA)


@dataclass(frozen=True)
class Agent:
    """One agents/NAME.yaml: who the agent is (set by the operator) and its state (by the hub)."""

    name: str
    capabilities: tuple[str, ...] = ()
    slots: int = 1                       # tasks it may hold at once
    description: str = ""
    state: AgentState = AgentState.OFFLINE
    since: str | None = None             # when it entered `state`
    reason: str | None = None            # why (the blocked reason, the reclaim that took it offline)
    registered_at: str | None = None
    last_assigned_at: str | None = None  # for spreading work fairly
    blocked_on: str | None = None        # the task it is blocked on (only while blocked)

    @property
    def path(self) -> str:
        return agent_path(self.name)

    @property
    def online(self) -> bool:
        return self.state is not AgentState.OFFLINE


def agent_path(name: str) -> str:
    return f"{AGENTS_DIR}/{name}.yaml"


def name_of(path: str) -> str | None:
    """NAME for agents/NAME.yaml, else None."""
    parts = path.split("/")
    if len(parts) == 2 and parts[0] == AGENTS_DIR and parts[1].endswith(".yaml"):
        name = parts[1][: -len(".yaml")]
        return name if is_name(name) else None
    return None


def derive(online: bool, blocked: bool, held: Iterable[State]) -> AgentState:
    """The state that online/blocked and the states of the tasks it holds add up to."""
    if not online:
        return AgentState.OFFLINE
    held = set(held)
    if State.WORKING in held:
        return AgentState.BLOCKED if blocked else AgentState.WORKING
    return AgentState.ASSIGNED if State.ASSIGNED in held else AgentState.IDLE


def check_move(name: str, old: AgentState, new: AgentState) -> None:
    if old is not new and new not in ALLOWED[old]:
        raise AssertionError(f"agent {name}: {old.value} → {new.value} is not an allowed move")


def registration(body: object, where: str = "agent") -> dict:
    """A registration request → {name, and whichever of capabilities, slots, description it
    sets}; InvalidTask lists every problem. An update changes only the fields it names."""
    if not isinstance(body, dict):
        raise InvalidTask(where, ["an agent registration is a mapping with at least a name"])
    found = [f"{'.'.join(map(str, e.absolute_path)) or 'agent'}: {e.message}"
             for e in _REGISTRATION.iter_errors(body)]
    if isinstance(body.get("name"), str) and ".." in body["name"]:
        found.append("name: must not contain '..'")
    if found:
        raise InvalidTask(where, found[:8])
    fields = {k: body[k] for k in ("name", "slots", "description") if k in body}
    if "capabilities" in body:
        fields["capabilities"] = tuple(sorted(body["capabilities"]))
    return fields


def load_agent(data: bytes, path: str) -> Agent:
    """agents/NAME.yaml → Agent; InvalidTask when it is not one the hub wrote."""
    doc = load(data, path, AGENT_MAX_BYTES)
    name = name_of(path)
    known = {"state", "since", "reason", "registered_at", "last_assigned_at", "blocked_on"}
    fields = registration({k: v for k, v in doc.items() if k not in known}, path)
    if fields["name"] != name:
        raise InvalidTask(path, [f"name: '{fields['name']}' does not match the file name"])
    try:
        state = AgentState(doc.get("state", "offline"))
    except ValueError:
        raise InvalidTask(path, [f"state: {doc.get('state')!r} is not an agent state"]) from None
    stamps = {k: doc.get(k) for k in known - {"state"}}
    if any(v is not None and not isinstance(v, str) for v in stamps.values()):
        raise InvalidTask(path, [f"{', '.join(sorted(known - {'state'}))} are text"])
    return Agent(state=state, **fields, **stamps)


def dump_agent(agent: Agent) -> bytes:
    return dump_any({"name": agent.name, "description": agent.description,
                     "capabilities": list(agent.capabilities), "slots": agent.slots,
                     "state": agent.state.value, "since": agent.since, "reason": agent.reason,
                     "registered_at": agent.registered_at, "last_assigned_at": agent.last_assigned_at,
                     "blocked_on": agent.blocked_on})


def moved(agent: Agent, state: AgentState, now: str, reason: str | None,
          blocked_on: str | None = None) -> Agent:
    """The agent in `state` (checked against ALLOWED), stamped when the state changes; blocked
    names the task it waits on."""
    check_move(agent.name, agent.state, state)
    if state is AgentState.BLOCKED:
        blocked_on = blocked_on or agent.blocked_on
        if state is agent.state:
            return replace(agent, reason=reason, blocked_on=blocked_on)
        return replace(agent, state=state, since=now, reason=reason, blocked_on=blocked_on)
    if state is agent.state:
        return agent
    return replace(agent, state=state, since=now, reason=reason, blocked_on=None)
