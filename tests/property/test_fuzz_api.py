"""Fuzzing the HTTP API of a real hub on 127.0.0.1 (`agentcom.py hub`, one per module): hostile
but well-formed JSON bodies to POST /api/tasks, and a registered agent's report and heartbeat
bodies. Never a 5xx, always a JSON answer, never a traceback; every accepted task is queued
and can be read back; the hub still answers /api/health afterwards.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, example, given, settings

from coordinator.repo.repoinit import init_repo
from tests.support.fleet_api import holding
from tests.support.hostile import heartbeat_bodies, report_bodies, task_bodies
from tests.support.processes import HubProcess

QUICK = settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                          HealthCheck.large_base_example])


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A hub with one agent holding one task it accepted (so reports reach the hub's logic)."""
    repo, _ = init_repo(tmp_path_factory.mktemp("fuzz-api") / "hub.git")
    hub = HubProcess(repo)
    try:
        token, held, attempt = holding(hub, "fz")
        yield {"hub": hub, "token": token, "task": held, "attempt": attempt}
        status, health = hub.request("GET", "/api/health")
        assert status == 200 and health["ok"]
    finally:
        out = hub.stop()
    assert "Traceback" not in out, out[-3000:]


def _post(hub, path: str, body: str, token: str | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(hub.url + path, data=body.encode("utf-8"), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {token or hub.token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode("utf-8")
    assert status < 500, (status, text[:500], body[:300])
    assert "Traceback" not in text and 'File "' not in text, text[:500]
    answer = json.loads(text)
    assert isinstance(answer, dict) and (status < 400 or answer.get("error")), (status, answer)
    return status, answer


@QUICK
@given(task_bodies())
@example('{"prompt": "hi", "scope": ["**/[z-a]"]}')
@example('{"prompt": "hi\\u0000", "id": "\\ud800"}')
@example('{"prompt": "hi", "metadata": {"n": 1e400, "m": ' + "[" * 30 + "]" * 30 + "}}")
def test_any_task_body_is_queued_or_refused_with_a_json_reason(live, body):
    hub = live["hub"]
    status, answer = _post(hub, "/api/tasks", body)
    if status == 201:
        shown = hub.request("GET", f"/api/tasks/{answer['id']}")
        assert shown[0] == 200 and shown[1]["state"] == "queued" and shown[1]["task"] == answer["task"]
    else:
        assert status in (400, 409, 413, 422), (status, answer)


@QUICK
@given(report_bodies(attempt=1))
def test_any_report_body_is_applied_or_refused_with_a_json_reason(live, body):
    body = body.replace('"attempt":1', f'"attempt":{live["attempt"]}', 1)
    _post(live["hub"], f"/api/tasks/{live['task']}/report", body, live["token"])


@QUICK
@given(heartbeat_bodies())
def test_any_heartbeat_body_is_applied_or_refused_with_a_json_reason(live, body):
    _post(live["hub"], "/api/agents/fz/heartbeat", body, live["token"])
