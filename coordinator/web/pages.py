"""The status page: HTML shells from Jinja templates, filled and kept current by hand-written
JavaScript from `/api/state` (static/); and `/metrics` for Prometheus.

No build step and nothing from the network: every file the page needs is served from static/.
Reads are open like the API's; every change the page makes is an API call with the operator
token and the cross-site header (csrf.py).
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template

from coordinator.core.layout import LANES
from coordinator.web.auth import task_id as checked_id
from coordinator.web.metrics import CONTENT_TYPE, exposition

pages = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
                  static_url_path="/assets")

# scripts, styles and images only from this hub; no inline script, no framing by other sites
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


@pages.get("/")
def index():
    return render_template("index.html", lanes=LANES)


@pages.get("/tasks/<task_id>")
def task(task_id):
    return render_template("task.html", task_id=checked_id(task_id), lanes=LANES)


@pages.get("/metrics")
def metrics():
    return Response(exposition(current_app.extensions["agentcom.metrics"]), content_type=CONTENT_TYPE)


@pages.after_app_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response
