"""Hypothesis strategies for hostile input, shared by the fuzz tests (small, in CI) and
bench/fuzz_bench.py (large): task documents, the bytes of task files, and JSON API bodies.

Each mixes fields a real user would send with the values a fuzzer (or an attacker) tries:
nesting near and past the depth limit, numbers past 64 bits and past Python's digit limit,
inf/nan, NUL, lone surrogates, control characters, Windows device names, far dates, YAML tags,
anchors, duplicate keys, several documents, BOMs, bad UTF-8 and byte-level damage.
"""
from __future__ import annotations

import json
import math

import yaml
from hypothesis import strategies as st

from coordinator.core.task import READ_ONLY
from coordinator.wire.plain import MAX_DEPTH

# --- values --------------------------------------------------------------------------------

NASTY_CHARS = ["\0", "\ud800", "\udfff", "\x01", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff", "\r", "\t",
               "\n", "'", '"', ":", "#", "&", "*", "!", "|", ">", "%", "@", "`", "{", "[", "-", "?", "\\"]
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(st.sampled_from(NASTY_CHARS) | st.characters(codec="utf-8"), max_size=30),
    st.text(st.characters(), max_size=20),  # any code point, surrogates included
    st.sampled_from(["", " ", "~", "null", "yes", "no", "on", "1_000", "0x1F", "0o17", "1:20", ".inf", "-.nan",
                     "2026-11-25", "<<", "=", "!!binary", "*a", "&a", "---", "...", "- x", "a: b"]),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "\0", "😀", "\n"]), st.integers(1000, 70000)),
)
huge_int = st.one_of(
    st.integers(),
    st.sampled_from([2**63 - 1, 2**63, -(2**63 - 1), -(2**63), 2**64, 10**30, -(10**30)]),
    st.integers(4290, 4310).map(lambda n: 10**n),  # around Python's int/str digit limit (4300)
)
hostile_float = st.one_of(st.floats(), st.sampled_from([math.inf, -math.inf, math.nan, 1e308, 5e-324, -0.0]))
hostile_scalar = st.one_of(st.none(), st.booleans(), huge_int, hostile_float, hostile_text)

DEPTHS = [1, 2, MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 5, 200, 1200]


def nested(depth: int, leaf: object = 1, mapping: bool = False) -> object:
    """A value that, as a field of a task, puts `leaf` depth + 1 levels down (the task is level 1)."""
    value = leaf
    for n in range(depth):
        value = {f"k{n}": value} if mapping and n % 2 else [value]
    return value


deep_value = st.builds(nested, st.sampled_from(DEPTHS), hostile_scalar, st.booleans())
shallow_deep_value = st.builds(nested, st.sampled_from([d for d in DEPTHS if d <= 100]), hostile_scalar, st.booleans())
plain_value = st.recursive(st.none() | st.booleans() | st.integers(-(2**63) + 1, 2**63 - 1)
                           | st.floats(allow_nan=False, allow_infinity=False)
                           | st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=20),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8).filter(lambda k: "\0" not in k), inner, max_size=3),
                           max_leaves=8)
odd_key = st.one_of(st.integers(), st.none(), st.booleans(), st.floats(), st.tuples(st.integers()),
                    st.frozensets(st.integers(), max_size=2))
odd_value = st.one_of(st.binary(max_size=8), st.sets(st.integers(), max_size=2), st.tuples(st.integers()))
_mixed = st.recursive(hostile_scalar, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(hostile_text, inner, max_size=3), max_leaves=6)
hostile_value = st.one_of(hostile_scalar, deep_value, plain_value, _mixed)
renderable_value = st.one_of(hostile_scalar, shallow_deep_value, plain_value, _mixed)
"""Like hostile_value, nested at most 100 deep, so a recursive dumper can write it out."""

IDS = ["ok-1", "A.b_c-9", "x" * 64, "x" * 65, "CON", "con", "con.txt", "Com1.log", "LPT9", "aux.yaml", "NUL",
       "prn.", "a..b", "..", "../etc/passwd", ".hidden", "-dash", "a/b", "a\\b", "é", "", " ok", "ok\n", "check"]
