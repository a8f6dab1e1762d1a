"""[pure] The one settings engine. A section of a settings file is a frozen dataclass whose fields
say how each value is read (`setting(default, kind)`); `read` checks a parsed YAML mapping against it.
Defaults are the dataclass's; an unknown key is an error suggesting the full dotted key meant."""
from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from typing import Any

from coordinator.wire.errors import ConfigError
from coordinator.wire.times import parse_duration


class Invalid(ValueError):
    """A value is wrong at `path` below the section being read; `read` makes it a ConfigError."""

    def __init__(self, problem: str, path: tuple[str, ...] = (), near: str | None = None):
        super().__init__(problem)
        self.problem, self.path, self.near = problem, path, near

    def under(self, key: object) -> Invalid:
        return Invalid(self.problem, (str(key), *self.path), self.near)


def setting(default: Any = MISSING, kind: Callable | None = None, *, check: Callable | None = None,
            required: bool = False):
    """A field read from a settings file: `kind` turns the YAML value into the field's value (or
    raises ValueError saying what is wanted); `check`, if given, then vets that value the same way."""
    meta = {"kind": kind, "check": check, "required": required}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def shown(value: object) -> str:
    """A value quoted in an error, cut short: the file may be hostile."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Whole:
    maximum: int = 10**9
    minimum: int = 0

    def __call__(self, value):
        if isinstance(value, bool) or not isinstance(value, int) or not self.minimum <= value <= self.maximum:
            raise Invalid(f"expected a whole number from {self.minimum} to {self.maximum}, got {shown(value)}")
        return value


@dataclass(frozen=True)
class Number:
    maximum: float = 1

    def __call__(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= self.maximum:
            raise Invalid(f"expected a number from 0 to {self.maximum}, got {shown(value)}")
        return float(value)


@dataclass(frozen=True)
class Flag:
    def __call__(self, value):
        if not isinstance(value, bool):
            raise Invalid(f"expected true or false, got {shown(value)}")
        return value


@dataclass(frozen=True)
class Duration:
    """`30m`, `2h`, `90` (seconds) → whole seconds; null too when nullable."""

    minimum: int = 0
    nullable: bool = False

    def __call__(self, value):
        if value is None and self.nullable:
            return None
        seconds = parse_duration(value)
        if seconds < self.minimum:
            raise Invalid(f"must be at least {self.minimum}s")
        return seconds


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]

    def __call__(self, value):
        if not isinstance(value, str) or value not in self.choices:
            raise Invalid(f"{shown(value)} is not one of {', '.join(self.choices)}")
        return value


@dataclass(frozen=True)
class Text:
    """One printable line; `wanted` completes "'x' is not ..." in the error."""

    wanted: str = "a line of text (at most 500 printable characters)"
    pattern: str | None = None
    most: int = 500
    least: int = 1

    def __call__(self, value):
        if not isinstance(value, str) or not self.least <= len(value) <= self.most or not value.isprintable() \
                or (self.pattern and not re.fullmatch(self.pattern, value)):
            raise Invalid(f"{shown(value)} is not {self.wanted}")
        return value


@dataclass(frozen=True)
class Lines:
    """A YAML list of text → a tuple."""

    item: Callable = Text()
    most: int = 500

    def __call__(self, value):
        if not isinstance(value, list) or len(value) > self.most:
            raise Invalid(f"expected a list of at most {self.most} lines of text, got {shown(value)}")
        return tuple(self.item(i) for i in value)


@dataclass(frozen=True)
class Table:
    """A mapping of `key` to `value` → a dict; with `fold`, two keys that fold alike are refused.
    Null reads as empty unless `nullable` is off (where an empty table would lift a safeguard, a
    key left with every entry commented out must not pass for one)."""

    key: Callable
    value: Callable
    wanted: str = "a mapping"
    most: int | None = None
    fold: Callable | None = None
    twice: str = ""
    nullable: bool = True

    def __call__(self, value):
        if value is None and self.nullable:
            return {}
        if not isinstance(value, dict) or (self.most is not None and len(value) > self.most):
            limit = f" (at most {self.most})" if self.most is not None else ""
            raise Invalid(f"expected {self.wanted}{limit}, got {shown(value)}")
        out = {}
        for raw_key, raw in value.items():
            try:
                key, entry = self.key(raw_key), self.value(raw)
            except ValueError as e:
                raise _invalid(e).under(raw_key) from None
            key = self.fold(key) if self.fold else key
            if key in out:
                raise Invalid(f"named twice ({self.twice})", (str(raw_key),))
            out[key] = entry
        return out


@dataclass(frozen=True)
class Sections:
    """A mapping of name to a section of `cls` → a dict. Each entry starts from the current value of
    that name, else from the sibling field `like` (a per-repo override of `merge`), else `cls()`.
    `names` fixes the names allowed; otherwise `key` checks each one."""

    cls: type
    names: tuple[str, ...] | None = None
    key: Callable | None = None
    fold: Callable | None = None
    twice: str = ""
    like: str | None = None
    wanted: str = "a mapping of settings"

    def read(self, value, current: dict, sibling: Callable[[str], Any]) -> dict:
        if value is None:
            return current
        if not isinstance(value, dict):
            raise Invalid(f"must be {self.wanted}")
        if self.names is not None:
            _refuse_unknown(value, list(self.names))
        out, seen = dict(current), set()
        for raw_key, raw in value.items():
            try:
                name = self.key(raw_key) if self.key else raw_key
                name = self.fold(name) if self.fold else name
                if name in seen:
                    raise Invalid(f"named twice ({self.twice})")
                start = current.get(name) or (sibling(self.like) if self.like else self.cls())
                out[name] = _section(start, raw)
            except ValueError as e:
                raise _invalid(e).under(raw_key) from None
            seen.add(name)
        return out


@dataclass(frozen=True)
class Section:
    """A mapping read as a section of `cls` from its defaults: a table's entries that are sections."""

    cls: type
    wanted: str = "a mapping of settings"

    def __call__(self, value):
        if not isinstance(value, dict):
            raise Invalid(f"must be {self.wanted}, got {shown(value)}")
        return _section(self.cls(), value)


