"""[pure] How a run ended → the report the hub gets. The result contract: docs/agent-results.md.

A run is done only when the agent wrote a `done` result and exited 0. Any other ending is a
failure with a reason: an exit without a result, a non-zero exit, a kill for running too long,
a result file that is not valid.
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
                   "seq": {"type": "integer", "minimum": 0}},
    "if": {"properties": {"kind": {"const": "blocked"}}},
    "then": {"required": ["note"]},
}
_RESULT = jsonschema.Draft202012Validator(RESULT_SCHEMA)
_PROGRESS = jsonschema.Draft202012Validator(PROGRESS_SCHEMA)
REASON_MAX = _FIELDS["reason"]["maxLength"]


def problems(doc: object, which: str = "result") -> list[str]:
    """What is wrong with a result (or progress) file's content; empty when it is valid."""
    validator = _RESULT if which == "result" else _PROGRESS
    if not isinstance(doc, dict):
        return [f"the {which} file must hold a JSON object"]
    return [f"{'.'.join(map(str, e.absolute_path)) or which}: {e.message}"
            for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))][:5]


def verdict(attempt: int, *, code: int | None, result: dict | None, result_error: str | None = None,
            killed: str | None = None, start_error: str | None = None, stderr_tail: str = "") -> dict:
    """The final report for one run: `done` or `failed`, always with the attempt it is about."""
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


def _exit(code: int | None) -> str:
    if code is None:
        return "ended while the sidecar was down (exit status unknown)"
    if code < 0:
        return f"was killed by signal {-code}"
    return f"exited with code {code}"
