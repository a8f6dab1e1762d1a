"""Torture: a real local fleet under load while the harness kills the hub, the sidecars and whole
machines at random (from a seeded RNG), then, once the chaos stops and the system settles, counts
what became of every task and exits non-zero if anything submitted was lost.

    .venv/bin/python bench/torture.py [--tasks 100] [--agents 4] [--kills 12] [--seconds 60]
                                      [--seed 1] [--settle 180] [--strict-runs] [--events] [--keep]

Everything runs on 127.0.0.1 as real processes: `agentcom hub` on a new coordination repo, one
`agentcom sidecar` per agent, each running bench/torture_agent.py (it notes every run's start in
a ledger outside the sidecars' state, sleeps a little, and reports through `agentcom-report` or
the result file). Tasks arrive through the HTTP API and by `git push` to the repo. The blows, at
seeded times: SIGKILL of the hub (restarted on its address soon after), of a sidecar alone (its
runs go on), and the loss of a machine (its sidecar and its runs' process groups SIGKILLed; the
state folder kept, as after a reboot, or wiped, as after a lost disk; the sidecar back later).

It prints: submitted, done, dead and failed attempts (with reasons), lost (submitted but in no
state folder of main), in two states, runs per attempt (the ledger against what git records),
`git fsck --strict` of the repo after the hub stopped, wall time, hub restarts, sidecar kills and
machine losses. Exit 1 if lost > 0, any task is in two states, fsck fails, or (with
--strict-runs) a run is not recorded in git; 2 if the harness itself could not run. Ctrl-C or
SIGTERM stops everything it started.
"""
from __future__ import annotations

import argparse
import heapq
import http.client
import itertools
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import torture_count as count
from bench.torture_fleet import TortureFleet, read_ledger
from bench.torture_intake import Intake, Submission
from coordinator.wire.errors import AgentcomError
from sidecar.fleet.local import signals_held

# short hub timeouts, so a lost agent is noticed and its task retried within seconds
SETTINGS = {"timeouts": {"heartbeat_grace": "4s", "accept": "20s"},
            "retry": {"backoff_base": "1s", "backoff_max": "2s"}}
KINDS = {"hub": 3, "sidecar": 3, "reboot": 2, "disk": 2}          # kind of blow → weight
DOWN = {"hub": (0.2, 2.0), "sidecar": (0.2, 2.0), "reboot": (1.0, 7.0), "disk": (1.0, 7.0)}   # seconds
SUBMIT_SPAN = 0.7        # submissions arrive over this share of the chaos
BLOW_SPAN = (0.05, 0.9)  # blows land within this share of it
TICK = 0.05
LIMITS = {"tasks": (1, 2000), "agents": (1, 32), "kills": (0, 1000), "seconds": (1, 3600), "settle": (1, 3600)}


@dataclass(frozen=True)
class Blow:
    at: float            # seconds after the chaos starts
    kind: str            # hub, sidecar, reboot (machine lost, disk kept), disk (machine and disk lost)
    agent: str | None
    down: float          # seconds until it is back


@dataclass
class Figures:
    hub_restarts: int = 0
    sidecar_kills: int = 0
    reboots: int = 0
    disks: int = 0
    runs_killed: int = 0
    events: list[str] = field(default_factory=list)


# --- the plan (pure: the seed decides it all) ------------------------------------------------

def plan_submissions(tasks: int, seconds: float, rng: random.Random) -> list[Submission]:
    """Each task: when it is sent, how (HTTP or push), and how its agent behaves."""
    subs = []
    for n in range(1, tasks + 1):
        subs.append(Submission(task_id=f"torture-{n:04d}", at=rng.uniform(0, SUBMIT_SPAN * seconds),
                               via="push" if rng.random() < 0.25 else "http", sleep=round(rng.uniform(0.2, 3.0), 2),
                               report=rng.choice(("command", "file")), fail_first=rng.random() < 0.1))
    return sorted(subs, key=lambda s: s.at)


def plan_blows(kills: int, seconds: float, agents: list[str], rng: random.Random) -> list[Blow]:
    """`kills` blows at seeded times; each hits something that is up at that moment."""
    back = {"hub": 0.0, **{a: 0.0 for a in agents}}   # when each comes back
    blows = []
    for at in sorted(rng.uniform(BLOW_SPAN[0] * seconds, BLOW_SPAN[1] * seconds) for _ in range(kills)):
        kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
        up = [a for a in agents if back[a] <= at]
        hub_up = back["hub"] <= at
        if kind == "hub" and not hub_up:
            kind = "sidecar"
        if kind != "hub" and not up:
            kind = "hub"
        if kind == "hub" and not hub_up:
            continue   # everything is down at this moment: the blow would hit nothing
        agent = None if kind == "hub" else rng.choice(up)
        down = round(rng.uniform(*DOWN[kind]), 2)
        back[agent or "hub"] = at + down
        blows.append(Blow(round(at, 2), kind, agent, down))
    return blows


