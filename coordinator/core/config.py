"""agentcom.yaml → frozen dataclasses. Defaults live here only; unknown keys are errors.

Durations are written like `30m` in the file and are seconds here. Anyone who may push may change
this file, so it holds no setting that names a file or a host a credential goes to: those are set
on the hub's machine (LOCAL_ONLY; reviewer/options.py reads them).
"""
from __future__ import annotations

from dataclasses import dataclass

from coordinator.core.layout import LANES
from coordinator.core.task import InvalidTask, load
from coordinator.wire.errors import ConfigError
from coordinator.wire.settings import Choice, Duration, Sections, Table, Text, Whole, read, setting

CONFIG_FILE = "agentcom.yaml"
CONFIG_MAX_BYTES = 65536
_TEXT = Text("one line of text", most=CONFIG_MAX_BYTES, least=0)


@dataclass(frozen=True)
class Limits:
    task_bytes: int = setting(65536, Whole(1 << 20))  # largest task file accepted (and read back)
    push_files: int = setting(1000, Whole(100000))    # most task files one push may add


@dataclass(frozen=True)
class Retry:
    max_retries: int = setting(3, Whole(100))  # attempts after the first, unless a task says otherwise
    backoff_base: int = setting(30, Duration())
    backoff_max: int = setting(3600, Duration())


@dataclass(frozen=True)
class Timeouts:
    accept: int = setting(120, Duration())           # an assignment not accepted in time is reclaimed
    progress: int = setting(1800, Duration())        # a running task with no report for this long is reclaimed
    heartbeat_grace: int = setting(90, Duration())   # an agent silent this long is offline; its task is reclaimed
    on_deadline: str = setting("fail", Choice(("fail", "retry")))


@dataclass(frozen=True)
class Lane:
    # queued this long → one lane higher; null: never
    promote_after: int | None = setting(None, Duration(nullable=True))


@dataclass(frozen=True)
class Hub:
    host: str = setting("127.0.0.1", _TEXT)
    port: int = setting(8765, Whole(65535))
    rescan: int = setting(30, Duration(minimum=1))  # safety-net look at main, in case a push notification was lost
    # on loopback, other Host names to answer to (a proxy's name), comma-separated
    host_names: str = setting("", _TEXT)


@dataclass(frozen=True)
class Gatekeeper:
    """How often the hub's gatekeeper polls (docs/gatekeeper.md); where it works is set on the hub's machine."""
    interval: int = setting(300, Duration(minimum=10))  # the slow poll, a fallback for a missed webhook


LOCAL_ONLY = {"gatekeeper": ("forge", "target", "github_api", "github_token_file", "webhook_secret_file",
                             "notify_webhook_file")}
"""Keys a pushed file may not set: each names a file, a host or a repo the hub's credentials reach."""


COLLISION_MODES = ("serialise", "flag", "off")


def _collision_mode(value) -> str:
    """serialise, flag or off; YAML reads a bare `off` as false, so false is off too."""
    return Choice(COLLISION_MODES)("off" if value is False else value)


@dataclass(frozen=True)
class Collisions:
    """What an overlap of scopes on one target does: serialise (the newer waits), flag (shown), off."""
    default: str = setting("serialise", _collision_mode)
    # a task's `repo` text, exactly as tasks write it → a mode for that target
    repos: dict = setting({}, Table(Text("a repo as tasks name it (at most 500 printable characters)"),
                                    _collision_mode, wanted="a mapping of repo to serialise, flag or off",
                                    most=1000))

    def mode(self, repo: str) -> str:
        return self.repos.get(repo, self.default)


DEFAULT_LANES = {"urgent": Lane(), "high": Lane(14400), "normal": Lane(14400), "low": Lane(14400)}


@dataclass(frozen=True)
class Config:
    limits: Limits = Limits()
    retry: Retry = Retry()
    timeouts: Timeouts = Timeouts()
    lanes: dict = setting(DEFAULT_LANES, Sections(Lane, names=LANES, wanted="a mapping of lane name to settings"))
    hub: Hub = Hub()
    gatekeeper: Gatekeeper = Gatekeeper()
    collisions: Collisions = Collisions()


def parse(data: bytes, where: str = CONFIG_FILE) -> Config:
    """Bytes of agentcom.yaml → Config; raises ConfigError naming the key and the fix (the push
    hook's rule: a key set only on the hub's machine is refused, saying where it goes)."""
    doc = _load(data, where)
    local = _local_keys(doc)
    if local:
        raise ConfigError(where, ", ".join(local), local_only_hint(local))
    return read(Config, doc, where)


def parse_applied(data: bytes, where: str = CONFIG_FILE) -> tuple[Config, str | None]:
    """What the hub applies of a file that reached main: keys set only on the hub's machine are
    left out (never applied) and named in the problem returned; any other error raises."""
    doc = _load(data, where)
    ignored = _local_keys(doc)
    for label in ignored:
        section, key = label.split(".")
        doc[section] = {k: v for k, v in doc[section].items() if k != key}
    problem = f"{where}: {', '.join(ignored)}: ignored, {local_only_hint(ignored)}" if ignored else None
    return read(Config, doc, where), problem


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

