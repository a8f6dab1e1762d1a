"""The sidecar's notification endpoint: POST /notify, signed by the hub (docs/sidecar.md).

A notification only wakes the sidecar, which then asks the hub with its own token; so even a
forged one could not make it run anything. Unsigned, stale, or foreign notifications are refused.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from coordinator.wire.jsonbody import BadJson, read_object
from coordinator.wire.protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER, notify_key, verify
from coordinator.wire.webserver import Bounds
from coordinator.wire.webserver import create as create_server

MAX_BODY = 4096
# only the hub calls here, once per change of the agent's work: a few connections are plenty, and
# one peer cannot hold them all (coordinator/webserver.py)
BOUNDS = Bounds(threads=2, connections=64, per_client=16, idle_timeout=10, request_deadline=10,
                max_body=MAX_BODY)


def create_app(agent: str, token: str, on_notify: Callable[[str], None], clock=time.time) -> Flask:
    """`on_notify(event)` runs for each notification that checks out (`event`: its event, or "")."""
    app = Flask("agentcom-sidecar")
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY)
    key = notify_key(token)

    @app.post("/notify")
    def notify():
        body = request.get_data()
        problem = verify(key, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER),
                         body, clock())
        if problem:
            return jsonify(error="Unauthorized", message=f"not a notification from the hub: {problem}"), 401
        doc = read_object(body)  # signed by the hub, and still read by the same rules as any body
        if doc.get("agent") != agent:
            return jsonify(error="Forbidden", message=f"this sidecar serves agent {agent} only"), 403
        event = doc.get("event")
        on_notify(event if isinstance(event, str) else "")
        return jsonify(ok=True), 202

    @app.errorhandler(BadJson)
    def _bad_body(e: BadJson):
        return jsonify(error="BadJson", message=str(e)), 400

    @app.errorhandler(Exception)
    def _other(e: Exception):
        # every answer is JSON: an HTTP error as itself, anything else a 500 without a traceback
        if isinstance(e, HTTPException):
            return jsonify(error=type(e).__name__, message=e.description), e.code
        app.logger.exception("unexpected error")
        return jsonify(error="InternalError", message=f"the sidecar failed: {type(e).__name__}"), 500

    return app


class NotifyServer:
    """The endpoint served by waitress on a thread; `url` is what the hub is told to call."""

    def __init__(self, app: Flask, host: str, port: int, advertise: str | None = None):
        self.server = create_server(app, host, port, BOUNDS, ident="agentcom-sidecar")
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.url = advertise or f"http://{shown}:{self.server.effective_port}/notify"
        self.thread = threading.Thread(target=self._serve, name="sidecar-notify", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.server.run()
        except OSError:
            pass  # closed

    def close(self) -> None:
        self.server.close()
        self.server.task_dispatcher.shutdown()
