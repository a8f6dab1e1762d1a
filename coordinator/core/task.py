"""[pure] The task format: safe parsing, validation against the JSON Schema, intake, and dumping.

A task is a plain dict in the shape of queue-repo-template/schema/task.schema.json.
"""
from __future__ import annotations

import json
import random
import re
import string
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jsonschema
import pathspec
import yaml
from yaml import _yaml

from coordinator.core.layout import LANES, State
from coordinator.wire.errors import InvalidTask
from coordinator.wire.names import problem as name_problem
from coordinator.wire.plain import MAX_DEPTH, plain_problems
from coordinator.wire.times import format_time, parse_deadline, parse_time

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "queue-repo-template" / "schema" / "task.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

READ_ONLY = tuple(k for k, v in SCHEMA["properties"].items() if v.get("readOnly"))
USER_FIELDS = tuple(k for k in SCHEMA["properties"] if k not in READ_ONLY)
FIELD_ORDER = ("id", "title", "state", "priority", "needs", "pin", "repo", "scope", "depends_on",
               "max_retries", "deadline", "on_deadline", "not_before", "token_budget", "agent",
               "attempt", "attempt_base", "runs", "interruptions", "created_at", "queued_at", "updated_at",
               "started_at", "finished_at", "retry_at", "last_error", "outcome", "rework", "result", "tokens_used",
               "source", "self_test", "metadata", "prompt")
assert set(FIELD_ORDER) == set(SCHEMA["properties"]), "FIELD_ORDER must list every schema field"
MAX_PROBLEMS = 8
TIME_FIELDS = ("deadline", "not_before", "created_at", "queued_at", "updated_at", "started_at",
               "finished_at", "retry_at")


@dataclass(frozen=True)
class Defaults:
    """What intake fills in when a submission leaves a field out (from agentcom.yaml)."""

    max_retries: int = 3
    max_bytes: int = 65536


# --- parsing -------------------------------------------------------------------------------

class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1 resolution minus timestamps: times stay strings and are parsed by us."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}

class _Loader(_yaml.CParser, yaml.constructor.SafeConstructor, _Resolver):
    """Safe loading (libyaml's parser) that also refuses aliases and duplicate keys."""

    def __init__(self, stream):
        _yaml.CParser.__init__(self, stream)
        yaml.constructor.SafeConstructor.__init__(self)
        _Resolver.__init__(self)

    def construct_object(self, node, deep=False):
        if node in self.constructed_objects or node in self.recursive_objects:
            raise yaml.constructor.ConstructorError(
                None, None, "aliases (*name) are not allowed in task files", node.start_mark)
        return super().construct_object(node, deep)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = key_node.value
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def _strict(construct, what: str):
    """PyYAML's constructor for a typed scalar (!!bool maybe, !!int '', !!timestamp foo) fails with
    KeyError, IndexError or AttributeError on a bad value; make that a YAML error like any other."""
    def checked(loader, node):
        try:
            return construct(loader, node)
        except (KeyError, IndexError, AttributeError):
            raise yaml.constructor.ConstructorError(
                None, None, f"{str(node.value)[:40]!r} is not {what}", node.start_mark) from None
    return checked


for _tag, _what in (("bool", "true or false"), ("int", "a whole number"), ("float", "a number"),
                    ("timestamp", "a date")):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}",
                            _strict(_Loader.yaml_constructors[f"tag:yaml.org,2002:{_tag}"], _what))


