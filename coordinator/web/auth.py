"""Who a request comes from, and what it may do: the Bearer token read from the Authorization
header, the role check (operator or agent; an agent token acts only as its own agent), and the
check of task ids and agent names in a request's path (the rule and message of wire/names.py).
"""
from __future__ import annotations

import functools

from flask import current_app, g, jsonify, request

from coordinator.wire import names

_HINTS = {"operator": "agentcom reads it from AGENTCOM_TOKEN or the repo's agentcom/operator.token",
          "agent": "the agent's token was shown once by `agentcom agent register`"}


def tokens():
    return current_app.extensions["agentcom.tokens"]


def bearer() -> str | None:
    """The token in this request's `Authorization: Bearer TOKEN` header, if it has one."""
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else None


def caller() -> dict | None:
    """The {role, name} of this request's token, or None for none or one the hub does not hold
    (checked on every request, so a revoked token stops working at once)."""
    return tokens().check(bearer())


def requires(role: str):
    """Refuse the request unless it carries a token of `role`; an agent token acts only as its
    own agent (the view's `name` argument)."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            who = caller()
            if who is None:
                return jsonify(error="Unauthorized", message=f"this needs {_a(role)} token: "
                               f"send 'Authorization: Bearer TOKEN' ({_HINTS[role]})"), 401
            if who["role"] != role:
                return jsonify(error="Forbidden", message=f"{_a(who['role'])} token cannot do this; "
                               f"it needs the {role} role"), 403
            if role == "agent" and kwargs.get("name", who["name"]) != who["name"]:
                return jsonify(error="Forbidden", message=f"this token belongs to agent "
                               f"{who['name']}; it cannot act as {kwargs['name']}"), 403
            g.who = who
            return view(*args, **kwargs)
        return wrapper
    return decorate


def any_role(view):
    """An agent or an operator token; the view reads whose it is from `g.who`."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        who = caller()
        if who is None:
            return jsonify(error="Unauthorized", message="this needs an agent or operator token: send "
                           "'Authorization: Bearer TOKEN'"), 401
        g.who = who
        return view(*args, **kwargs)
    return wrapper


def task_id(value: str) -> str:
    """`value` if it is a task id; UsageError (400) naming the rule if not."""
    return names.require(value, "a task id")


def agent_name(value: str) -> str:
    """`value` if it is an agent name; UsageError (400) naming the rule if not."""
    return names.require(value, "an agent name")


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word
