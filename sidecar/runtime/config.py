"""sidecar.yaml → a frozen SidecarConfig. Unknown keys are errors; relative paths are relative to
the file; durations like `30s` become seconds here. docs/sidecar.md lists every key."""
from __future__ import annotations

import os
import re
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from coordinator.wire import names
from coordinator.wire.errors import ConfigError
from coordinator.wire.settings import Choice, Duration, Flag, Lines, Text, Whole, read_keys, setting

CONFIG_MAX_BYTES = 65536
PLACEHOLDERS = ("prompt", "prompt_file", "task_file", "task_id", "attempt", "title", "run_dir", "result_file")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
STDIN = ("prompt", "task", "none")
FORGES = ("local", "github")
TEXT_PLACEHOLDERS = ("{prompt}", "{title}")  # task text: it may start with '-'
_URL = r"https?://[^\s/]+(/\S*)?"
_PATH = Text("a path (one line of text)", least=0)   # empty: the config file's folder


def _token_text(value) -> str:
    """A token written in the file: one scalar, the space around it (a block scalar's newline) dropped."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or len(str(value)) > 4096:
        raise ValueError(f"{str(value)[:40]!r} is not a token (one line of text)")
    return str(value).strip()


def _command(value) -> tuple[str, ...]:
    """A list of arguments, or one string split like a shell would split it (no shell ever runs)."""
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as e:
            raise ValueError(f"cannot split {value!r}: {e}") from None
    elif isinstance(value, list) and all(isinstance(a, (str, int)) for a in value):
        argv = [str(a) for a in value]
    else:
        raise ValueError("must be a list of arguments or one line of text")
    if not argv:
        raise ValueError("is empty")
    for arg in argv:
        for name in _PLACEHOLDER.findall(arg):
            if name not in PLACEHOLDERS:
                known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                raise ValueError(f"unknown placeholder {{{name}}}; known: {known}")
    _refuse_option_like_text(argv)
    return tuple(argv)


def _refuse_option_like_text(argv: list[str]) -> None:
    """An argument that starts with task text must come after `--`, so that a prompt such as
    "--dangerously-skip-permissions" reaches the agent as text, never as one of its options."""
    for n, arg in enumerate(argv[1:], start=1):
        if arg == "--":
            return
        if arg.startswith(TEXT_PLACEHOLDERS):
            fixed = " ".join([*argv[:n], *argv[n + 1:], "--", arg])
            raise ValueError(f"{arg!r} starts with task text, so a prompt beginning with '-' would be read as "
                             f"an option; put it after `--`, e.g. {fixed!r}, or inside an option, e.g. "
                             "--prompt={prompt}")


def _env(value) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)
                                              and isinstance(v, (str, int)) for k, v in value.items()):
        raise ValueError("must map variable names to text")
    return tuple((k, str(v)) for k, v in sorted(value.items()))


def _port(value: str) -> None:
    if int(value.rpartition(":")[2]) > 65535:
        raise ValueError(f"{value!r} names a port over 65535")


def _agent_name(value: str) -> None:
    """The hub's own name rule ('..' and Windows device names refused too)."""
    if (why := names.problem(value)) is not None:
        raise ValueError(why)


