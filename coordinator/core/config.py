"""agentcom.yaml → frozen dataclasses. Defaults live here only; unknown keys are errors.

Durations are written like `30m` in the file and are seconds here. Anyone who may push may change
this file, so it holds no setting that names a file or a host a credential goes to: those are set
on the hub's machine (LOCAL_ONLY; gatekeeper/setup.py reads them).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from coordinator.wire.errors import ConfigError, refuse_unknown_keys
from coordinator.core.layout import LANES
from coordinator.core.task import InvalidTask, load
from coordinator.wire.times import parse_duration

CONFIG_FILE = "agentcom.yaml"
CONFIG_MAX_BYTES = 65536


def _duration(default: int | None, *, nullable: bool = False, minimum: int = 0):
    return field(default=default, metadata={"duration": True, "nullable": nullable, "minimum": minimum})


@dataclass(frozen=True)
class Limits:
    task_bytes: int = 65536          # largest task file accepted
    push_files: int = 1000           # most task files one push may add


@dataclass(frozen=True)
class Retry:
    max_retries: int = 3             # attempts after the first, unless a task says otherwise
    backoff_base: int = _duration(30)
    backoff_max: int = _duration(3600)


@dataclass(frozen=True)
class Timeouts:
    accept: int = _duration(120)           # an assignment not accepted in time is reclaimed
    progress: int = _duration(1800)        # a running task with no report for this long is reclaimed
    heartbeat_grace: int = _duration(90)   # an agent silent this long is offline; its task is reclaimed
    on_deadline: str = field(default="fail", metadata={"choices": ("fail", "retry")})


@dataclass(frozen=True)
class Lane:
    promote_after: int | None = _duration(None, nullable=True)  # queued this long → one lane higher; null: never


@dataclass(frozen=True)
class Hub:
    host: str = "127.0.0.1"
    port: int = 8765
    rescan: int = _duration(30, minimum=1)  # safety-net look at main, in case a push notification was lost
    host_names: str = ""   # on loopback, other Host names to answer to (a proxy's name), comma-separated


@dataclass(frozen=True)
class Gatekeeper:
    """How often the hub's gatekeeper polls (docs/gatekeeper.md); where it works is set on the hub's machine."""
    interval: int = _duration(300, minimum=10)  # the slow poll, a fallback for a missed webhook


LOCAL_ONLY = {"gatekeeper": ("forge", "target", "github_api", "github_token_file", "webhook_secret_file",
                             "notify_webhook_file")}
"""Keys a pushed file may not set: each names a file, a host or a repo the hub's credentials reach."""


DEFAULT_LANES = {"urgent": Lane(), "high": Lane(14400), "normal": Lane(14400), "low": Lane(14400)}


@dataclass(frozen=True)
class Config:
    limits: Limits = Limits()
    retry: Retry = Retry()
    timeouts: Timeouts = Timeouts()
    lanes: dict = field(default_factory=lambda: dict(DEFAULT_LANES))
    hub: Hub = Hub()
    gatekeeper: Gatekeeper = Gatekeeper()


SECTIONS = {"limits": Limits, "retry": Retry, "timeouts": Timeouts, "hub": Hub, "gatekeeper": Gatekeeper}
MAXIMA = {"task_bytes": 1 << 20, "push_files": 100000, "max_retries": 100, "port": 65535}
"""Upper bounds: the task schema's max_retries, and the size a stored task is read back with."""


def parse(data: bytes, where: str = CONFIG_FILE) -> Config:
    """Bytes of agentcom.yaml → Config; raises ConfigError naming the key and the fix (the push
    hook's rule: a key set only on the hub's machine is refused, saying where it goes)."""
    doc = _load(data, where)
    local = _local_keys(doc)
    if local:
        raise ConfigError(where, ", ".join(local), local_only_hint(local))
    return _parse(doc, where)


def parse_applied(data: bytes, where: str = CONFIG_FILE) -> tuple[Config, str | None]:
    """What the hub applies of a file that reached main: keys set only on the hub's machine are
    left out (never applied) and named in the problem returned; any other error raises."""
    doc = _load(data, where)
    ignored = _local_keys(doc)
    for label in ignored:
        section, key = label.split(".")
        doc[section] = {k: v for k, v in doc[section].items() if k != key}
    problem = f"{where}: {', '.join(ignored)}: ignored, {local_only_hint(ignored)}" if ignored else None
    return _parse(doc, where), problem


def local_only_hint(labels: list[str]) -> str:
    """Where keys of LOCAL_ONLY are set instead, for the error that refuses them."""
    options = " ".join("--" + label.split(".", 1)[1].replace("_", "-") + " ..." for label in labels)
    return ("set on the hub's machine only, never in the coordination repo (anyone who may push could point "
            f"it at a file or a host of their choosing): `agentcom hub {options}` (each also "
            "$AGENTCOM_GATEKEEPER_<NAME>), or the gatekeeper: section of the hub's local settings file "
            "agentcom/local.yaml inside the bare repo; see docs/gatekeeper.md#running-it")


def _load(data: bytes, where: str) -> dict:
    try:
        return load(data, where, CONFIG_MAX_BYTES) if data.strip() else {}
    except InvalidTask as e:
        raise ConfigError(where, "file", "; ".join(e.problems)) from None


def _local_keys(doc: dict) -> list[str]:
    return [f"{section}.{key}" for section, keys in LOCAL_ONLY.items() if isinstance(doc.get(section), dict)
            for key in doc[section] if key in keys]


def _parse(doc: dict, where: str) -> Config:
    refuse_unknown_keys(where, "", doc, [*SECTIONS, "lanes"])
    values = {name: _section(where, name, cls(), doc.get(name)) for name, cls in SECTIONS.items()}
    lanes = dict(DEFAULT_LANES)
    raw_lanes = doc.get("lanes") or {}
    if not isinstance(raw_lanes, dict):
        raise ConfigError(where, "lanes", "must be a mapping of lane name to settings")
    refuse_unknown_keys(where, "lanes.", raw_lanes, list(LANES))
    for name, raw in raw_lanes.items():
        lanes[name] = _section(where, f"lanes.{name}", DEFAULT_LANES[name], raw)
    return Config(lanes=lanes, **values)


def _section(where: str, name: str, base, raw):
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise ConfigError(where, name, "must be a mapping of settings")
    known = {f.name: f for f in fields(base)}
    refuse_unknown_keys(where, f"{name}.", raw, list(known))
    changes = {}
    for key, value in raw.items():
        spec, label = known[key], f"{name}.{key}"
        if spec.metadata.get("duration"):
            if value is None and spec.metadata["nullable"]:
                changes[key] = None
                continue
            try:
                changes[key] = parse_duration(value)
            except ValueError as e:
                raise ConfigError(where, label, str(e)) from None
            if changes[key] < spec.metadata["minimum"]:
                raise ConfigError(where, label, f"must be at least {spec.metadata['minimum']}s")
        elif isinstance(getattr(base, key), bool) or not isinstance(value, type(getattr(base, key))) \
                or isinstance(value, bool):
            raise ConfigError(where, label, f"expected {type(getattr(base, key)).__name__}, got {value!r}")
        elif spec.metadata.get("choices") and value not in spec.metadata["choices"]:
            raise ConfigError(where, label, f"{value!r} is not one of {', '.join(spec.metadata['choices'])}")
        elif isinstance(value, int) and not 0 <= value <= MAXIMA.get(key, 10**9):
            raise ConfigError(where, label, f"{value} is out of range (0 to {MAXIMA.get(key, 10**9)})")
        else:
            changes[key] = value
    return replace(base, **changes)
