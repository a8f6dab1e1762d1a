"""`agentcom hub`: the coordinator loop, the push watcher and the HTTP API in one process."""
from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

from coordinator.hub.hub import Hub
from coordinator.hub.pokes import Notifier
from coordinator.hub.watcher import watch_pushes
from coordinator.repo.lock import ONE_SHOT_WAIT, runtime_dir
from coordinator.repo.tokens import TokenStore
from coordinator.web import create_app
from coordinator.web.webhooks import MAX_BODY as WEBHOOK_MAX_BODY
from coordinator.wire import webserver
from coordinator.wire.errors import AgentcomError, UsageError

log = logging.getLogger("agentcom.service")

# Idle and trickling clients cost a socket, never a worker, and are cut off within seconds; a few
# hundred of them from one address leave the rest of the connections to heartbeats and health
# checks (coordinator/webserver.py; docs/http-api.md "Limits")
HUB_BOUNDS = webserver.Bounds(threads=8, connections=1000, per_client=256, idle_timeout=10,
                              request_deadline=15, max_body=WEBHOOK_MAX_BODY)


def run_hub(repo: Path, host: str | None, port: int | None, out=sys.stdout,
            gatekeeper_options: dict | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C; prints the address once the socket listens.
    `gatekeeper_options`: the gatekeeper's settings given on this machine (reviewer/options.py from_local)."""
    # a one-shot command that holds the lock ends by itself: wait for it rather than fail (under a
    # service manager that does not restart us, failing would leave the hub down)
    hub = Hub(repo, wait=ONE_SHOT_WAIT, say=lambda line: print(line, file=out, flush=True))
    observer = server = gatekeeper = None
    try:
        host = host or hub.config.hub.host
        port = hub.config.hub.port if port is None else port
        if not 0 <= port <= 65535:
            raise UsageError(f"--port {port} is not a TCP port (0-65535; 0 picks a free one)")
        tokens = TokenStore(repo)
        setup, secret = _gatekeeper_setup(hub, repo, gatekeeper_options or {})
        protected = _protect_target(setup)   # before any agent learns of the hub
        app = create_app(hub, tokens, listen_host=host, webhook_secret=secret)
        hub.notifier = Notifier(lambda name: (hub.urls.get(name), tokens.agent_key(name)))
        try:
            server = webserver.create(app, host, port, HUB_BOUNDS, ident="agentcom")
        except OSError as e:
            raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}; pick another with --port") from None
        url = f"http://{_bracketed(host)}:{server.effective_port}"
        hub.lock.update(url=url)
        hub.start()
        if setup is not None:
            gatekeeper = _start_gatekeeper(hub, setup, url, repo)
            app.extensions["agentcom.gatekeeper"] = gatekeeper
        observer = watch_pushes(runtime_dir(repo), hub.notify)
        hub.notify()  # a push that landed while we started up
        # every sidecar a hub before this one knew, of an agent still online: heartbeat now, well
        # within any grace, rather than at its next interval (or after its back-off). Offline
        # agents are left out: their addresses may be long gone, and each costs the notifier a timeout
        known = sorted(name for name in hub.urls if getattr(hub.view.agents.get(name), "online", False))
        hub.notifier.poke(known, hub.head(), event="started")
        print(f"AgentCom hub running at {url}\n"
              f"  coordination repo: {repo}   (clone it: git clone {repo})\n"
              f"  operator token:    {runtime_dir(repo) / 'operator.token'}\n"
              f"{protected}"
              f"  sidecars asked for a heartbeat: {len(known)}\n"
              f"  gatekeeper:        {gatekeeper_state(hub, setup)}\n"
              f"  stop with Ctrl-C", file=out, flush=True)
        signal.signal(signal.SIGTERM, _exit)
        try:
            server.run()
        except (KeyboardInterrupt, SystemExit):
            pass
    finally:
        if server is not None:
            server.close()
            server.task_dispatcher.shutdown()
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
        if gatekeeper is not None:
            gatekeeper.close()
        hub.close()
        if hub.notifier is not None:
            hub.notifier.close()
        print("AgentCom hub stopped", file=out, flush=True)


