"""Which `Host` a hub answers to. On a loopback address only loopback names (any spelling:
`localhost` in any case, 127.x.y.z, `[::1]`, with or without a port) and the names configured
in `hub.host_names` (a proxy's), so a web page whose own name was made to point at 127.0.0.1
(DNS rebinding) cannot read the state or the task prompts through the user's browser. On any
other address every name is answered: put a proxy that checks names in front.
"""
from __future__ import annotations

import ipaddress
import re

from flask import current_app, jsonify, request

_PORT = re.compile(r"(:[0-9]{0,5})?")


def is_loopback(host: str) -> bool:
    """Whether a host name or address (no port; brackets allowed) can only mean this machine."""
    name = host.lower().rstrip(".")
    if name == "localhost":
        return True
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def trusted_hosts(listen_host: str | None, also: str = "") -> frozenset[str] | None:
    """The names, besides every loopback spelling, that a hub listening on `listen_host`
    answers to; None (every name) when it does not listen on loopback."""
    if listen_host is None or not is_loopback(listen_host):
        return None
    return frozenset({"localhost", *(n.strip().lower() for n in also.split(",") if n.strip())})


def host_name(header: str) -> str | None:
    """The name in a Host header, lower-cased, without its port; None when it is malformed."""
    if header.startswith("["):
        name, bracket, rest = header[1:].partition("]")
        if not bracket or not _PORT.fullmatch(rest) or not _is_ipv6(name):
            return None
        return f"[{name.lower()}]"
    if header.count(":") > 1:  # a bare IPv6 address, which cannot carry a port
        return f"[{header.lower()}]" if _is_ipv6(header) else None
    name, colon, port = header.partition(":")
    if not name or not _PORT.fullmatch(colon + port):
        return None
    return name.lower()


def allowed(header: str, names: frozenset[str]) -> bool:
    name = host_name(header)
    return name is not None and (is_loopback(name) or name.rstrip(".") in names)


def refuse_foreign_host():
    """A before_request hook: None to go on, or the 400 answer."""
    names = current_app.extensions["agentcom.host_names"]
    header = request.headers.get("Host")
    if names is None or header is None or allowed(header, names):
        return None  # no Host at all is an HTTP/1.0 client such as a health probe; browsers always send one
    return jsonify(error="SecurityError", message=f"Host '{header[:100]}' is not trusted: this hub listens "
                   "on loopback and answers only to loopback names and hub.host_names"), 400


def _is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False
