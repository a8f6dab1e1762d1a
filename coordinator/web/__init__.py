"""The hub's HTTP face: `create_app(hub, tokens)` builds the Flask app (served by waitress)."""
from __future__ import annotations

from flask import Flask, current_app, jsonify

from coordinator.web.hosts import trusted_hosts
from coordinator.wire.errors import (
    AgentcomError,
    AgentNotFound,
    IllegalTransition,
    InvalidTask,
    StaleReport,
    TaskNotFound,
    UsageError,
)

MAX_BODY = 256 * 1024  # every request body but GitHub's webhook deliveries (webhooks.MAX_BODY)


def create_app(hub, tokens, *, listen_host: str | None = None, gatekeeper=None,
               webhook_secret: str | None = None) -> Flask:
    """`gatekeeper` is the running GatekeeperService (if any); POST /api/webhooks/github needs
    `webhook_secret` and refuses every delivery without it."""
    from coordinator.web.api import api
    from coordinator.web.csrf import refuse_cross_site
    from coordinator.web.hosts import refuse_foreign_host
    from coordinator.web.metrics import registry_for
    from coordinator.web.pages import pages
    from coordinator.web.prs import prs
    from coordinator.web.pulls import pulls
    from coordinator.web.reviews import reviews
    from coordinator.web.webhooks import Deliveries, webhooks

    app = Flask("agentcom")
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY)
    app.extensions["agentcom.host_names"] = trusted_hosts(listen_host, hub.config.hub.host_names)
    app.json.sort_keys = False
    app.extensions["agentcom.hub"] = hub
    app.extensions["agentcom.tokens"] = tokens
    app.register_blueprint(api)
    app.register_blueprint(prs)
    app.register_blueprint(pulls)
    app.register_blueprint(pages)
    app.register_blueprint(reviews)
    app.register_blueprint(webhooks)
    app.extensions["agentcom.gatekeeper"] = gatekeeper
    app.extensions["agentcom.webhook_secret"] = webhook_secret.encode() if webhook_secret else None
    app.extensions["agentcom.deliveries"] = Deliveries()
    app.extensions["agentcom.metrics"] = registry_for(hub, lambda: app.extensions.get("agentcom.gatekeeper"))
    app.before_request(refuse_foreign_host)
    app.before_request(refuse_cross_site)

    @app.errorhandler(AgentcomError)
    def _agentcom_error(e: AgentcomError):
        from coordinator.forge.base import ForgeError, PrExists

        status = {TaskNotFound: 404, AgentNotFound: 404, InvalidTask: 422, IllegalTransition: 409,
                  StaleReport: 409, UsageError: 400}
        code = next((c for cls, c in status.items() if isinstance(e, cls)), 500)
        if isinstance(e, ForgeError) and e.status:
            code = e.status  # answered as GitHub would: 404 for no such PR, 422 for one already open
        body = {"error": type(e).__name__, "message": str(e)}
        if isinstance(e, InvalidTask):
            body["problems"] = e.problems
        if isinstance(e, PrExists):
            body["number"] = e.number
        return jsonify(body), code

    @app.errorhandler(TimeoutError)
    def _busy(_e):
        return jsonify(error="Busy", message="the hub did not finish this in time; try again"), 503

    @app.errorhandler(Exception)
    def _bug(e: Exception):
        from werkzeug.exceptions import HTTPException

        if isinstance(e, HTTPException):
            return jsonify(error=type(e).__name__, message=e.description), e.code
        current_app.logger.exception("unexpected error")
        return jsonify(error="InternalError", message=f"the hub failed: {type(e).__name__}"), 500

    @app.errorhandler(413)
    def _too_big(_e):
        from flask import request

        return jsonify(error="TooLarge", message=f"request body is over {request.max_content_length} bytes"), 413

    @app.errorhandler(404)
    def _not_found(_e):
        return jsonify(error="NotFound", message="no such endpoint; see docs/http-api.md"), 404

    @app.errorhandler(405)
    def _bad_method(_e):
        return jsonify(error="MethodNotAllowed", message="method not allowed here; see docs/http-api.md"), 405

    return app
