"""sidecar.yaml → a frozen SidecarConfig. Unknown keys are errors; relative paths are relative to
the file; durations like `30s` become seconds here. docs/sidecar.md lists every key."""
from __future__ import annotations

import difflib
import os
import re
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from coordinator.wire import names
from coordinator.wire.errors import ConfigError
from coordinator.wire.times import parse_duration

CONFIG_MAX_BYTES = 65536
PLACEHOLDERS = ("prompt", "prompt_file", "task_file", "task_id", "attempt", "title", "run_dir", "result_file")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
STDIN = ("prompt", "task", "none")


@dataclass(frozen=True)
class SidecarConfig:
    hub: str                                  # the hub's address
    agent: str                                # the registered agent name
    token: str = field(repr=False)            # the agent's own token
    command: tuple[str, ...]                  # argv; {placeholders} are filled per task
    state_dir: Path                           # what it holds, kept across restarts
    workdir: Path | None = None               # where the command runs (default: the run's folder)
    stdin: str = "prompt"                     # what the command reads on stdin
    env: tuple[tuple[str, str], ...] = ()     # extra environment for the command
    listen: str = "127.0.0.1:0"               # the notification endpoint (port 0: any free one)
    advertise: str | None = None              # the URL the hub calls, when not the listen address
    heartbeat: int = 30
    run_timeout: int = 7200                   # a run still going after this is killed
    kill_grace: int = 10                      # SIGTERM, then SIGKILL this much later
    progress_every: int = 300                 # at most one progress report per this period
    poll_jitter: int = 20                     # `sidecar poll` waits 0..this before acting
    prompt_footer: bool = True                # append the result contract to the prompt
    git_workflow: bool = True                 # a task naming a repo runs on a fresh branch, then a PR
    forge: str = "local"                      # where its pull requests go: local | github
    github_api: str = "https://api.github.com"   # GitHub's (or GitHub Enterprise's) API base
    github_token: str | None = field(default=None, repr=False)   # read from github_token_file
    base_branch: str = "main"                 # the target repos' main branch
    local_targets: bool = True                # a task's repo may be a path here or a file:// URL

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])


_DURATIONS = ("heartbeat", "run_timeout", "kill_grace", "progress_every", "poll_jitter")
_KEYS = ("hub", "agent", "token", "token_file", "command", "state_dir", "workdir", "stdin", "env",
         "listen", "advertise", "prompt_footer", *_DURATIONS, "git_workflow", "forge", "github_api",
         "github_token_file", "base_branch", "local_targets")
FORGES = ("local", "github")


