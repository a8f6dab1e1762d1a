"""What a fuzzer or an attacker sends to the hub's API and a sidecar's /notify, through real servers
on 127.0.0.1: bodies that Python's json takes but we must not, bad query strings and headers,
loopback Host names spelt every way. Every answer is JSON with a status under 500."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.wire.jsonbody import MAX_DEPTH, BadJson, read_object
from coordinator.wire.protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER, notify_key, sign, verify
from sidecar.runtime.server import NotifyServer, create_app
from tests.support.fleet_api import register
from tests.support.processes import HubProcess

HOSTILE = {  # body → words the refusal must say
    b"[" * 1000 + b"]" * 1000: "nests deeper than",
    b'{"a":' * 2000 + b"1" + b"}" * 2000: "nests deeper than",
    b'{"prompt": "' + b"[" * 5000 + b'"}': None,  # brackets inside a string are text: not refused as deep
    b'{"prompt": "x\\ud800y"}': "lone UTF-16 surrogate",
    b'{"prompt": "\\udfff"}': "lone UTF-16 surrogate",
    b'{"prompt": "a", "prompt": "b"}': "appears twice",
    b'{"prompt": "a", "max_retries": NaN}': "NaN is not a JSON number",
    b'{"prompt": "a", "max_retries": -Infinity}': "Infinity is not a JSON number",
    b'{"prompt": "a", "max_retries": 1e999}': "too large",
    b'{"prompt": "a", "max_retries": ' + b"9" * 5000 + b"}": "more than 20 digits",
    b'{"prompt": "a", "max_retries": ' + b"9" * 21 + b"}": "more than 20 digits",
    b'{"prompt": "' + b"a" * 140000 + b'"}': "longer than 131072 characters",
    b'{"prompt": "\xed\xa0\x80"}': "not UTF-8",
    b'{"prompt": "\xff"}': "not UTF-8",
    b"[1, 2]": "must be a JSON object, not an array",
    b'"a string"': "must be a JSON object, not a string",
    b"{'prompt': 1}": "not JSON",
    b"": "not JSON",
}


def send(url: str, method: str, path: str, body: bytes | None, headers: dict | None = None,
         host: str | None = None) -> tuple[int, dict, bytes]:
    """One request over a fresh socket, bytes as given (no client library tidying them up):
    (status, headers, body)."""
    address = url.split("//", 1)[1]
    name, _, port = address.rpartition(":")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host if host is not None else address}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body is not None and "Content-Length" not in (headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection((name.strip("[]"), int(port)), timeout=30) as s:
        s.sendall("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + (body or b""))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    answer_headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), answer_headers, payload


def json_answer(answer) -> tuple[int, dict]:
    status, headers, payload = answer
    assert headers["content-type"].startswith("application/json"), (status, payload[:200])
    return status, json.loads(payload)


def test_hostile_json_bodies_are_refused_400_naming_the_problem_on_every_endpoint(hub):
    agent = register(hub, "ada")
    operator = {"Authorization": f"Bearer {hub.token}"}
    endpoints = [("POST", "/api/tasks", operator), ("POST", "/api/agents", operator),
                 ("POST", "/api/agents/ada/heartbeat", {"Authorization": f"Bearer {agent}"}),
                 ("POST", "/api/tasks/T-1/report", {"Authorization": f"Bearer {agent}"}),
                 ("POST", "/api/prs", operator), ("POST", "/api/reviews", operator),
                 ("POST", "/api/tasks/T-1/priority", operator), ("PUT", "/api/prs/1/merge", operator)]
    for method, path, headers in endpoints:
        for body, words in HOSTILE.items():
            if words is None or (body == b"" and path.endswith("heartbeat")):
                continue  # an empty heartbeat is a heartbeat
            status, answer = json_answer(send(hub.url, method, path, body, headers))
            assert (status, answer["error"]) == (400, "BadJson"), (path, body[:40], answer)
            assert words in answer["message"], (path, body[:40], answer["message"])
    status, answer = json_answer(send(hub.url, "POST", "/api/tasks", b'{"prompt": "' + b"[" * 5000 + b'"}', operator))
    assert status == 201, answer
    assert "Traceback" not in hub.stop()


def test_a_date_or_duration_out_of_range_is_refused_as_invalid_not_a_crash(hub):
    for deadline in ("0000-01-01T00:00:00Z", 10**15, "99999999999d", "10000-01-01T00:00:00Z"):
        status, answer = hub.request("POST", "/api/tasks", {"prompt": "p", "deadline": deadline})
        assert status == 422 and "deadline" in answer["message"], answer


def test_a_date_pushed_past_the_range_by_its_offset_is_refused_as_invalid_not_a_crash(hub):
    for deadline in ("9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"):
        status, answer = hub.request("POST", "/api/tasks", {"prompt": "p", "deadline": deadline})
        assert status == 422 and "deadline" in answer["message"], answer


def test_bad_query_strings_and_headers_get_a_json_400_never_a_crash(hub):
    operator = {"Authorization": f"Bearer {hub.token}"}
    for query in ("pull=%C2%B2", "pull=-1", "pull=1e3", "pull=" + "9" * 30):
        assert json_answer(send(hub.url, "GET", f"/api/reviews?{query}", None))[0] == 400, query
    for origin in ("http://[::1", "http://[zz]:1", "\xff"):  # not a URL: refused as cross-site, not a crash
        status, answer = json_answer(send(hub.url, "POST", "/api/tasks", b'{"prompt": "p"}',
                                          {**operator, "Origin": origin}))
        assert (status, answer["error"]) == (403, "CrossSiteRequest"), origin
    status, answer = json_answer(send(hub.url, "GET", "/api/whoami", None, {"Authorization": "Bearer \xff\xfe"}))
    assert status == 401
    # what waitress refuses before the app sees it is JSON too
    assert json_answer(send(hub.url, "POST", "/api/tasks", b"{}", {**operator, "Content-Length": "-1"}))[0] == 400
    assert "Traceback" not in hub.stop()


def test_a_loopback_hub_answers_to_every_spelling_of_loopback_and_no_other_name(hub):
    for host in ("localhost", "LOCALHOST", "LocalHost:{port}", "127.0.0.1", "127.3.2.1:{port}", "[::1]",
                 "[::1]:{port}", "::1", "[0:0:0:0:0:0:0:1]:{port}", "localhost.", "localhost:"):
        status, answer = json_answer(send(hub.url, "GET", "/api/health", None, host=host.format(port=hub.port)))
        assert (status, answer.get("ok")) == (200, True), host
    for host in ("evil.example", "127.0.0.1.evil.example", "localhost.evil.example", "[::2]", "[::1",
                 "127.0.0.1:port", "", "0x7f.0.0.1", "2130706433", "127.1", "[127.0.0.1]"):
        status, answer = json_answer(send(hub.url, "GET", "/api/health", None, host=host))
        assert (status, answer["error"]) == (400, "SecurityError"), host


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_a_hub_on_ipv6_loopback_answers_its_own_requests(repo):
    from tests.support.processes import agentcom

    hub = HubProcess(repo, host="::1")
    try:
        assert hub.url.startswith("http://[::1]:")
        status, answer = json_answer(send(hub.url, "GET", "/api/health", None))
        assert (status, answer["ok"]) == (200, True)
        assert hub.request("POST", "/api/tasks", {"prompt": "over IPv6"})[0] == 201
        assert agentcom("status", "--hub", hub.url, check=True).returncode == 0
        assert json_answer(send(hub.url, "GET", "/api/health", None, host="evil.example"))[0] == 400
    finally:
        hub.stop()


# --- the sidecar's /notify ------------------------------------------------------------------

@pytest.fixture
def notify_endpoint():
    woken = threading.Event()
    server = NotifyServer(create_app("ada", "acm_ag_ada-token", lambda event: woken.set()), "127.0.0.1", 0)
    yield server, woken
    server.close()
    server.thread.join(timeout=5)


def _signed(body: bytes) -> dict:
    stamp = int(time.time())
    return {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(notify_key("acm_ag_ada-token"), stamp, body)}


def test_the_notify_endpoint_answers_hostile_input_with_json_under_500(notify_endpoint):
    server, woken = notify_endpoint
    url, path = server.url.rsplit("/", 1)[0], "/notify"
    good = b'{"agent": "ada", "event": "assignments"}'
    for stamp in ("9" * 401, "-" + "9" * 401, "1_000", "1e3", "12 34"):
        status, answer = json_answer(send(url, "POST", path, good, {**_signed(good), TIMESTAMP_HEADER: stamp}))
        assert status == 401 and "whole number of seconds" in answer["message"], stamp
    status, answer = json_answer(send(url, "POST", path, good, {**_signed(good), SIGNATURE_HEADER: "sha256=\xff\xfe"}))
    assert status == 401 and "bad signature" in answer["message"]
    for body, words in HOSTILE.items():
        if len(body) > 4096 or words is None:
            continue
        status, answer = json_answer(send(url, "POST", path, body, _signed(body)))
        assert (status, answer["error"]) == (400, "BadJson") and words in answer["message"], (body[:40], answer)
    big = b'{"agent": "ada", "pad": "' + b"x" * 5000 + b'"}'
    assert json_answer(send(url, "POST", path, big, _signed(big)))[0] == 413
    assert json_answer(send(url, "GET", "/nowhere", None))[0] == 404
    assert not woken.is_set()
    status, _ = json_answer(send(url, "POST", path, good, _signed(good)))
    assert status == 202 and woken.is_set()


def test_a_notification_timestamp_is_plain_ascii_digits_only():
    key, body, now = notify_key("acm_ag_ada-token"), b"{}", 1_800_000_000
    for stamp in ("\u0661\u0662", "１２", " 1800000000", "1800000000 ", "+1800000000", "9" * 13):
        assert "whole number of seconds" in verify(key, stamp, sign(key, now, body), body, now), stamp
    assert verify(key, "1800000000", sign(key, now, body), body, now) is None


# --- the reader itself -----------------------------------------------------------------------

_json = st.recursive(st.none() | st.booleans() | st.integers(-10**19, 10**19) | st.text(max_size=20)
                     | st.floats(allow_nan=False, allow_infinity=False),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=30)


@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_the_json_reader_gives_a_dict_or_its_own_error_for_any_bytes(data):
    try:
        assert isinstance(read_object(data), dict)
    except BadJson as e:
        assert str(e).startswith("the request body is refused: ")


@given(st.dictionaries(st.text(max_size=8), _json, max_size=5))
def test_the_json_reader_takes_every_plain_json_object_back_unchanged(doc):
    data = json.dumps(doc).encode()
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        assert read_object(data) == doc
