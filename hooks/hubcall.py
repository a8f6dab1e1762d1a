"""What both fast hooks share: where the running hub serves, and one authenticated POST to it.
Standard library only, like the hooks."""
import http.client
import json
import os
from urllib.parse import urlsplit


def address(git_dir: str):
    """(host, port, operator token) of the hub serving this repo, or None if none says it serves."""
    runtime = os.path.join(git_dir, "agentcom")
    try:
        with open(os.path.join(runtime, "coordinator.json")) as f:
            url = urlsplit(json.load(f)["url"])
        with open(os.path.join(runtime, "operator.token")) as f:
            token = f.read().strip()
        return url.hostname, url.port, token
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def connect(where, timeout: float):
    """An open connection to the hub, or None if nobody listens there (a hub that stopped
    without cleaning up)."""
    host, port, _ = where
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.connect()
    except OSError:
        conn.close()
        return None
    return conn


def post(conn, where, path: str, body: dict):
    """POST `body` as JSON with the operator token: (status, the answer's JSON). Raises OSError
    or ValueError when no whole answer came."""
    conn.request("POST", path, json.dumps(body),
                 {"Authorization": f"Bearer {where[2]}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())
