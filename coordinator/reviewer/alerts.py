"""Telling the operator of an escalation: the webhook address (from its 0600 file, never the
repo) is POSTed the decision as JSON, and the operator's command (set on the hub's machine, never
in the repo) is run as an argv list (never a shell) with the JSON on stdin. Both are bounded in
time and size; a failure is reported back as a few words of our own, never raised, so a broken
receiver cannot stop the review of other pull requests. What the command prints is logged, never
put in the record."""
from __future__ import annotations

import json
import logging
import subprocess
import urllib.error
import urllib.request

log = logging.getLogger("agentcom.gatekeeper")
TIMEOUT = 10.0
OUTPUT_MAX = 4096


def send(command: tuple, decision: dict, timeout: float = TIMEOUT, webhook: str | None = None) -> str:
    """Deliver `decision` to the webhook and the rules' command; what happened, in a few words
    (never the address itself, nor what the command printed)."""
    body = json.dumps(decision, sort_keys=True).encode()
    outcomes = []
    if webhook:
        outcomes.append(_post(webhook, body, timeout))
    if command:
        outcomes.append(_run(list(command), body, timeout))
    return "; ".join(outcomes) or "nobody to notify (the hub's notify_webhook_file and notify_command are unset)"


def _post(url: str, body: bytes, timeout: float) -> str:
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "agentcom-gatekeeper"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read(OUTPUT_MAX)
            return f"webhook answered {resp.status}"
    except urllib.error.HTTPError as e:
        return f"webhook refused: {e.code}"
    except (urllib.error.URLError, OSError) as e:
        log.warning("gatekeeper: the notify webhook failed: %s", getattr(e, "reason", e))
        return "webhook failed (see the log)"


def _run(argv: list[str], body: bytes, timeout: float) -> str:
    try:
        done = subprocess.run(argv, input=body, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"command {argv[0]} ran past {timeout:.0f}s and was stopped"
    except OSError as e:
        return f"command {argv[0]} could not run: {e.strerror}"
    if done.returncode != 0:
        log.warning("gatekeeper: notify command %s exited %s: %s", argv[0], done.returncode,
                    done.stderr[:OUTPUT_MAX].decode(errors="replace").strip())
        return f"command {argv[0]} exited {done.returncode} (its output is in the log)"
    return f"command {argv[0]} ran"
