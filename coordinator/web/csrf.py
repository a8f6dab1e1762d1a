"""Cross-site defence for every request that changes something, checked before its token.

A browser marks each request with `Sec-Fetch-Site` and, on a POST, `Origin`. A change is refused
when either says it comes from another site, and a request a browser marked must also carry the
`X-Agentcom-Request` header, which a cross-site form cannot send and a cross-site script may
send only after a CORS preflight this hub never approves. Clients that are not browsers (the CLI,
sidecars, curl) send none of these and are judged by their token alone. GitHub's webhook
deliveries are exempt: they carry an HMAC signature instead (web/webhooks.py).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import jsonify, request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADER = "X-Agentcom-Request"
WEBHOOK_PATH = "/api/webhooks/github"  # signed with HMAC-SHA256 instead


def refuse_cross_site():
    """A before_request hook: None to go on, or the 403 answer."""
    if request.method in SAFE_METHODS or request.path == WEBHOOK_PATH:
        return None
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site is not None and site not in ("same-origin", "none"):
        return _refused(f"a {site} request cannot change anything on this hub; use the hub's own page, "
                        "the CLI or the API with a token")
    if origin is not None and _netloc(origin) != request.host.lower():
        return _refused(f"requests from {origin[:100]} cannot change anything on this hub "
                        f"(it serves {request.host}); use the hub's own page, the CLI or the API")
    if (site is not None or origin is not None) and not request.headers.get(HEADER):
        return _refused(f"a change sent by a browser must carry the {HEADER} header "
                        "(the status page sends it)")
    return None


def _netloc(origin: str) -> str | None:
    """The host:port an Origin names, lower-cased (names are case-blind); None if it is not a URL."""
    try:
        return urlsplit(origin).netloc.lower()
    except ValueError:  # "http://[::1" and the like
        return None


def _refused(message: str):
    return jsonify(error="CrossSiteRequest", message=message), 403