TIMES = ["1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "8999-12-31T23:59:59Z", "9000-01-01T00:00:00Z",
         "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "2026-11-25T18:00:00", "2026-02-30T00:00:00Z",
         "2026-11-25T18:00:00+24:00", "30m", "1h30m", "10y", "0s", "9" * 39 + "s", "²", "٣m", 315360000,
         315360001, -1, 0, 2**64, "9" * 5000]
UNKNOWN = ["retries", "titel", "prompts", "x", "", "__proto__", "PROMPT"]


def _field_values(name: str, hostile: st.SearchStrategy = hostile_value) -> st.SearchStrategy:
    valid = {
        "id": st.sampled_from(IDS) | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,10}", fullmatch=True),
        "title": st.text(min_size=1, max_size=40), "prompt": st.text(min_size=1, max_size=200),
        "priority": st.sampled_from(["urgent", "high", "normal", "low", "Urgent", "", "critical"]),
        "needs": st.lists(st.sampled_from(["git", "python", "Go", "a" * 33, "", "x y"]), max_size=4),
        "repo": st.text(max_size=30), "pin": st.sampled_from(IDS),
        "scope": st.lists(st.sampled_from(["src/", "*.md", "**/[z-a]", "[", "\\", "!x", "a\nb", "", "#c", "/"])
                          | st.text(max_size=12), max_size=4),
        "depends_on": st.lists(st.sampled_from(IDS), max_size=3),
        "max_retries": st.integers(-2, 102), "token_budget": st.integers(-1, 10**9 + 1),
        "deadline": st.sampled_from(TIMES), "not_before": st.sampled_from(TIMES),
        "on_deadline": st.sampled_from(["fail", "retry", "explode"]),
        "metadata": st.dictionaries(hostile_text, hostile, max_size=4),
    }.get(name)
    if name in READ_ONLY:
        return st.sampled_from(["queued", "done", None, 0, 3, "2026-11-25T18:00:00Z", {}, True])
    return st.one_of(valid, valid, valid, hostile) if valid is not None else hostile


FIELDS = ["id", "title", "priority", "needs", "repo", "pin", "scope", "depends_on", "max_retries", "deadline",
          "not_before", "on_deadline", "token_budget", "metadata"]


@st.composite
def task_docs(draw, keys: st.SearchStrategy = hostile_text, values: st.SearchStrategy = hostile_value) -> dict:
    """A task document: mostly a prompt and some known fields, each valid or hostile (`values`),
    sometimes unknown fields or odd keys (`keys`); most are still admissible tasks."""
    doc: dict = {}
    if draw(st.integers(0, 9)):
        doc["prompt"] = draw(st.text(min_size=1, max_size=80) if draw(st.integers(0, 3))
                             else _field_values("prompt", values))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=5, unique=True)):
        doc[name] = draw(_field_values(name, values))
    if not draw(st.integers(0, 7)):
        name = draw(st.sampled_from(READ_ONLY))
        doc[name] = draw(_field_values(name, values))
    if not draw(st.integers(0, 7)):
        doc[draw(st.sampled_from(UNKNOWN) | keys)] = draw(values)
    return doc


python_doc = task_docs(keys=st.one_of(hostile_text, odd_key)).flatmap(
    lambda doc: st.just(doc) | st.builds(lambda v: {**doc, "metadata": {"v": v}}, odd_value))
"""Documents as a Python caller could hand them to admit(): keys and values YAML can make but JSON cannot."""


# --- YAML files ----------------------------------------------------------------------------

def _render(doc: object, flow: bool, width: int) -> bytes:
    """A document as YAML text; what the safe dumper refuses (lone surrogates) goes out as JSON,
    which YAML reads too."""
    try:
        return yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True, width=width,
                              sort_keys=False).encode("utf-8")
    except (yaml.YAMLError, UnicodeEncodeError, ValueError):
        return to_json(doc).encode("utf-8")


rendered = st.builds(_render, task_docs(keys=st.one_of(hostile_text, st.integers(), st.booleans(), st.none()),
                                        values=renderable_value),
                     st.booleans(), st.sampled_from([20, 80, 10000]))
deep_files = st.builds(lambda n, open_, close: b"prompt: hi\nmetadata: {a: " + open_ * n + close * n + b"}\n",
                       st.sampled_from(DEPTHS + [32000]), st.sampled_from([b"[", b"{a: "]),
                       st.sampled_from([b"]", b"}"]))