def load_config(path: Path) -> SidecarConfig:
    """Read and check a sidecar config file; ConfigError names the key and the fix."""
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(where, "file", f"cannot read it: {e.strerror}") from None
    if len(data) > CONFIG_MAX_BYTES:
        raise ConfigError(where, "file", f"over {CONFIG_MAX_BYTES} bytes")
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as e:
        raise ConfigError(where, "file", f"not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise ConfigError(where, "file", "must be a mapping of settings (see docs/sidecar.md)")
    return parse_config(doc, path.resolve().parent, where, os.stat(path).st_mode)


def parse_config(doc: dict, base: Path, where: str, mode: int = 0o600) -> SidecarConfig:
    for key in doc:
        if key not in _KEYS:
            near = difflib.get_close_matches(str(key), _KEYS, n=1)
            raise ConfigError(where, str(key), f"unknown key; did you mean '{near[0]}'?" if near
                              else f"unknown key; known keys: {', '.join(_KEYS)}")
    for key in ("hub", "agent", "command"):
        if not doc.get(key):
            raise ConfigError(where, key, "is required")

    def text(key, pattern=None, hint="", valid=None):
        value = doc.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > 500 or (pattern and not re.fullmatch(pattern, value)) \
                or (valid and not valid(value)):
            raise ConfigError(where, key, f"{value!r} is not valid{hint}")
        return value

    hub = text("hub", r"https?://[^\s/]+(/\S*)?", " (write e.g. http://127.0.0.1:8765)").rstrip("/")
    agent = text("agent", hint=" (letters, digits, . _ -)", valid=names.is_name)
    token = _token(doc, base, where, mode)
    values = {"hub": hub, "agent": agent, "token": token, "command": parse_command(doc["command"], where),
              "state_dir": _path(base, text("state_dir")) or base / f"{agent}.state",
              "workdir": _path(base, text("workdir"))}
    if doc.get("stdin") is not None:
        if doc["stdin"] not in STDIN:
            raise ConfigError(where, "stdin", f"{doc['stdin']!r} is not one of {', '.join(STDIN)}")
        values["stdin"] = doc["stdin"]
    if doc.get("env") is not None:
        env = doc["env"]
        if not isinstance(env, dict) or not all(isinstance(k, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)
                                                and isinstance(v, (str, int)) for k, v in env.items()):
            raise ConfigError(where, "env", "must map variable names to text")
        values["env"] = tuple((k, str(v)) for k, v in sorted(env.items()))
    listen = text("listen", r"[^\s:]+:\d{1,5}", " (write HOST:PORT, e.g. 127.0.0.1:0)")
    if listen:
        values["listen"] = listen
    advertise = text("advertise", r"https?://\S+", " (write the URL the hub should call)")
    if advertise:
        values["advertise"] = advertise
    for key in _DURATIONS:
        if doc.get(key) is not None:
            try:
                values[key] = parse_duration(doc[key])
            except ValueError as e:
                raise ConfigError(where, key, str(e)) from None
    if values.get("heartbeat", 1) < 1:
        raise ConfigError(where, "heartbeat", "must be at least 1s")
    for key in ("prompt_footer", "git_workflow", "local_targets"):
        if doc.get(key) is not None:
            if not isinstance(doc[key], bool):
                raise ConfigError(where, key, "must be true or false")
            values[key] = doc[key]
    values.update(_forge(doc, base, where, text))
    return SidecarConfig(**values)


def _forge(doc: dict, base: Path, where: str, text) -> dict:
    """forge, github_api, github_token_file (mode 600) and base_branch."""
    out = {}
    if doc.get("forge") is not None:
        if doc["forge"] not in FORGES:
            raise ConfigError(where, "forge", f"{doc['forge']!r} is not one of {', '.join(FORGES)}")
        out["forge"] = doc["forge"]
    api = text("github_api", r"https?://[^\s/]+(/\S*)?", " (write e.g. https://github.example.com/api/v3)")
    if api:
        out["github_api"] = api.rstrip("/")
    branch = text("base_branch", r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}", " (a branch name)")
    if branch:
        out["base_branch"] = branch
    if doc.get("github_token_file") is not None:
        path = _path(base, str(doc["github_token_file"]))
        try:
            if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(where, "github_token_file", f"{path} can be read by others; chmod 600 it")
            out["github_token"] = path.read_text().strip()
        except OSError as e:
            raise ConfigError(where, "github_token_file", f"cannot read {path}: {e.strerror}") from None
    if out.get("forge") == "github" and not out.get("github_token"):
        raise ConfigError(where, "github_token_file", "is required with forge: github (a file holding the token, mode 600)")
    return out


def _token(doc: dict, base: Path, where: str, mode: int) -> str:
    if os.environ.get("AGENTCOM_AGENT_TOKEN"):
        return os.environ["AGENTCOM_AGENT_TOKEN"].strip()
    if doc.get("token") and doc.get("token_file"):
        raise ConfigError(where, "token", "give token or token_file, not both")
    if doc.get("token"):
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(where, "token", f"the file holds a token and others can read it "
                                              f"(mode {stat.S_IMODE(mode):o}); chmod 600 it")
        return str(doc["token"]).strip()
    if doc.get("token_file"):
        path = _path(base, str(doc["token_file"]))
        try:
            if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(where, "token_file", f"{path} can be read by others; chmod 600 it")
            return path.read_text().strip()
        except OSError as e:
            raise ConfigError(where, "token_file", f"cannot read {path}: {e.strerror}") from None
    raise ConfigError(where, "token", "is required (or token_file, or $AGENTCOM_AGENT_TOKEN); "
                                      "`agentcom agent register NAME` prints it once")


def parse_command(value, where: str) -> tuple[str, ...]:
    """A list of arguments, or one string split like a shell would split it (no shell ever runs)."""
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as e:
            raise ConfigError(where, "command", f"cannot split {value!r}: {e}") from None
    elif isinstance(value, list) and all(isinstance(a, (str, int)) for a in value):
        argv = [str(a) for a in value]
    else:
        raise ConfigError(where, "command", "must be a list of arguments or one line of text")
    if not argv:
        raise ConfigError(where, "command", "is empty")
    for arg in argv:
        for name in _PLACEHOLDER.findall(arg):
            if name not in PLACEHOLDERS:
                raise ConfigError(where, "command", f"unknown placeholder {{{name}}}; known: "
                                  + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
    _refuse_option_like_text(argv, where)
    return tuple(argv)


TEXT_PLACEHOLDERS = ("{prompt}", "{title}")  # task text: it may start with '-'


def _refuse_option_like_text(argv: list[str], where: str) -> None:
    """An argument that starts with task text must come after `--`, so that a prompt such as
    "--dangerously-skip-permissions" reaches the agent as text, never as one of its options."""
    for n, arg in enumerate(argv[1:], start=1):
        if arg == "--":
            return
        if arg.startswith(TEXT_PLACEHOLDERS):
            fixed = " ".join([*argv[:n], *argv[n + 1:], "--", arg])
            raise ConfigError(where, "command", f"{arg!r} starts with task text, so a prompt beginning with '-' "
                              f"would be read as an option; put it after `--`, e.g. {fixed!r}, or inside "
                              "an option, e.g. --prompt={prompt}")


def _path(base: Path, value: str | None) -> Path | None:
    return None if value is None else (base / Path(value).expanduser()).resolve()
