"""Telling the operator of an escalation: the rules' `notify.webhook` is POSTed the decision as
JSON, or `notify.command` is run as an argv list (never a shell) with the JSON on stdin. Both are
bounded in time and size; a failure is reported back as text, never raised, so a broken receiver
cannot stop the review of other pull requests."""
from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request

from .rules import Notify

TIMEOUT = 10.0
OUTPUT_MAX = 4096


def send(notify: Notify, decision: dict, timeout: float = TIMEOUT) -> str:
    """Deliver `decision` to whoever the rules name; what happened, in a few words."""
    body = json.dumps(decision, sort_keys=True).encode()
    outcomes = []
    if notify.webhook:
        outcomes.append(_post(notify.webhook, body, timeout))
    if notify.command:
        outcomes.append(_run(list(notify.command), body, timeout))
    return "; ".join(outcomes) or "nobody to notify (notify.webhook and notify.command are unset)"


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
        return f"webhook failed: {getattr(e, 'reason', e)}"


def _run(argv: list[str], body: bytes, timeout: float) -> str:
    try:
        done = subprocess.run(argv, input=body, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"command {argv[0]} ran past {timeout:.0f}s and was stopped"
    except OSError as e:
        return f"command {argv[0]} could not run: {e.strerror}"
    if done.returncode != 0:
        return f"command {argv[0]} exited {done.returncode}: {done.stderr[:200].decode(errors='replace').strip()}"
    return f"command {argv[0]} ran"