def read(base, raw, where: str, label: str = ""):
    """A parsed YAML mapping over `base` (a section instance, or its class for the defaults) → a
    new instance; ConfigError names the full dotted key, what is wrong and what is wanted."""
    try:
        return _section(base() if isinstance(base, type) else base, raw)
    except Invalid as e:
        raise _error(where, label, e) from None


def read_keys(cls: type, raw, where: str, extra: dict[str, Callable] | None = None) -> dict:
    """Only the keys `raw` sets, read as `cls` declares them (plus `extra` keys the file may hold that
    are no field), for a section built from more than its file; a `required` key must be there."""
    try:
        if not isinstance(raw, dict):
            raise Invalid("must be a mapping of settings")
        return _values(cls, raw, lambda name: None, extra or {})
    except Invalid as e:
        raise _error(where, "", e) from None


def plain(value):
    """A section → the YAML-ready mapping that reads back as it (tuples as lists, sections as mappings)."""
    if is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value) if _is_key(f)}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _is_key(f) -> bool:
    """A field is a key of the file when it says how it is read, or is itself a section."""
    return f.metadata.get("kind") is not None or (f.default is not MISSING and is_dataclass(f.default))


def _section(base, raw):
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise Invalid("must be a mapping of settings")
    return replace(base, **_values(type(base), raw, lambda name: getattr(base, name), {}))


def _values(cls: type, raw: dict, current: Callable[[str], Any], extra: dict[str, Callable]) -> dict:
    specs = {f.name: f for f in fields(cls) if _is_key(f)}
    _refuse_unknown(raw, [*specs, *extra])
    changes = {}
    for name, spec in specs.items():
        if name not in raw:
            if spec.metadata.get("required"):
                raise Invalid("is required", (name,))
            continue
        sibling = lambda other: changes[other] if other in changes else current(other)  # noqa: E731
        try:
            changes[name] = _value(spec, current(name), raw[name], sibling)
        except ValueError as e:
            raise _invalid(e).under(name) from None
    for name, kind in extra.items():
        if name in raw:
            try:
                changes[name] = kind(raw[name])
            except ValueError as e:
                raise _invalid(e).under(name) from None
    return changes


def _value(spec, current, value, sibling):
    kind, check = spec.metadata.get("kind"), spec.metadata.get("check")
    if kind is None:
        out = _section(current, value)
    elif isinstance(kind, Sections):
        out = kind.read(value, current or {}, sibling)
    else:
        out = kind(value)
    if check is not None:
        check(out)
    return out


def _refuse_unknown(raw: dict, known: list[str]) -> None:
    for key in raw:
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1)
            raise Invalid("unknown key" if near else f"unknown key; known keys: {', '.join(known)}",
                          (str(key),), near[0] if near else None)


def _invalid(e: ValueError) -> Invalid:
    return e if isinstance(e, Invalid) else Invalid(str(e))


def _error(where: str, label: str, e: Invalid) -> ConfigError:
    path = [*([label] if label else []), *e.path]
    problem = e.problem
    if e.near is not None:
        problem += f"; did you mean '{'.'.join([*path[:-1], e.near])}'?"
    return ConfigError(where, ".".join(path) or "file", problem)