def load(data: bytes, where: str, max_bytes: int) -> dict:
    """Bytes of a task file → a plain mapping (coordinator/plain.py); refuses oversize, binary,
    non-UTF-8, unsafe or YAML-only content, and nesting past MAX_DEPTH, always as InvalidTask."""
    if len(data) > max_bytes:
        raise InvalidTask(where, [f"file is {len(data)} bytes; the limit is {max_bytes}"])
    if b"\0" in data:
        raise InvalidTask(where, ["file is binary (holds NUL bytes); a task file is UTF-8 YAML"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidTask(where, [f"not UTF-8 (bad byte at offset {e.start}); save the file as UTF-8"]) from None
    try:
        _check_depth(text, where)  # before building anything: libyaml's composer recurses in C
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeConstructor
    except yaml.YAMLError as e:
        where_in = 'in "<unicode string>", '
        raise InvalidTask(where, [f"not valid YAML: {_one_line(str(e).replace(where_in, ''))}"]) from None
    except TypeError:  # unhashable: a list or mapping used as a mapping key
        raise InvalidTask(where, ["a mapping key is a list or mapping; keys must be text"]) from None
    except (ValueError, OverflowError) as e:  # e.g. an integer past Python's 4300-digit limit
        what = ("a number is too long; write it as text, in quotes" if "digits" in str(e)
                else f"a value cannot be read: {_one_line(str(e))}")
        raise InvalidTask(where, [what]) from None
    if not isinstance(doc, dict):
        raise InvalidTask(where, ["a task file must be a YAML mapping (key: value lines)"
                                  + (f", found {type(doc).__name__}" if doc is not None else ", found nothing")])
    found = plain_problems(doc)
    if found:
        raise InvalidTask(where, found)
    return doc


def _check_depth(text: str, where: str) -> None:
    """Refuse YAML nested deeper than MAX_DEPTH by reading its events, which never recurse."""
    parser = _yaml.CParser(text)
    depth = 0
    try:
        while True:
            event = parser.get_event()
            kind = type(event)
            if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise InvalidTask(where, [f"nested more than {MAX_DEPTH} levels deep at line "
                                              f"{mark.line + 1}, column {mark.column + 1}; flatten it"])
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                depth -= 1
            elif kind is yaml.StreamEndEvent:
                return
    finally:
        parser.dispose()


def problems(doc: dict) -> list[str]:
    """Every schema violation, each naming its field; [] when the document is valid."""
    found = []
    for err in sorted(_VALIDATOR.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        field = ".".join(map(str, err.absolute_path)) or "task"
        if err.validator == "additionalProperties":
            unknown = sorted(set(doc) - set(SCHEMA["properties"]))
            found.extend(_unknown_field(k) for k in unknown)
        else:
            found.append(f"{field}: {_one_line(err.message)}")
    return list(dict.fromkeys(found))[:MAX_PROBLEMS]


def _unknown_field(key: str) -> str:
    import difflib

    near = difflib.get_close_matches(key, USER_FIELDS, n=1)
    return f"unknown field '{key}'" + (f"; did you mean '{near[0]}'?" if near else "")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


# --- intake --------------------------------------------------------------------------------

def new_id(now: datetime, rng: random.Random) -> str:
    """A time-sortable id: 20261125-014647-123-k3f9."""
    suffix = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(4))
    return now.strftime("%Y%m%d-%H%M%S-") + f"{now.microsecond // 1000:03d}-{suffix}"


def intake(doc: dict, where: str, *, lane: str | None, now: datetime, task_id: str,
           defaults: Defaults, source: str) -> dict:
    """A valid submission → a queued task with every coordinator field set.

    `lane` is the lane directory the file was put in (None for inbox/ and the API); `task_id`
    is used when the submission names no id. Raises InvalidTask listing every problem.
    """
    found = plain_problems(doc)  # first: the schema and everything below expect plain data
    if found:
        raise InvalidTask(where, found)
    found = problems(doc)
    found += [f"field '{k}' is written by the coordinator; remove it" for k in READ_ONLY if k in doc]
    bad_id = name_problem(doc["id"]) if isinstance(doc.get("id"), str) else None
    if bad_id:  # said in words, not as the schema's regular expression
        found = [p for p in found if not p.startswith("id:")] + [f"id: {bad_id}"]
    priority = doc.get("priority")
    if lane and priority and priority != lane and priority in LANES:
        found.append(f"priority: file is in lane '{lane}' but says priority '{priority}'; "
                     "make them agree or drop the field")
    if isinstance(doc.get("scope"), list) and not any(p.startswith("scope") for p in found):
        found.extend(scope_problems(doc["scope"]))
    times = {}
    for key in ("deadline", "not_before"):
        if key in doc and not any(p.startswith(key) for p in found):
            try:
                times[key] = format_time(parse_deadline(doc[key], now))
            except ValueError as e:
                found.append(f"{key}: {e}")
    if found:
        raise InvalidTask(where, found[:MAX_PROBLEMS])
    stamp = format_time(now)
    task = {k: v for k, v in doc.items() if v is not None}
    task.update(times)
    task["id"] = doc.get("id") or task_id
    task["title"] = doc.get("title") or _title_from(doc["prompt"])
    task["priority"] = priority or lane or "normal"
    task.setdefault("max_retries", defaults.max_retries)
    task.update(state=State.QUEUED.label, agent=None, attempt=0, created_at=stamp,
                queued_at=stamp, updated_at=stamp, source=_printable(source)[:200])
    return ordered(task)


def admit(doc: dict, where: str, *, lane: str | None, now: datetime, task_id: str,
          defaults: Defaults, source: str, marks: dict | None = None) -> tuple[dict, bytes]:
    """Everything a submission passes before it is stored, whatever its channel (the API, a
    pushed file, the pre-receive check): intake, coordinator marks, and the bytes to store, so
    that what this accepts can always be written and served. Raises InvalidTask."""
    task = intake(doc, where, lane=lane, now=now, task_id=task_id, defaults=defaults, source=source)
    if marks:
        task = ordered({**task, **marks})
    data = dump(task)
    if len(data) > defaults.max_bytes:
        raise InvalidTask(where, [f"the task is {len(data)} bytes as stored; the limit is {defaults.max_bytes} "
                                  "(limits.task_bytes)"])
    return task, data


def id_taken(task_id: str, by: str) -> str:
    """The one wording, wherever a submission's id is found taken (the API, a push, intake)."""
    return f"id '{task_id}' is already used by {by}; pick another id or leave it out"


def held_by(state: State, path: str) -> str:
    """The task that holds an id, by its state: "a task that is done (done/2026-11/25/T-1.yaml)"."""
    return f"a task that is {'in review' if state is State.REVIEW else state.label} ({path})"


def _printable(text: str) -> str:
    """Text from outside (a committer's name) made storable: no NUL, no lone surrogates."""
    return text.replace("\0", "").encode("utf-8", "replace").decode("utf-8")


def scope_problems(scope: list) -> list[str]:
    """Each `scope` entry that .gitignore's rules cannot read (the gatekeeper matches paths by them)."""
    found = []
    for n, pattern in enumerate(scope):
        try:
            pathspec.PathSpec.from_lines("gitignore", [pattern])
        except (ValueError, re.error):  # pathspec lets re.error through for a bad range: [z-a]
            found.append(f"scope.{n}: {pattern!r} is not a .gitignore-style pattern (e.g. src/login/, *.md)")
    return found


def _title_from(prompt: str) -> str:
    first = next((line.strip() for line in prompt.splitlines() if line.strip()), "untitled")
    return first if len(first) <= 80 else first[:77] + "..."


def check_stored(doc: dict, where: str, task_id: str) -> None:
    """A task file the coordinator wrote: valid, with its id matching its file name."""
    found = problems(doc)
    for key in TIME_FIELDS:
        if isinstance(doc.get(key), str):
            try:
                parse_time(doc[key])
            except ValueError as e:
                found.append(f"{key}: {e}")
    if doc.get("id") != task_id:
        found.append(f"id: '{doc.get('id')}' does not match the file name '{task_id}.yaml'")
    if found:
        raise InvalidTask(where, found)


def ordered(task: dict) -> dict:
    """Fields in the documented order; anything unexpected is kept, at the end."""
    return {**{k: task[k] for k in FIELD_ORDER if k in task}, **task}


# --- dumping -------------------------------------------------------------------------------

class _Dumper(yaml.CSafeDumper):
    pass


def _str(dumper, value: str):
    style = "|" if "\n" in value and value == value.strip(" ") and "\r" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(task: dict) -> bytes:
    """A task as YAML, fields in the documented order; safe to load back with `load`."""
    return dump_any(ordered(task), f"task {task.get('id', '?')}")


def dump_any(doc: dict, where: str = "document") -> bytes:
    """Any mapping (a reason file) as YAML, keys in the given order; InvalidTask if it is not
    plain data (coordinator/plain.py), so nothing is written that `load` would refuse."""
    found = plain_problems(doc)
    if found:
        raise InvalidTask(where, found)
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False).encode("utf-8")