SNIPPETS = [
    "metadata: {a: !!binary aGVsbG8=}", "metadata: {a: !!binary '***'}", "metadata: {a: !!set {x, y}}",
    "metadata: {a: !!set [1]}", "metadata: {a: !!omap [{x: 1}, {y: 2}]}", "metadata: {a: !!omap [1]}",
    "metadata: {a: !!pairs [{x: 1}, {x: 2}]}", "metadata: {a: !!timestamp 2020-01-01}",
    "metadata: {a: !!timestamp foo}", "metadata: {a: !!bool maybe}", "metadata: {a: !!null x}",
    "metadata: {a: !!int 0x}", "metadata: {a: !!int ''}", "metadata: {a: !!float foo}", "? !!float\n: x",
    "metadata: {a: !!float 1e999}", "metadata: {a: !!str [1]}",
    "metadata: {a: !!map [1]}", "metadata: {a: !!seq {b: 1}}", "metadata: {a: !!merge x}", "metadata: {a: !!value x}",
    "metadata: {a: !!python/object:os.system x}", "metadata: {a: !!python/name:os.system ''}",
    "metadata: {a: !!python/tuple [1, 2]}", "metadata: {a: !unknown x}", "metadata: {a: !<tag:x.org,2000:y> z}",
    "metadata: {a: &x [1, 2], b: *x}", "metadata: &m {a: *m}", "metadata: {a: *nowhere}", "<<: {title: merged}",
    "<<: [1]", "<<: *nowhere", "prompt: twice", "id: a\nid: b", "metadata: {a: 1, a: 2}", "? [a]\n: 1",
    "? {a: 1}\n: 1", "1: int key", "~: null key", ".nan: nan key", "true: bool key", "metadata: {a: .inf}",
    "metadata: {a: -.inf}", "metadata: {a: .nan}", "metadata: {a: 1_000_000}", "metadata: {a: 0b101}",
    "metadata: {a: 190:20:30}", "metadata: {a: 1:" + "9" * 4400 + "}", "metadata: {a: " + "9" * 4400 + "}",
    "metadata: {a: 9223372036854775808}", "metadata: {a: 1.0e+400}", 'metadata: {a: "\\0"}',
    'metadata: {a: "\\ud800"}', 'metadata: {a: "\\x85\\u2028\\e"}', 'metadata: {a: "\\U0010FFFF"}',
    "metadata: {a: " + "[" * 33 + "]" * 33 + "}", "metadata: {a: " + "{b: " * 40 + "1" + "}" * 40 + "}",
    "metadata:\n" + "".join("  " * n + "- \n" for n in range(1, 40)), "deadline: 9999-12-31T23:59:59-23:59",
    "deadline: 0001-01-01T00:00:00+01:00", "id: CON", "id: ../x", "state: done", "attempt: 3", "agent: ada",
    "self_test: true", "titel: typo", "scope: ['**/[z-a]']", "scope: ['[']", "scope: ['\\']",
    "---\nprompt: second document", "...\n", "%YAML 1.1\n---", "%TAG ! tag:yaml.org,2002:\n---\nx: !str y",
    "%YAML 2.0\n---", "- a list", "just text", "", "{", "]", "'", '"', "\t", "a: b: c", "a:\n\tb: tab",
]
BOMS = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf\xef\xbb\xbf"]
BAD_UTF8 = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82", b"\0"]


@st.composite
def snippet_files(draw) -> bytes:
    """A small valid file with raw snippets a fuzzer would try spliced in (before or after)."""
    base = draw(st.sampled_from(["prompt: hi\n", "prompt: hi\ntitle: t\n", "id: ok-1\nprompt: |\n  two\n  lines\n",
                                 "{prompt: flow}\n", ""]))
    parts = draw(st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=draw(st.sampled_from([1, 1, 3]))))
    text = base + "".join(p + "\n" for p in parts) if draw(st.booleans()) else "".join(p + "\n" for p in parts) + base
    data = draw(st.sampled_from([b""] * 8 + BOMS)) + text.encode("utf-8", "surrogatepass")
    if not draw(st.integers(0, 7)):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(BAD_UTF8)) + data[at:]
    return data


