"""`agentcom sidecar` (a loop of passes, woken by notifications), `sidecar poll` (one pass, for
cron) and `settle` (the reports of runs an operator stopped). One sidecar per state directory: a
file lock makes a second one step aside."""
from __future__ import annotations

import logging
import os
import random
import signal
import sys
import threading
import time

import filelock

from coordinator.wire.atomic import read_json
from coordinator.wire.errors import AgentcomError
from sidecar.runtime.config import SidecarConfig
from sidecar.runtime.processes import mark_stopped
from sidecar.runtime.reconcile import Sidecar
from sidecar.runtime.server import NotifyServer, create_app

log = logging.getLogger("agentcom.sidecar")


class SidecarBusy(AgentcomError):
    def __init__(self, state_dir, info: dict | None):
        pid = (info or {}).get("pid", "?")
        super().__init__(f"another sidecar runs on {state_dir} (pid {pid}); stop it first")


def _lock(config: SidecarConfig) -> filelock.UnixFileLock:
    config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return filelock.UnixFileLock(str(config.state_dir / "sidecar.lock"), timeout=0)


def serve(config: SidecarConfig, out=sys.stdout) -> None:
    """Run until SIGTERM or Ctrl-C. Runs in progress keep going (in their own sessions) and are
    picked up again by the next start. The stop is noted for each run (STATE/stops/): one that
    dies of the same stop (a container's or a machine's stop signals every process) is reported
    interrupted."""
    lock = _lock(config)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise SidecarBusy(config.state_dir, read_json(config.state_dir / "sidecar.json")) from None
    wake = threading.Event()
    sidecar = None

    def poked(event: str):
        if event == "started":
            log.info("the hub has just started and asks for a heartbeat")
        if sidecar is not None:
            sidecar.poked = True
        wake.set()

    server = NotifyServer(create_app(config.agent, config.token, poked), config.listen_host,
                          config.listen_port, config.advertise)
    stop = threading.Event()

    def stopping(signum, _frame=None):
        mark_stopped(config.state_dir, f"the sidecar was stopped ({signal.Signals(signum).name})", time.time())
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, stopping)
    try:
        sidecar = Sidecar(config, url=server.url)
        print(f"AgentCom sidecar for agent {config.agent} running (pid {os.getpid()})\n"
              f"  hub:           {config.hub}\n"
              f"  notifications: {server.url}\n"
              f"  state:         {config.state_dir}\n"
              f"  command:       {' '.join(config.command)}", file=out, flush=True)
        while not stop.is_set():
            try:
                wait = sidecar.step()
            except Exception:  # loop boundary: say it, keep going; every fact is on disk
                log.exception("pass failed; trying again in 5s")
                wait = 5.0
            wake.wait(timeout=wait)
            wake.clear()
    except KeyboardInterrupt:
        mark_stopped(config.state_dir, "the sidecar was stopped (SIGINT)", time.time())
    finally:
        server.close()
        lock.release()
        print(f"AgentCom sidecar for agent {config.agent} stopped", file=out, flush=True)


def settle(config: SidecarConfig) -> int:
    """After the operator stopped this agent's runs (its sidecar stopped first): report how each
    run ended, and deliver every waiting report; nothing is started. Returns the reports still
    waiting (the hub unreachable); a live sidecar, which does this itself, is left to it."""
    lock = _lock(config)
    try:
        lock.acquire()
    except filelock.Timeout:
        return 0
    try:
        sidecar = Sidecar(config)
        sidecar.settle()
        return len(sidecar.outbox.pending())
    finally:
        lock.release()


def poll(config: SidecarConfig, jitter: bool = True, rng: random.Random | None = None, out=sys.stdout) -> int:
    """One pass, then exit: for cron, beside a live sidecar or instead of one. Returns the exit
    code: 0 done (or a live sidecar is on duty), 1 the live sidecar has not reached the hub lately."""
    if jitter and config.poll_jitter:
        time.sleep((rng or random.Random()).uniform(0, config.poll_jitter))  # no thundering herd at :00
    lock = _lock(config)
    try:
        lock.acquire()
    except filelock.Timeout:
        info = read_json(config.state_dir / "sidecar.json") or {}
        last = info.get("last_heartbeat")
        if last is None or time.time() - last > 3 * config.heartbeat + 60:
            print(f"a sidecar runs (pid {info.get('pid')}) but has not reached the hub since "
                  f"{time.strftime('%H:%M:%S', time.localtime(last)) if last else 'it started'}: "
                  f"{info.get('hub_error') or 'no error recorded'}", file=out)
            return 1
        print(f"a sidecar runs for {config.agent} (pid {info.get('pid')}); nothing to do", file=out)
        return 0
    try:
        sidecar = Sidecar(config)
        sidecar.step()
        said = (sidecar.hub_error if sidecar.refused else f"hub unreachable: {sidecar.hub_error}"
                if sidecar.hub_error else f"{len(sidecar.runs.all())} run(s) held")
        print(f"polled the hub for {config.agent}: {said}", file=out)
        return 1 if sidecar.hub_error else 0
    finally:
        lock.release()
