"""Decision time of one scheduling pass over 10,000 queued tasks and 200 agents.

Builds a queue in shuffled order (mixed lanes, aged over a day, needs drawn from a few capability
sets, some pins, dependencies and not_before times) and 200 agents, then times schedule() on the
same input again and again, after one untimed warm-up pass. Three pools are measured:
`mixed`     a third of the agents busy, the rest with one or two free slots: most find work;
`one-free`  the steady state: every agent busy but one, which just finished a task;
`blocked`   every task needs python or node, and the idle agents can only do docs, so the pass
            must see that nothing fits without walking the whole queue.

Then, on the `mixed` pool, scope collisions: the same kind of queue spread over 5 target repos,
each task with a scope of 1 to 3 patterns in one package (`src/auth/**`, `src/auth/views.py`,
`tests/auth/test_views.py`, `docs/auth.md`, now and then `docs/*.md` or `pyproject.toml`), and
150 tasks in flight holding claims on the same repos. One input is timed under collisions `off`,
`serialise` and `flag`; the `worst` case adds, on every repo, a task in flight over
`src/**`, `tests/**` and `docs/**`, so that every ready task waits and the pass walks the whole
queue. "first ms" is the untimed warm-up pass with the scope caches emptied, as after a restart.

    .venv/bin/python bench/scheduler_bench.py [--tasks N] [--agents N] [--runs N] [--in-flight N]
"""
from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coordinator.core.config import DEFAULT_LANES
from coordinator.core.scheduler import FLAG, OFF, SERIALISE, AgentSlot, Claim, QueuedTask, blockers, schedule
from coordinator.core.scope import compile_scope, witness

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NEEDS = [frozenset(), frozenset({"python"}), frozenset({"python", "git"}), frozenset({"node", "git"}),
         frozenset({"python", "gpu"})]
CAPABILITIES = [frozenset({"python", "git"}), frozenset({"python", "git", "gpu"}), frozenset({"node", "git"}),
                frozenset({"python", "node", "git"})]
LANE_WEIGHTS = {"urgent": 1, "high": 2, "normal": 4, "low": 3}
REPOS = [f"https://github.com/acme/{name}" for name in ("api", "web", "billing", "mobile", "infra")]
PACKAGES = ("auth", "billing", "cli", "core", "db", "http", "jobs", "search")
MODULES = ("models", "views", "client", "config", "errors", "forms")
SHARED = ("docs/*.md", "README.md", "pyproject.toml", ".github/workflows/ci.yml")
WIDE = ("src/**", "tests/**", "docs/**")  # a rename across the repo: every scope above meets it


def build_queue(n: int, agents: int, rng: random.Random,
                needs: list[frozenset[str]]) -> tuple[list[QueuedTask], frozenset[str]]:
    """`n` queued tasks in shuffled order, and the ids of finished tasks half the dependencies name."""
    lanes = [lane for lane, weight in LANE_WEIGHTS.items() for _ in range(weight)]
    done = frozenset(f"d{i:05d}" for i in range(0, 2000, 2))
    queue = []
    for i in range(n):
        roll = rng.random()
        queue.append(QueuedTask(
            id=f"t{i:05d}", lane=rng.choice(lanes), queued_at=NOW - timedelta(seconds=rng.randrange(86400)),
            needs=rng.choice(needs),
            pin=f"agent-{rng.randrange(agents):03d}" if roll < 0.05 else None,
            depends_on=(f"d{rng.randrange(2000):05d}",) if 0.05 <= roll < 0.15 else (),
            not_before=NOW + timedelta(minutes=10) if 0.15 <= roll < 0.20 else None))
    rng.shuffle(queue)
    return queue, done


def build_agents(n: int, rng: random.Random, pool: str) -> list[AgentSlot]:
    """`n` agents: a third busy (all but one for `one-free`), a tenth of the idle ones with two slots."""
    agents = []
    blocked = pool == "blocked"
    for i in range(n):
        busy = i != n // 2 if pool == "one-free" else rng.random() < 0.33
        capabilities = frozenset({"docs"}) if blocked and not busy else rng.choice(CAPABILITIES)
        last = None if rng.random() < 0.2 else NOW - timedelta(seconds=rng.randrange(3600))
        free = 0 if busy else 2 if rng.random() < 0.1 else 1
        agents.append(AgentSlot(f"agent-{i:03d}", capabilities, free, last))
    return agents


