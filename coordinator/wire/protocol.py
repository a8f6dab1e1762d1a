"""[pure] What a sidecar and the hub say to each other: heartbeats and reports, validated into
plain data, and the signature on the hub's notifications.

Every report names the attempt it is about (the fencing token the hub handed out with the
assignment); the agent is the one the request's token belongs to. docs/agent-protocol.md.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

import jsonschema

from coordinator.wire.errors import UsageError
from coordinator.wire.plain import plain_problems

KINDS = ("accepted", "progress", "blocked", "done", "failed")
SUMMARY_MAX = 4000
RUN_MAX = 100  # runs of one attempt a report may name (the sidecar stops at far fewer)
_TOKENS = {"type": "integer", "minimum": 0, "maximum": 10**12}

REPORT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "attempt"],
    "properties": {
        "kind": {"enum": list(KINDS)},
        "attempt": {"type": "integer", "minimum": 1},
        "note": {"type": "string", "maxLength": 500},              # progress, blocked: one line
        "summary": {"type": "string", "maxLength": SUMMARY_MAX},  # done: what was done
        "pr_url": {"type": "string", "maxLength": 500, "pattern": "^https?://"},
        "reason": {"type": "string", "maxLength": 2000},          # failed: why
        "permanent": {"type": "boolean"},                         # failed: another attempt cannot help
        "tokens": {"type": "object", "additionalProperties": False, "maxProperties": 3,
                   "properties": {"input": _TOKENS, "output": _TOKENS, "total": _TOKENS}},
        "model": {"type": "string", "maxLength": 100},
        # progress: run N (2 or more) of the attempt has started, `note` says why; done, failed:
        # the run that ended
        "run": {"type": "integer", "minimum": 1, "maximum": RUN_MAX},
        # failed: the operator stopped the run (not the agent's failure)
        "interrupted": {"type": "boolean"},
    },
    "allOf": [
        {"if": {"properties": {"kind": {"const": "failed"}}}, "then": {"required": ["reason"]}},
        {"if": {"properties": {"kind": {"const": "blocked"}}}, "then": {"required": ["note"]}},
    ],
}
_RULES = (  # (field, allowed when, what the message says): checked after the schema, said plainly
    ("run", lambda d: d["kind"] in ("progress", "done", "failed"),
     "only a progress, done or failed report names a run"),
    ("interrupted", lambda d: d["kind"] == "failed", "only a failed report can say the run was interrupted"),
    ("interrupted", lambda d: not (d["interrupted"] and d.get("permanent")),
     "an interrupted run is not a permanent failure; send one of interrupted and permanent"),
)

HEARTBEAT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "maxLength": 300, "pattern": "^https?://"},  # where to notify it
        "holding": {"type": "array", "maxItems": 64, "items": {
            "type": "object", "additionalProperties": False, "required": ["id", "attempt"],
            "properties": {"id": {"type": "string", "maxLength": 64},
                           "attempt": {"type": "integer", "minimum": 1}}}},
    },
}

_REPORT = jsonschema.Draft202012Validator(REPORT_SCHEMA)
_HEARTBEAT = jsonschema.Draft202012Validator(HEARTBEAT_SCHEMA)


@dataclass(frozen=True)
class Report:
    kind: str
    attempt: int
    note: str | None = None
    summary: str | None = None
    pr_url: str | None = None
    reason: str | None = None
    permanent: bool = False
    tokens: dict = field(default_factory=dict)
    model: str | None = None
    run: int | None = None
    interrupted: bool = False

    @property
    def tokens_total(self) -> int:
        t = self.tokens
        return t.get("total", t.get("input", 0) + t.get("output", 0))


@dataclass(frozen=True)
class Heartbeat:
    url: str | None = None
    holding: tuple[tuple[str, int], ...] = ()


def _check(validator, body: object, what: str) -> dict:
    if not isinstance(body, dict):
        raise UsageError(f"a {what} is a JSON object")
    found = plain_problems(body)  # what is stored from it must be storable (NUL, lone surrogates)
    if found:
        raise UsageError(f"bad {what}: " + "; ".join(found[:5]))
    errors = sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        problems = [f"{'.'.join(map(str, e.absolute_path)) or what}: {e.message}" for e in errors[:5]]
        raise UsageError(f"bad {what}: " + "; ".join(problems))
    return body


def parse_report(body: object) -> Report:
    """A report body → Report; UsageError names each bad field."""
    doc = _check(_REPORT, body, "report")
    wrong = [f"{key}: {why}" for key, allowed, why in _RULES if key in doc and not allowed(doc)]
    if wrong:
        raise UsageError("bad report: " + "; ".join(wrong))
    # JSON has one kind of number: 2.0 passes as an integer, and is stored as one
    whole = {k: int(doc[k]) for k in ("attempt", "run") if k in doc}
    if "tokens" in doc:
        whole["tokens"] = {k: int(v) for k, v in doc["tokens"].items()}
    return Report(**{**doc, **whole})


def parse_heartbeat(body: object) -> Heartbeat:
    doc = _check(_HEARTBEAT, body or {}, "heartbeat")
    return Heartbeat(doc.get("url"), tuple((h["id"], h["attempt"]) for h in doc.get("holding", ())))


# --- notifications: the hub → the sidecar -------------------------------------------------

NOTIFY_MAX_AGE = 300  # seconds a signed notification stays valid (against replays)
SIGNATURE_HEADER = "X-Agentcom-Signature"
TIMESTAMP_HEADER = "X-Agentcom-Timestamp"
STAMP_DIGITS = 12  # Unix seconds until the year 33658
_STAMP = re.compile(rf"-?[0-9]{{1,{STAMP_DIGITS}}}")


def notify_key(token: str) -> str:
    """The key that signs an agent's notifications: the SHA-256 of its token, which is what the
    hub stores. The sidecar derives it from the token it holds; nobody sends it."""
    return hashlib.sha256(token.encode()).hexdigest()


def sign(key: str, timestamp: int, body: bytes) -> str:
    """`sha256=HEX`: HMAC-SHA256 over "TIMESTAMP." + body."""
    mac = hmac.new(key.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(key: str, timestamp: str | None, signature: str | None, body: bytes, now: float) -> str | None:
    """None if the signature is good and fresh, else what is wrong (compared in constant time)."""
    if not timestamp or not signature:
        return f"no {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header"
    if not _STAMP.fullmatch(timestamp):  # int() would take 400 digits, "١٢", " 1_0 "; float(now) then overflows
        return f"{TIMESTAMP_HEADER} is not a whole number of seconds (at most {STAMP_DIGITS} digits)"
    stamp = int(timestamp)
    if abs(now - stamp) > NOTIFY_MAX_AGE:
        return f"the notification is {int(abs(now - stamp))}s old (at most {NOTIFY_MAX_AGE}s)"
    if not hmac.compare_digest(sign(key, stamp, body).encode(), signature.encode("utf-8", "replace")):
        return "bad signature"  # compared as bytes: compare_digest refuses a str that is not ASCII
    return None