# --- the chaos ---------------------------------------------------------------------------------

class Chaos:
    """Runs the plan: submissions and blows at their times, restarts when their downtime ends."""

    def __init__(self, fleet: TortureFleet, intake: Intake, figures: Figures, echo=None):
        self.fleet, self.intake, self.figures, self.echo = fleet, intake, figures, echo
        self.queue: list[tuple[float, int, str, object]] = []
        self.order = itertools.count()   # ties keep the order they were planned in
        self.began = time.monotonic()

    def at(self, when: float, what: str, arg=None) -> None:
        heapq.heappush(self.queue, (when, next(self.order), what, arg))

    def now(self) -> float:
        return time.monotonic() - self.began

    def run(self, subs: list[Submission], blows: list[Blow]) -> None:
        for s in subs:
            self.at(s.at, "submit", s)
        for b in blows:
            self.at(b.at, "blow", b)
        while self.queue:
            while self.queue and self.queue[0][0] <= self.now():
                _, _, what, arg = heapq.heappop(self.queue)
                getattr(self, what)(arg)
            self.tick()
            time.sleep(TICK)

    def tick(self) -> None:
        for problem in self.fleet.watch():
            self.note(f"unexpected: {problem}")
        self.intake.flush(self.fleet.hub_up())

    def note(self, text: str) -> None:
        self.figures.events.append(f"{self.now():7.2f}s {text}")
        if self.echo is not None:
            self.echo("  " + self.figures.events[-1])

    def submit(self, sub: Submission) -> None:
        self.intake.offer(sub)

    def blow(self, b: Blow) -> None:
        up = self.fleet.hub_up() if b.kind == "hub" else self.fleet.sidecar_up(b.agent)
        if not up:   # still starting after an earlier blow (a start takes a second or more): wait for it
            self.at(self.now() + 0.25, "blow", b)
            return
        f = self.figures
        if b.kind == "hub":
            pid = self.fleet.hub.pid
            self.fleet.kill_hub()
            self.note(f"hub SIGKILLed (pid {pid}), back in {b.down} s")
        elif b.kind == "sidecar":
            self.fleet.kill_sidecar(b.agent)
            f.sidecar_kills += 1
            self.note(f"sidecar of {b.agent} SIGKILLed (its runs go on), back in {b.down} s")
        else:
            killed = self.fleet.lose_machine(b.agent, disk=b.kind == "disk")
            f.runs_killed += killed
            f.reboots += b.kind == "reboot"
            f.disks += b.kind == "disk"
            self.note(f"machine of {b.agent} lost ({killed} run processes killed"
                      f"{', state folder wiped' if b.kind == 'disk' else ''}), back in {b.down} s")
        self.at(self.now() + b.down, "back", b)

    def back(self, b: Blow) -> None:
        if b.kind == "hub":
            self.fleet.restart_hub()
            self.figures.hub_restarts += 1
            self.note(f"hub restarted (pid {self.fleet.hub.pid})")
        else:
            self.fleet.start_sidecar(b.agent)
            self.note(f"sidecar of {b.agent} started")


