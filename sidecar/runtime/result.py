"""[pure] How a run ended → the report the hub gets. The result contract: docs/agent-results.md.

A run is done only when the agent wrote a `done` result and exited 0. Any other ending is a
failure with a reason: an exit without a result, a non-zero exit, a kill for running too long,
a result file that is not valid. A run the operator stopped (SIGINT, SIGTERM or SIGHUP soon
after a stop was noted for it) is `interrupted`: a failure the hub does not count.
"""
from __future__ import annotations

import jsonschema

from coordinator.wire.protocol import REPORT_SCHEMA

_FIELDS = REPORT_SCHEMA["properties"]
RESULT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["status"],
    "properties": {
        "status": {"enum": ["done", "failed"]},
        **{k: _FIELDS[k] for k in ("summary", "pr_url", "reason", "permanent", "tokens", "model")},
    },
    "if": {"properties": {"status": {"const": "failed"}}},
    "then": {"required": ["reason"]},
}
PROGRESS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "seq"],
    "properties": {"kind": {"enum": ["progress", "blocked"]}, "note": _FIELDS["note"],
                   "seq": {"type": "integer", "minimum": 0},
                   "tokens": _FIELDS["tokens"]},  # spent so far by this run (counted if the run is lost)
    "if": {"properties": {"kind": {"const": "blocked"}}},
    "then": {"required": ["note"]},
}
_RESULT = jsonschema.Draft202012Validator(RESULT_SCHEMA)
_PROGRESS = jsonschema.Draft202012Validator(PROGRESS_SCHEMA)
REASON_MAX = _FIELDS["reason"]["maxLength"]
TOKENS_MAX = _FIELDS["tokens"]["properties"]["total"]["maximum"]
STOP_SIGNALS = {1: "SIGHUP", 2: "SIGINT", 15: "SIGTERM"}  # what a stop sends; a shell says 128 + N
STOP_WINDOW = 120.0  # seconds between a noted stop and the run's end for the end to be the stop's


def problems(doc: object, which: str = "result") -> list[str]:
    """What is wrong with a result (or progress) file's content; empty when it is valid."""
    validator = _RESULT if which == "result" else _PROGRESS
    if not isinstance(doc, dict):
        return [f"the {which} file must hold a JSON object"]
    return [f"{'.'.join(map(str, e.absolute_path)) or which}: {e.message}"
            for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))][:5]


def verdict(attempt: int, *, code: int | None, result: dict | None, result_error: str | None = None,
            killed: str | None = None, start_error: str | None = None, stderr_tail: str = "",
            stopped: str | None = None) -> dict:
    """The final report for one run: `done` or `failed`, always with the attempt it is about.
    `stopped` is why the operator stopped the run, when its end is that stop's doing
    (`stopped_by`): the report is then an interrupted failure, unless the agent had failed."""
    def failed(reason: str, permanent: bool = False, extra: dict | None = None) -> dict:
        tail = f"; last output: {stderr_tail.strip()}" if stderr_tail.strip() else ""
        body = {"kind": "failed", "attempt": attempt, "reason": (reason + tail)[:REASON_MAX],
                "permanent": permanent}
        return {**body, **(extra or {})}

    accounting = {k: result[k] for k in ("tokens", "model") if result and k in result}
    if start_error:  # this machine's problem (a wrong command): another agent may do better
        return failed(start_error)
    if killed:
        return failed(f"killed: {killed}", extra=accounting)
    if result_error:
        return failed(f"the result file is not valid: {result_error}")
    if stopped and not (result and result["status"] == "failed"):  # its own failure stays its own
        return {"kind": "failed", "attempt": attempt, "interrupted": True, "permanent": False,
                "reason": f"{stopped}; the agent {_exit(code)}"[:REASON_MAX], **accounting}
    if result is None:
        how = "exited with code 0" if code == 0 else _exit(code)
        return failed(f"the agent {how} without writing a result")
    if result["status"] == "failed":
        reason = result["reason"] + ("" if code == 0 else f" ({_exit(code)})")
        return failed(reason, permanent=bool(result.get("permanent")), extra=accounting)
    if code != 0:
        return failed(f"the agent wrote a done result but {_exit(code)}", extra=accounting)
    done = {k: result[k] for k in ("summary", "pr_url", "tokens", "model") if k in result}
    return {"kind": "done", "attempt": attempt, **done}


def stopped_by(mark: object, run: dict, started_at: object, code: int | None, ended_at: object) -> str | None:
    """Why the run ended, if a stop noted for it ended it. `mark` is the stop the sidecar's state
    holds ({task, attempt, run, why, at}); `run` names the run that ended ({task, attempt, run}).
    The stop counts only if it names that run, came no earlier than the run's start, and the run
    died of SIGINT, SIGTERM or SIGHUP within STOP_WINDOW of it. Else None: then the ending is the
    agent's own, however it came."""
    if not isinstance(mark, dict) or not isinstance(mark.get("why"), str):
        return None
    if any(type(mark.get(k)) is not type(v) or mark.get(k) != v for k, v in run.items()):
        return None
    at = mark.get("at")
    if not all(isinstance(t, int | float) and not isinstance(t, bool) for t in (at, started_at, ended_at)):
        return None
    if at < started_at or abs(ended_at - at) > STOP_WINDOW:
        return None
    if not isinstance(code, int) or not (-code in STOP_SIGNALS or code - 128 in STOP_SIGNALS):
        return None
    return " ".join(mark["why"].split())[:200] or "stopped by the operator"


def run_tokens(result: object, progress: object) -> dict:
    """The tokens a run reported: from its result file, else the last progress note's; {} if
    neither is valid or says any."""
    for doc, which in ((result, "result"), (progress, "progress")):
        if isinstance(doc, dict) and not problems(doc, which) and doc.get("tokens"):
            return dict(doc["tokens"])
    return {}


def add_tokens(a: dict, b: dict) -> dict:
    """Two token counts as one: input and output added; a total when either has one (a count
    without a total adds its input + output to it); each at most the protocol's limit."""
    out = {k: min(TOKENS_MAX, a.get(k, 0) + b.get(k, 0)) for k in ("input", "output") if k in a or k in b}
    if "total" in a or "total" in b:
        out["total"] = min(TOKENS_MAX, _total(a) + _total(b))
    return out


def _total(t: dict) -> int:
    return t.get("total", t.get("input", 0) + t.get("output", 0))


def _exit(code: int | None) -> str:
    if code is None:
        return "ended while the sidecar was down (exit status unknown)"
    if code < 0:
        return f"was killed by signal {-code}"
    return f"exited with code {code}"