@dataclass(frozen=True)
class SidecarConfig:
    hub: str = setting(kind=Text("a hub address (write e.g. http://127.0.0.1:8765)", _URL), required=True)
    agent: str = setting(kind=Text("an agent name (letters, digits, . _ -)", names.PATTERN),
                         check=_agent_name, required=True)   # the registered agent name
    token: str = field(repr=False)            # the agent's own token: token, token_file or $AGENTCOM_AGENT_TOKEN
    command: tuple[str, ...] = setting(kind=_command, required=True)  # argv; {placeholders} are filled per task
    state_dir: Path = setting(kind=_PATH)     # what it holds, kept across restarts (default: AGENT.state beside)
    workdir: Path | None = setting(None, _PATH)   # where the command runs (default: the run's folder)
    stdin: str = setting("prompt", Choice(STDIN))  # what the command reads on stdin
    env: tuple[tuple[str, str], ...] = setting((), _env)  # extra environment for the command
    listen: str = setting("127.0.0.1:0", Text("HOST:PORT (write e.g. 127.0.0.1:0)", r"[^\s:]+:\d{1,5}"), check=_port)
    advertise: str | None = setting(None, Text("the URL the hub should call", r"https?://\S+"))
    heartbeat: int = setting(30, Duration(minimum=1))
    run_timeout: int = setting(7200, Duration())     # a run still going after this is killed
    kill_grace: int = setting(10, Duration())        # SIGTERM, then SIGKILL this much later
    progress_every: int = setting(300, Duration())   # at most one progress report per this period
    poll_jitter: int = setting(20, Duration())       # `sidecar poll` waits 0..this before acting
    prompt_footer: bool = setting(True, Flag())      # append the result contract to the prompt
    git_workflow: bool = setting(True, Flag())       # a task naming a repo runs on a fresh branch, then a PR
    forge: str = setting("local", Choice(FORGES))    # where its pull requests go
    github_api: str = setting("https://api.github.com", Text(   # GitHub's (or GitHub Enterprise's) API base
        "a URL (write e.g. https://github.example.com/api/v3)", _URL))
    github_token: str | None = field(default=None, repr=False)   # read from github_token_file
    base_branch: str | None = setting(None, Text("a branch name", r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}"))
    # None: each target's own default branch (its remote's HEAD)
    local_targets: bool = setting(True, Flag())      # a task's repo may be a path here or a file:// URL
    # what add-agent last registered the agent with on the hub; a re-add after remove-agent uses it
    capabilities: tuple[str, ...] = setting((), Lines(Text("a capability (a-z 0-9 . _ + -, at most 32)",
                                                           r"[a-z0-9][a-z0-9._+-]{0,31}"), most=32))
    slots: int = setting(1, Whole(32, 1))
    description: str = setting("", Text(most=200, least=0))

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])


FILE_ONLY = {"token": _token_text, "token_file": _PATH, "github_token_file": _PATH}
"""Keys of the file that are no field: where the secrets come from."""


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
    """A parsed sidecar.yaml → SidecarConfig: paths relative to `base`, the secrets read from their files."""
    values = read_keys(SidecarConfig, {k: v for k, v in doc.items() if v is not None}, where, FILE_ONLY)
    values["hub"] = values["hub"].rstrip("/")
    values["token"] = _token(values, base, where, mode)
    values["state_dir"] = _path(base, values.get("state_dir")) or base / f"{values['agent']}.state"
    values["workdir"] = _path(base, values.get("workdir"))
    state, workdir = values["state_dir"], values["workdir"]
    if workdir is not None and (workdir == state or state in workdir.parents):
        raise ConfigError(where, "workdir", f"{workdir} is inside state_dir ({state}), among the sidecar's own "
                          "files (its stop marks, its outbox); give the agent a folder outside it")
    if "github_api" in values:
        values["github_api"] = values["github_api"].rstrip("/")
    if "github_token_file" in values:
        values["github_token"] = _secret(_path(base, values.pop("github_token_file")), where, "github_token_file")
    if values.get("forge") == "github" and not values.get("github_token"):
        raise ConfigError(where, "github_token_file",
                          "is required with forge: github (a file holding the token, mode 600)")
    return SidecarConfig(**values)


def _secret(path: Path, where: str, key: str) -> str:
    """A token file's text; refused when others may read it."""
    try:
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(where, key, f"{path} can be read by others; chmod 600 it")
        return path.read_text().strip()
    except OSError as e:
        raise ConfigError(where, key, f"cannot read {path}: {e.strerror}") from None


def _token(values: dict, base: Path, where: str, mode: int) -> str:
    token, token_file = values.pop("token", None), values.pop("token_file", None)
    if os.environ.get("AGENTCOM_AGENT_TOKEN"):
        return os.environ["AGENTCOM_AGENT_TOKEN"].strip()
    if token and token_file:
        raise ConfigError(where, "token", "give token or token_file, not both")
    if token:
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(where, "token", f"the file holds a token and others can read it "
                                              f"(mode {stat.S_IMODE(mode):o}); chmod 600 it")
        return token.strip()
    if token_file:
        return _secret(_path(base, token_file), where, "token_file")
    raise ConfigError(where, "token", "is required (or token_file, or $AGENTCOM_AGENT_TOKEN); "
                                      "`agentcom agent register NAME` prints it once")


def parse_command(value, where: str) -> tuple[str, ...]:
    """A command given as a list of arguments or one line of text → argv; ConfigError says why not."""
    try:
        return _command(value)
    except ValueError as e:
        raise ConfigError(where, "command", str(e)) from None


def _path(base: Path, value: str | None) -> Path | None:
    return None if value is None else (base / Path(value).expanduser()).resolve()
