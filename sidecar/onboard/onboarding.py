"""`agentcom add-agent` and `remove-agent`: one command on the agent's machine checks the
prerequisites, registers the agent (keeping its identity on a re-run), writes its sidecar config
(0600), installs and starts the sidecar as a service (a systemd user unit, else a detached
process plus the cron fallback) and proves the whole path with a self-test task. docs/onboarding.md.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from coordinator.wire import names
from coordinator.wire.atomic import read_json
from coordinator.wire.client import HttpBackend
from coordinator.wire.errors import ConfigError, HubRefused, HubUnavailable
from sidecar.onboard import crontab, detach, separation, systemd
from sidecar.onboard.enrol import AgentInUse, Enrolment, enrol, write_private
from sidecar.onboard.steps import StepFailed, Steps
from sidecar.onboard.verify import self_test
from sidecar.runtime.config import CONFIG_MAX_BYTES, SidecarConfig, parse_command, parse_config
from sidecar.runtime.runs import process_start
from sidecar.runtime.scriptargs import missing_script
from sidecar.runtime.selftest import find_program

START_TIMEOUT = 30.0
SERVICES = ("auto", "systemd", "cron", "none")


def agents_home() -> Path:
    return Path.home() / ".agentcom" / "agents"


def default_config(name: str) -> Path:
    return agents_home() / f"{name}.yaml"


@dataclass(frozen=True)
class AddOptions:
    name: str
    hub: str | None                      # None: the one in the existing config
    token: str | None = field(repr=False)
    config: Path
    command: str | None = None
    capabilities: tuple[str, ...] | None = None
    slots: int | None = None
    description: str | None = None
    workdir: Path | None = None
    listen: str | None = None            # None: kept from the config (default 127.0.0.1:0)
    base: str | None = None              # None: kept; "": the override dropped (each target's HEAD)
    token_file: Path | None = None       # where the operator token came from, for the separation note
    rotate: bool = False
    take_over: bool = False              # even if it is online or holds tasks elsewhere
    service: str = "auto"
    self_test: bool = True
    timeout: float = 60.0


def check_name(name: str) -> str:
    if not names.is_name(name):
        raise StepFailed("arguments", f"'{name[:80]}' is not an agent name",
                         "use letters, digits, . _ - (at most 64, not starting with . _ -)")
    return name


def _check_options(o: AddOptions) -> None:
    """--listen and --base read as the sidecar config will read them, before anything changes."""
    for key, option, value in (("listen", "--listen", o.listen), ("base_branch", "--base", o.base or None)):
        spec = SidecarConfig.__dataclass_fields__[key].metadata
        try:
            for step in (spec["kind"], spec["check"]):
                if value is not None and step is not None:
                    step(value)
        except ValueError as e:
            raise StepFailed("arguments", f"{option}: {e}",
                             "write e.g. --listen 0.0.0.0:8770 or --base main") from None


# --- add-agent ---------------------------------------------------------------------------

def add_agent(o: AddOptions, steps: Steps) -> dict:
    check_name(o.name)
    _check_options(o)
    existing, broken = read_existing(o.config)
    hub = o.hub or (existing or {}).get("hub")
    if not isinstance(hub, str) or not hub:
        raise StepFailed("arguments", "no hub address: none given and no config to take it from",
                         "give --hub URL (or set AGENTCOM_HUB)")
    o = replace(o, hub=hub.rstrip("/"), service=_service_kind(o.service))
    argv = _prerequisites(o, existing, steps)
    api = reach_hub(o.hub, o.token, steps)
    if (note := separation.warning(o.token_file)) is not None:
        steps.note("separation", note)
    enrolment = _register(o, api, None if broken else existing, steps)
    config = _write_config(o, enrolment, argv, existing, broken, steps)
    log = o.config.with_suffix(".log")
    since = time.time()
    service = _install(o, config, log, steps)
    answer = {"ok": True, "agent": o.name, "hub": o.hub, "created": enrolment.created,
              "token_note": enrolment.how, "config": str(o.config), "state_dir": str(config.state_dir),
              "log": str(log), "service": service}
    if service["kind"] == "none":
        steps.note("self-test", "skipped: no sidecar was started (--no-service)")
        return {**answer, "steps": steps.done}
    _wait_online(config, service, log, since, steps)
    if not o.self_test:
        steps.note("self-test", "skipped (--no-self-test)")
        return {**answer, "steps": steps.done}
    script = missing_script(config.command, config.workdir, dict(config.env).get("PATH"))
    if script is not None:  # the sidecar's answer would say so too; no need to send a task for it
        raise StepFailed("self-test", script, "fix the command (--command) or the file, then run add-agent again")
    result = self_test(api, o.name, config.state_dir, o.timeout)
    times = ", ".join(f"{k} {v:.2f}s" for k, v in result["seconds"].items())
    steps.ok("self-test", f"task {result['task']} done ({times}): {result['summary']}")
    if result.get("warning"):
        steps.note("notify", result["warning"])
    return {**answer, "self_test": result, "steps": steps.done}


def read_existing(path: Path) -> tuple[dict | None, str | None]:
    """(the config's settings, if it holds a mapping; why it is broken, if it is)."""
    if not path.exists():
        return None, None
    try:
        data = path.read_bytes()
        if len(data) > CONFIG_MAX_BYTES:
            return None, f"it is over {CONFIG_MAX_BYTES} bytes"
        doc = yaml.safe_load(data)
    except (OSError, yaml.YAMLError) as e:
        return None, str(e).splitlines()[0][:300]
    if not isinstance(doc, dict):
        return None, "it is not a mapping of settings"
    try:
        parse_config(doc, path.resolve().parent, str(path))
    except ConfigError as e:
        return doc, str(e)[:300]
    return doc, None


def _prerequisites(o: AddOptions, existing: dict | None, steps: Steps) -> tuple[str, ...]:
    steps.ok("python", f"Python {sys.version.split()[0]} ({sys.executable})")
    git = shutil.which("git")
    if git is None:
        raise StepFailed("git", "the `git` command is not on PATH", "install git (e.g. `apt install git`)")
    version = subprocess.run([git, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    steps.ok("git", f"{version} ({git})")
    given = o.command if o.command is not None else (existing or {}).get("command")
    if not given:
        raise StepFailed("command", "no agent command given", 'give --command "PROGRAM ARGS..." (the agent CLI)')
    try:
        argv = parse_command(given, "--command")
    except ConfigError as e:
        raise StepFailed("command", e.problem, "see the placeholders in docs/sidecar.md") from None
    workdir = o.workdir
    if workdir is None and isinstance((existing or {}).get("workdir"), str):
        workdir = (o.config.resolve().parent / Path(existing["workdir"]).expanduser()).resolve()
    if workdir is not None and not workdir.is_dir():
        raise StepFailed("workdir", f"{workdir} is not a directory", f"create it (mkdir -p {workdir}) or fix --workdir")
    env = (existing or {}).get("env")
    env_path = env.get("PATH") if isinstance(env, dict) else None
    program = find_program(argv[0], workdir, env_path if isinstance(env_path, str) else None)
    if program is None:
        raise StepFailed("command", f"the agent command's program '{argv[0]}' is not found on PATH or is not "
                         "executable", "install it, or give its full path in --command")
    steps.ok("command", f"{argv[0]} → {program}")
    _service_text(o)  # a path the service file cannot carry is refused before the hub is asked
    return argv


def _service_kind(asked: str) -> str:
    if asked == "auto":
        return "systemd" if systemd.available() else "cron"
    return asked


def _service_text(o: AddOptions) -> str:
    """The unit file or the cron line this agent gets (StepFailed if a path cannot go in it)."""
    if o.service == "systemd":
        return systemd.unit_text(o.name, o.config)
    if o.service == "cron":
        return crontab.line(o.name, o.config, o.config.with_suffix(".poll.log"))
    return ""


def reach_hub(url: str, token: str | None, steps: Steps) -> HttpBackend:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url or ""):
        raise StepFailed("hub", f"{url!r} is not a hub address", "write e.g. --hub http://127.0.0.1:8765")
    api = HttpBackend(url, token, timeout=15)
    try:
        health = api.health()
    except (HubUnavailable, HubRefused) as e:
        raise StepFailed("hub", f"the hub at {url} does not answer: {e}",
                         "start it (`agentcom hub`) or fix --hub; check firewalls between here and there") from None
    if not health.get("ok"):
        raise StepFailed("hub", f"the hub at {url} says it is not healthy: {health}", "read the hub's log")
    steps.ok("hub", f"{url} healthy (main at {str(health.get('head'))[:10]})")
    if not token:
        raise StepFailed("operator token", "no operator token was given",
                         "set AGENTCOM_TOKEN or use --token-file (on the hub's machine it is in "
                         "REPO/agentcom/operator.token)")
    try:
        who = api.whoami()
    except HubRefused as e:
        raise StepFailed("operator token", f"the hub does not accept the operator token ({e.status}: {e.message})",
                         "use the hub's operator token (REPO/agentcom/operator.token on the hub's machine)") from None
    if who.get("role") != "operator":
        raise StepFailed("operator token", f"that is an {who.get('role')} token (of {who.get('name')}), "
                         "not the operator's", "use the hub's operator token")
    steps.ok("operator token", f"accepted ({who.get('name')})")
    return api


def _register(o: AddOptions, api: HttpBackend, existing: dict | None, steps: Steps) -> Enrolment:
    given = {"capabilities": None if o.capabilities is None else list(o.capabilities), "slots": o.slots,
             "description": o.description}
    # an agent the hub no longer knows (after remove-agent) is registered as the config last recorded it
    known = any(a["name"] == o.name for a in api.agents())
    kept = {} if known else {k: (existing or {}).get(k) for k, v in given.items() if v is None}
    kept = {k: v for k, v in kept.items() if v is not None}
    fields = {"name": o.name, **given, **kept}
    try:
        e = enrol(api, {k: v for k, v in fields.items() if v is not None}, o.config, rotate=o.rotate,
                  take_over=o.take_over)
    except AgentInUse as err:
        raise StepFailed("register", err.problem, err.fix) from None
    except HubRefused as err:
        raise StepFailed("register", f"the hub refused the registration: {err.message}",
                         "fix the option it names") from None
    a = e.agent
    line = (f"{'registered new agent' if e.created else 'agent already registered, identity kept:'} {a['name']} "
            f"(capabilities {', '.join(a['capabilities']) or 'none'}; slots {a['slots']})"
            + (f", as {o.config} recorded it" if kept else ""))
    steps.ok("register", line)
    (steps.note if e.rotated else steps.ok)("token", e.how)
    return e


def _write_config(o: AddOptions, enrolment: Enrolment, argv: tuple[str, ...], existing: dict | None,
                  broken: str | None, steps: Steps) -> SidecarConfig:
    doc = dict(existing or {})
    if broken:  # keep only what the agent needs; every other setting goes back to its default
        steps.note("config", f"the old config was broken ({broken}); rewriting it")
        doc = {k: doc[k] for k in ("workdir",) if k in doc}
    doc.pop("token_file", None)
    a = enrolment.agent
    doc.update({"hub": o.hub.rstrip("/"), "agent": o.name, "token": enrolment.token, "command": list(argv),
                "capabilities": list(a["capabilities"]), "slots": a["slots"]})  # kept for a re-add
    _set(doc, "description", a.get("description") or None)
    if o.workdir is not None:
        doc["workdir"] = str(o.workdir.resolve())
    if o.listen is not None:
        doc["listen"] = o.listen
    if o.base is not None:
        _set(doc, "base_branch", o.base or None)
    try:
        config = parse_config(doc, o.config.resolve().parent, str(o.config))
    except ConfigError as e:
        raise StepFailed("config", str(e), f"fix or delete {o.config}, then run add-agent again") from None
    write_private(o.config, f"# AgentCom sidecar for agent {o.name}, written by `agentcom add-agent` "
                  "(it holds the agent's token: keep it 0600). docs/sidecar.md lists every key.\n"
                  + yaml.safe_dump(doc, sort_keys=False))
    steps.ok("config", f"{o.config} (mode 0600)")
    return config


def _set(doc: dict, key: str, value) -> None:
    """A key set, or taken out (None: its default)."""
    if value is None:
        doc.pop(key, None)
    else:
        doc[key] = value


def _install(o: AddOptions, config: SidecarConfig, log: Path, steps: Steps) -> dict:
    run = " ".join(shlex.quote(a) for a in detach.command(o.config))
    kind = o.service
    if kind == "none":
        steps.note("service", f"not installed (--no-service); run the sidecar with: {run}")
        return {"kind": "none", "command": run}
    stopped = detach.stop(config.state_dir, o.config)  # a restart: the new one picks up its runs
    if stopped:
        steps.ok("stop old", f"stopped the sidecar that ran before (pid {', '.join(map(str, stopped))})")
    if kind == "systemd":
        if crontab.remove(o.name):
            steps.ok("cron", "removed this agent's cron line: the systemd unit runs it now")
        path = systemd.install(o.name, o.config)
        steps.ok("service", f"systemd user unit {path} enabled and (re)started")
        return {"kind": "systemd", "unit": str(path), "command": run}
    steps.note("service", f"no systemd user services here: the sidecar runs detached; to run it yourself: {run}")
    line = crontab.line(o.name, o.config, o.config.with_suffix(".poll.log"))
    try:
        changed = crontab.install(o.name, line)
        steps.ok("cron", ("installed" if changed else "already installed") + f": {line}")
    except StepFailed as e:
        steps.note("cron", f"{e.problem}; add this line yourself (`crontab -e`): {line}")
    pid = detach.start(o.config, config.state_dir, log)
    steps.ok("start", f"sidecar started (pid {pid}), log {log}")
    return {"kind": "cron", "cron_line": line, "pid": pid, "command": run}


def _wait_online(config: SidecarConfig, service: dict, log: Path, since: float, steps: Steps) -> None:
    """Until the new sidecar's first heartbeat (after `since`) reached the hub (sidecar.json says so)."""
    deadline = time.monotonic() + START_TIMEOUT
    status = config.state_dir / detach.STATUS
    pid = service.get("pid")
    info: dict = {}
    while time.monotonic() < deadline:
        if pid is not None and (code := detach.exited(pid)) is not None:
            raise StepFailed("start", f"the sidecar exited at once (code {code}): {_tail(log)}",
                             f"fix what its log ({log}) says, then run add-agent again")
        try:
            info = read_json(status) or {}
        except ValueError:
            info = {}
        live = isinstance(info.get("pid"), int) and process_start(info["pid"]) is not None
        if live and (pid is None or info["pid"] == pid):
            if info.get("hub_refused"):
                raise StepFailed("heartbeat", info.get("hub_error") or "the hub refused the sidecar",
                                 "run add-agent again with --rotate-token")
            if (info.get("last_heartbeat") or 0) >= since:
                steps.ok("heartbeat", f"the hub heard from the sidecar (pid {info['pid']}); it takes "
                         f"notifications at {info.get('url')}")
                return
        time.sleep(0.1)
    raise StepFailed("heartbeat", f"no heartbeat reached the hub within {START_TIMEOUT:.0f}s "
                     f"({info.get('hub_error') or 'no hub error recorded'}); log: {_tail(log)}",
                     "check `hub` in the config is reachable from this machine, and the sidecar's log")


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-4:]) or "(empty)"