@st.composite
def mutated(draw, source: st.SearchStrategy) -> bytes:
    """Bytes from `source`, damaged a few times: a byte flipped, replaced, inserted, deleted, a slice
    repeated, or the file cut short."""
    data = bytearray(draw(source))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "repeat", "cut"]))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4) | st.sampled_from([b"\n", b": ", b"- ", b"&a ", b"*a",
                                                                                      b"!!", b"{", b"[", b"'", b"\t"]))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif op == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, 40))] * draw(st.integers(1, 30))
        elif op == "cut":
            del data[at:]
    return bytes(data)


task_files = st.one_of(rendered, rendered, snippet_files(), snippet_files(), snippet_files(), deep_files,
                       mutated(rendered | snippet_files()), mutated(rendered | snippet_files()),
                       st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
"""The bytes of a pushed task file: rendered documents, snippets, damaged files, and noise."""


# --- JSON API bodies -----------------------------------------------------------------------

class Raw(str):
    """A JSON number token written as is (1e400, a 5,000-digit integer): valid JSON that Python
    reads as inf or refuses."""


RAW_NUMBERS = [Raw("1e400"), Raw("-1e400"), Raw("1" + "0" * 4400), Raw("1" + "0" * 40), Raw("-0"), Raw("1E-400")]


def to_json(value: object) -> str:
    """`value` as JSON text, with Raw numbers kept verbatim and text escaped as \\uXXXX, so lone
    surrogates and NUL travel as the escapes "\\ud800" and "\\u0000"."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 13000:
        return "1" + "0" * 4400  # past the digit limit of str(int)
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + to_json(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "1e400" if value > 0 else "-1e400" if value < 0 else "null"
    return json.dumps(value)


json_scalar = st.one_of(st.none(), st.booleans(), huge_int.filter(lambda n: abs(n) < 10**4000), hostile_float,
                        hostile_text, st.sampled_from(RAW_NUMBERS))
json_deep = st.builds(nested, st.sampled_from([1, 5, 29, 30, 31, 33]), json_scalar, st.booleans())
json_value = st.one_of(json_scalar, json_deep,
                       st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3)
                                    | st.dictionaries(hostile_text, inner, max_size=3), max_leaves=6))


@st.composite
def task_bodies(draw) -> str:
    """The body of POST /api/tasks, as JSON text."""
    doc = draw(task_docs(keys=hostile_text, values=renderable_value))
    if draw(st.booleans()):
        doc[draw(st.sampled_from(FIELDS + ["prompt", "metadata"]))] = draw(json_value)
    body = doc if draw(st.integers(0, 15)) else draw(json_value)  # sometimes not an object at all
    return to_json(body)


@st.composite
def report_bodies(draw, attempt: int) -> str:
    """The body of POST /api/tasks/ID/report for an agent holding attempt `attempt`."""
    body = {"kind": draw(st.sampled_from(["progress", "blocked", "accepted", "progress", "Done", ""]) | json_value),
            "attempt": draw(st.just(attempt) | json_value)}
    for name in draw(st.lists(st.sampled_from(["note", "summary", "pr_url", "reason", "permanent", "tokens",
                                               "model", "run", "interrupted", "extra"]), max_size=3, unique=True)):
        body[name] = draw(st.builds(lambda t: "https://x/" + t, hostile_text) if name == "pr_url" else
                          st.fixed_dictionaries({}, optional={"input": json_value, "total": json_value})
                          if name == "tokens" else st.integers(-1, 120) | json_value if name == "run" else
                          st.booleans() | json_value if name == "interrupted" else hostile_text | json_value)
    return to_json(body)


@st.composite
def heartbeat_bodies(draw) -> str:
    """The body of POST /api/agents/NAME/heartbeat."""
    body = draw(st.fixed_dictionaries({}, optional={
        "url": st.builds(lambda t: "http://127.0.0.1:9/" + t, hostile_text) | json_value,
        "holding": st.lists(st.fixed_dictionaries({"id": hostile_text | json_value, "attempt": json_value}),
                            max_size=3) | json_value,
        "extra": json_value}))
    return to_json(body)