def settle(fleet: TortureFleet, chaos: Chaos, intake: Intake, timeout: float) -> float:
    """Until every submission is acknowledged and every submitted task has ended (done, dead,
    cancelled) on main, or `timeout`; returns the seconds it took."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        chaos.tick()
        if not intake.pending() and not count.settled(tree(fleet.repo), intake.submitted):
            break
        time.sleep(0.25)
    return time.monotonic() - began


# --- what is left --------------------------------------------------------------------------------

def tree(repo: Path) -> list[str]:
    done = subprocess.run(["git", "ls-tree", "-r", "--name-only", "main"], cwd=repo, capture_output=True,
                          text=True, timeout=60)
    if done.returncode != 0:
        raise AgentcomError(f"git ls-tree main failed in {repo}: {done.stderr.strip()}")
    return done.stdout.splitlines()


def fsck(repo: Path) -> tuple[bool, str]:
    done = subprocess.run(["git", "fsck", "--strict", "--no-dangling", "--no-progress"], cwd=repo,
                          capture_output=True, text=True, timeout=600)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def read_histories(fleet: TortureFleet, task_ids) -> dict[str, tuple[list[dict], dict | None]]:
    """Each task's history and document, through the running hub's API."""
    found = {}
    for task_id in task_ids:
        try:
            found[task_id] = (fleet.api.history(task_id), fleet.api.show(task_id).get("task"))
        except (AgentcomError, http.client.HTTPException, ValueError):
            found[task_id] = ([], None)   # lost, or the hub did not answer: the count shows it
    return found


def read_rejected(fleet: TortureFleet) -> list[str]:
    """The file each entry of rejected/ came from (the hub's status lists them)."""
    try:
        return [str(r.get("file", "")) for r in fleet.api.status().get("rejected", [])]
    except (AgentcomError, http.client.HTTPException, ValueError):
        return []


def tally(fleet: TortureFleet, intake: Intake, histories: dict, rejected: list[str]) -> count.Tally:
    """Count, with the hub stopped: main's tree, the histories read before, the ledger, fsck."""
    t = count.Tally(submitted=dict(intake.submitted), unacknowledged=intake.given_up())
    count.count_tree(t, tree(fleet.repo), rejected)
    for task_id, (history, task) in histories.items():
        count.count_history(t, task_id, history, task, fleet.members)
    count.count_ledger(t, read_ledger(fleet.ledger))
    t.fsck_ok, t.fsck_output = fsck(fleet.repo)
    return t


# --- the whole run -------------------------------------------------------------------------------

def torture(opts: argparse.Namespace, home: Path, echo=print) -> int:
    rng = random.Random(opts.seed)
    agents = [f"agent-{n}" for n in range(1, opts.agents + 1)]
    subs = plan_submissions(opts.tasks, opts.seconds, rng)
    blows = plan_blows(opts.kills, opts.seconds, agents, rng)
    echo(f"AgentCom torture: seed {opts.seed}, {opts.tasks} tasks, {opts.agents} agents, "
         f"{len(blows)} blows in {opts.seconds:g} s, settle within {opts.settle:g} s")
    began = time.monotonic()
    fleet = TortureFleet(home / "hub.git", home / "fleet", home / "ledger.jsonl")
    figures = Figures()
    try:
        fleet.start_hub()
        fleet.change_settings(SETTINGS)
        for name in agents:
            fleet.add_agent(name)
        fleet.start_sidecars()
        intake = Intake(fleet, home / "clone")
        chaos = Chaos(fleet, intake, figures, echo if opts.events else None)
        chaos.run(subs, blows)
        chaos_s = chaos.now()
        settle_s = settle(fleet, chaos, intake, opts.settle)
        histories = read_histories(fleet, intake.submitted)
        rejected = read_rejected(fleet)
    finally:
        with signals_held():
            forced = fleet.stop()
            forced += [f"run pid {p}" for p in fleet.kill_ledger_runs()]
    t = tally(fleet, intake, histories, rejected)
    wall = f"{time.monotonic() - began:.1f} s (chaos {chaos_s:.1f} s, settle {settle_s:.1f} s)"
    for line in count.lines(t, figure_lines(figures, fleet, wall, forced), opts.strict_runs):
        echo(line)
    return 1 if t.problems(opts.strict_runs) else 0


def figure_lines(figures: Figures, fleet: TortureFleet, wall: str, forced: list[str]) -> dict[str, str]:
    out = {"wall time": wall,
           "hub restarts": str(figures.hub_restarts),
           "sidecar kills": str(figures.sidecar_kills),
           "machine losses": f"{figures.reboots + figures.disks} ({figures.reboots} rebooted with their disk, "
                             f"{figures.disks} with the disk gone; {figures.runs_killed} run processes killed)",
           "unexpected exits": str(len(fleet.unexpected)) + "".join(f"\n    {u}" for u in fleet.unexpected)}
    if forced:
        out["forced at the end"] = ", ".join(forced)
    return out


def bounded(name: str, kind):
    low, high = LIMITS[name]

    def parse(text: str):
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"--{name}: {value} is out of range; give {low} to {high}")
        return value
    return parse


def options(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=bounded("tasks", int), default=100, help="tasks to submit (default 100)")
    ap.add_argument("--agents", type=bounded("agents", int), default=4, help="agents, one sidecar each (default 4)")
    ap.add_argument("--kills", type=bounded("kills", int), default=12, help="blows to deal (default 12)")
    ap.add_argument("--seconds", type=bounded("seconds", float), default=60, help="length of the chaos (default 60)")
    ap.add_argument("--settle", type=bounded("settle", float), default=180,
                    help="seconds to wait afterwards for every task to end (default 180)")
    ap.add_argument("--seed", type=int, default=1, help="the RNG seed: same seed, same plan (default 1)")
    ap.add_argument("--strict-runs", action="store_true", help="also fail if a run is not recorded in git")
    ap.add_argument("--events", action="store_true", help="print each blow and restart as it happens")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (repo, configs, logs, ledger)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    opts = options(argv)

    def interrupt(*_):
        raise KeyboardInterrupt
    for sig in (signal.SIGINT, signal.SIGTERM):   # even when started with SIGINT ignored (a background job)
        signal.signal(sig, interrupt)              # stop like Ctrl-C: everything started is stopped
    home = Path(tempfile.mkdtemp(prefix="agentcom-torture-"))
    try:
        return torture(opts, home)
    except KeyboardInterrupt:
        print("torture: interrupted; everything it started is stopped", file=sys.stderr)
        return 2
    except AgentcomError as e:
        print(f"torture: {e}", file=sys.stderr)
        return 2
    finally:
        if opts.keep:
            print(f"kept {home}: hub.git (the repo), fleet/ (configs, state, logs), ledger.jsonl, clone/")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