def draw_scope(rng: random.Random) -> tuple[str, ...]:
    """1 to 3 patterns in one package, one of them now and then a file every package shares."""
    package = rng.choice(PACKAGES)
    globs = [f"src/{package}/**", f"docs/{package}.md",
             *(f"src/{package}/{m}.py" for m in MODULES), *(f"tests/{package}/test_{m}.py" for m in MODULES)]
    scope = rng.sample(globs, rng.randint(1, 3))
    if len(scope) > 1 and rng.random() < 0.1:
        scope[-1] = rng.choice(SHARED)
    return tuple(scope)


def with_claims(queue: list[QueuedTask], rng: random.Random) -> list[QueuedTask]:
    """The queue again, each task with a target repo and a scope."""
    return [replace(t, claim=Claim(t.id, rng.choice(REPOS), draw_scope(rng), t.queued_at.isoformat()))
            for t in queue]


def in_flight(n: int, rng: random.Random) -> list[Claim]:
    """`n` claims of tasks in flight, spread over the repos; one in ten back in the queue with a rework."""
    return [Claim(f"f{i:04d}", REPOS[i % len(REPOS)], draw_scope(rng),
                  (NOW - timedelta(seconds=rng.randrange(86400))).isoformat(), rng.random() < 0.1)
            for i in range(n)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(queue, agents, done, runs: int, claims: Sequence[Claim] = (), mode: str | None = None) -> dict:
    promote_after = {name: lane.promote_after for name, lane in DEFAULT_LANES.items()}
    collisions = None if mode is None else lambda repo: mode
    witness.cache_clear()
    compile_scope.cache_clear()
    hints: dict[str, str] = {}   # what the hub keeps between passes: who held each waiting task last
    t = time.perf_counter()
    schedule(queue, agents, NOW, done=done, promote_after=promote_after, claims=claims, collisions=collisions,
             hints=hints)
    first = time.perf_counter() - t  # the warm-up, untimed in p50/p99: it fills the scope caches and hints
    gc.collect()  # start every pool from the same heap; the collector stays on while timing
    costs, result = [], []
    for _ in range(runs):
        t = time.perf_counter()
        result = schedule(queue, agents, NOW, done=done, promote_after=promote_after, claims=claims,
                          collisions=collisions, hints=hints)
        costs.append(time.perf_counter() - t)
    return {"assignments": len(result), "room": sum(max(a.free, 0) for a in agents),
            "flagged": sum(1 for a in result if a.collides_with), "first": first * 1000,
            "p50": pct(costs, 0.50) * 1000, "p99": pct(costs, 0.99) * 1000, "max": max(costs) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10000, help="queued tasks")
    parser.add_argument("--agents", type=int, default=200, help="agents, busy or idle")
    parser.add_argument("--runs", type=int, default=50, help="timed passes per pool")
    parser.add_argument("--in-flight", type=int, default=150, help="tasks in flight holding claims")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    queue, done = build_queue(args.tasks, args.agents, rng, NEEDS)
    unrunnable, _ = build_queue(args.tasks, args.agents, rng, [n for n in NEEDS if n])
    print(f"schedule() decision time, {args.tasks:,} queued tasks, {args.agents} agents, {args.runs} runs each")
    print(f"{'pool':<9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'assigned':>9} {'free slots':>10}")
    for pool in ("mixed", "one-free", "blocked"):
        agents = build_agents(args.agents, rng, pool)
        r = run(unrunnable if pool == "blocked" else queue, agents, done, args.runs)
        print(f"{pool:<9} {r['p50']:>7.2f} {r['p99']:>7.2f} {r['max']:>7.2f} {r['assignments']:>9} {r['room']:>10}")
        if pool == "mixed":
            mixed = agents

    scoped, claims = with_claims(queue, rng), in_flight(args.in_flight, rng)
    wide = [*claims, *(Claim(f"w{i}", repo, WIDE, NOW.isoformat()) for i, repo in enumerate(REPOS))]
    meets = sum(1 for t in scoped if blockers(t.claim, claims))
    print(f"\nwith scope collisions, pool mixed: {len(REPOS)} repos, {args.in_flight} tasks in flight, "
          f"{meets:,} queued tasks overlap one")
    print(f"{'case':<9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'first ms':>8} {'assigned':>9} {'flagged':>8} "
          f"{'free slots':>10}")
    for case, mode, flight in (("off", OFF, claims), ("serialise", SERIALISE, claims), ("flag", FLAG, claims),
                               ("worst", SERIALISE, wide)):
        r = run(scoped, mixed, done, args.runs, flight, mode)
        print(f"{case:<9} {r['p50']:>7.2f} {r['p99']:>7.2f} {r['max']:>7.2f} {r['first']:>8.2f} "
              f"{r['assignments']:>9} {r['flagged']:>8} {r['room']:>10}")


if __name__ == "__main__":
    main()