def _gatekeeper_setup(hub, repo: Path, options: dict):
    """The gatekeeper's settings, set on this machine, and its webhook secret (None, None when off)."""
    from coordinator.reviewer.options import from_local, read_secret

    # where it works comes from this machine only; the pushed agentcom.yaml sets just the interval
    setup = from_local(repo, options, hub.config.gatekeeper.interval)
    if setup is None:
        return None, None
    secret = read_secret(setup.webhook_secret_file, "webhook secret") if setup.webhook_secret_file else None
    return setup, secret


def _protect_target(setup) -> str:
    """The local forge's target protected (coordinator/repo/targethook.py); a start-up line saying so."""
    if setup is None or setup.forge != "local":
        return ""
    from coordinator.hub.prtarget import local_path
    from coordinator.repo.targethook import protect

    try:
        done = protect(local_path(setup.target))
    except AgentcomError as e:   # the hub still serves; the line and the log say what is open
        log.warning("target not protected: %s", e)
        return f"  target NOT protected: {e}\n"
    return f"  target protected: {done.path} (base {done.base})\n"


def gatekeeper_state(hub, setup) -> str:
    """One line on the gatekeeper: off, or its forge, target, `repos:` name and merge settings."""
    from coordinator.gatekeeper import rules as rule_file
    from coordinator.wire.errors import ConfigError

    if setup is None:
        return "off (no forge set; docs/gatekeeper.md)"
    where = (f"on: {setup.forge} forge, target {setup.target}, named {setup.name} "
             "(its key in gatekeeper.yaml repos:, or its path or URL)")
    try:
        merge = rule_file.parse(hub.read_file(rule_file.RULES_FILE) or b"").naming(*setup.names).for_repo(setup.name)
    except ConfigError as e:
        return f"{where}; gatekeeper.yaml on main is invalid, so nothing is reviewed until it is fixed: {e}"
    checks = ", ".join(merge.required_checks) or "none, so nothing is merged automatically"
    return f"{where}; auto-merge {'on' if merge.auto_merge else 'off'}; required checks: {checks}"


def _start_gatekeeper(hub, setup, url: str, repo: Path):
    from coordinator.repo.tokens import read_operator_token
    from coordinator.reviewer.books import HubBook
    from coordinator.reviewer.reviewer import Reviewer
    from coordinator.reviewer.thread import GatekeeperService, make_forge

    forge = make_forge(setup, url, read_operator_token(repo))
    runner = _check_runner(setup, forge, repo) if setup.forge == "local" else _no_checks_on_github(hub, setup)
    reviewer = Reviewer(forge, HubBook(hub), setup.target, setup.name, local=setup.forge == "local",
                        notify_webhook=setup.notify_webhook(),
                        notify_command=setup.notify_command, runner=runner)
    hub.gatehealth.watch(setup.names)   # its `repos:` entries are checked against these names
    service = GatekeeperService(reviewer, setup.interval, runner, health=hub.gatehealth)
    if runner is not None:
        runner.reviewed = service.wanted   # a check ended: its PR is reviewed at once
    hub.prloop.watched.add(setup.target)   # its PRs' tasks wait in review until they merge or close
    service.start()
    log.info("gatekeeper reviewing %s (%s forge) every %ss and on webhooks", setup.name, setup.forge,
             setup.interval)
    return service


def _no_checks_on_github(hub, setup) -> None:
    """GitHub runs its own CI: `checks:` for a GitHub repo are never run, so its PRs wait for them and escalate."""
    from coordinator.reviewer.books import HubBook
    from coordinator.wire.errors import AgentcomError

    try:
        named = HubBook(hub).rules().for_repo(setup.name).checks
    except AgentcomError:
        return None   # the review pass reports a broken rules file
    if named:
        log.warning("gatekeeper: checks: %s of %s are not run on GitHub (only on the local forge); its PRs wait "
                    "for them, then escalate: run them in GitHub's CI and name them in required_checks instead",
                    ", ".join(named), setup.name)
    return None


def _check_runner(setup, forge, repo: Path):
    """The runner of the `checks:` the rules set for the local target (its logs in agentcom/checks/)."""
    from coordinator.hub.prtarget import local_path
    from coordinator.reviewer.checkrun import CheckRunner

    logs = runtime_dir(repo) / "checks" / setup.name.replace("/", "+")
    return CheckRunner(forge, local_path(setup.target), logs, prefix=setup.check_runner,
                       workers=setup.check_workers)


def _bracketed(host: str) -> str:
    """An IPv6 address as a URL spells it: [::1]."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _exit(_signum, _frame):
    raise SystemExit(0)
