"""`agentcom remove-agent`: the agent taken off this machine and the hub, its reports delivered
first. Its state folder and its config (with what it was registered with, for a re-add) stay.
"""
from __future__ import annotations

from pathlib import Path

from coordinator.wire.client import HttpBackend
from coordinator.wire.errors import HubRefused, HubUnavailable
from coordinator.wire.times import parse_duration
from sidecar.onboard import crontab, detach, systemd
from sidecar.onboard.enrol import saved_token
from sidecar.onboard.onboarding import check_name, reach_hub, read_existing
from sidecar.onboard.steps import StepFailed, Steps
from sidecar.runtime.outbox import Outbox, flush
from sidecar.runtime.processes import run_processes, stop_runs


def remove_agent(name: str, hub: str | None, token: str | None, config: Path, steps: Steps,
                 force: bool = False) -> dict:
    """Check the operator token, deliver the reports waiting in the outbox, stop and remove the
    service and the runs in progress, revoke the token on the hub; keep the state folder and the
    config (its token no longer works; what the agent was registered with, for a re-add) and, in
    git, the agent's history."""
    check_name(name)
    existing, _ = read_existing(config)
    hub = hub or (existing or {}).get("hub")
    if not isinstance(hub, str) or not hub:
        raise StepFailed("hub", "no hub address: none given and none in the config", "give --hub URL")
    hub = hub.rstrip("/")
    state_dir = _state_dir(existing, config, name)
    api = reach_hub(hub, token, steps)  # nothing on this machine or the hub changes before this passes
    _deliver(name, hub, config, state_dir, force, steps)
    if systemd.unit_path(name).exists():
        systemd.remove(name)
        steps.ok("service", f"systemd unit {systemd.unit_name(name)} stopped, disabled and removed")
    if crontab.remove(name):
        steps.ok("cron", "this agent's cron line removed")
    stopped = detach.stop(state_dir, config)
    if stopped:
        steps.ok("stop", f"sidecar stopped (pid {', '.join(map(str, stopped))})")
    live = run_processes(state_dir) if state_dir.is_dir() else []
    if live:  # an agent leaving must not go on working on tasks the hub gives to others
        grace = parse_duration((existing or {}).get("kill_grace") or "10s")
        stop_runs([state_dir], grace, "the agent was removed (agentcom remove-agent)")
        steps.ok("runs", f"stopped the agent's runs in progress ({len(live)} process(es)); the hub "
                 "queues their tasks again")
    if stopped or live:  # what the sidecar wrote between the delivery above and its stop; too late to refuse
        _deliver(name, hub, config, state_dir, True, steps)
    try:
        revoked = api.remove_agent(name)["tokens_revoked"]
        steps.ok("revoke", f"agent removed from {hub}; {revoked} token(s) revoked; git keeps its history")
    except HubRefused as e:
        if e.status != 404:
            raise StepFailed("revoke", f"the hub refused: {e.message}", "use the hub's operator token") from None
        steps.note("revoke", f"{hub} has no agent {name} (already removed)")
    except HubUnavailable as e:
        raise StepFailed("revoke", f"the hub does not answer: {e}",
                         "start the hub, then run remove-agent again") from None
    pending = _pending(state_dir)
    steps.ok("kept", f"state folder {state_dir} ({pending} undelivered report(s) in its outbox/); "
             f"config {config} (its token no longer works; `add-agent {name}` registers it again as it was)")
    return {"ok": True, "agent": name, "state_dir": str(state_dir), "undelivered": pending, "steps": steps.done}


def _deliver(name: str, hub: str, config: Path, state_dir: Path, force: bool, steps: Steps) -> None:
    """Send the reports waiting in the agent's outbox (a done report may carry a PR) with its own
    token. Those that cannot go stop the removal, unless `force`: once the token is revoked,
    nothing can deliver them."""
    if not _pending(state_dir):
        return
    token = saved_token(config)
    sent, why = (0, f"{config} holds no agent token to send them with") if token is None else \
        flush(Outbox(state_dir / "outbox"), HttpBackend(hub, token, timeout=15))
    if sent:
        steps.ok("outbox", f"delivered {sent} waiting report(s) to the hub")
    left = _pending(state_dir)
    if not left:
        return
    problem = f"{left} report(s) in {state_dir / 'outbox'} could not be delivered: {why}"
    if not force:
        raise StepFailed("outbox", problem, f"start the hub, or repair the agent's token (`agentcom add-agent {name} "
                         f"--config {config}`), then run remove-agent again; or give --force to remove it anyway "
                         "(the reports stay there, one JSON file each, for you to read)")
    steps.note("outbox", f"{problem}; they stay there")


def _pending(state_dir: Path) -> int:
    return len(list((state_dir / "outbox").glob("*.json")))


def _state_dir(existing: dict | None, config: Path, name: str) -> Path:
    """Where the sidecar keeps its state, as its config says (default: NAME.state beside it)."""
    value = (existing or {}).get("state_dir")
    base = config.resolve().parent
    return (base / Path(value).expanduser()).resolve() if isinstance(value, str) else base / f"{name}.state"
