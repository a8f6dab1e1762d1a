"""Decision time of one scheduling pass over 10,000 queued tasks and 200 agents.

Builds a queue in shuffled order (mixed lanes, aged over a day, needs drawn from a few capability
sets, some pins, dependencies and not_before times) and 200 agents, then times schedule() on the
same input again and again, after one untimed warm-up pass. Three pools are measured:
`mixed`     a third of the agents busy, the rest with one or two free slots: most find work;
`one-free`  the steady state: every agent busy but one, which just finished a task;
`blocked`   every task needs python or node, and the idle agents can only do docs, so the pass
            must see that nothing fits without walking the whole queue.

    .venv/bin/python bench/scheduler_bench.py [--tasks N] [--agents N] [--runs N]
"""
from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coordinator.core.config import DEFAULT_LANES
from coordinator.core.scheduler import AgentSlot, QueuedTask, schedule

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NEEDS = [frozenset(), frozenset({"python"}), frozenset({"python", "git"}), frozenset({"node", "git"}),
         frozenset({"python", "gpu"})]
CAPABILITIES = [frozenset({"python", "git"}), frozenset({"python", "git", "gpu"}), frozenset({"node", "git"}),
                frozenset({"python", "node", "git"})]
LANE_WEIGHTS = {"urgent": 1, "high": 2, "normal": 4, "low": 3}


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


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(queue, agents, done, runs: int) -> dict:
    promote_after = {name: lane.promote_after for name, lane in DEFAULT_LANES.items()}
    schedule(queue, agents, NOW, done=done, promote_after=promote_after)  # warm-up, untimed
    gc.collect()  # start every pool from the same heap; the collector stays on while timing
    costs, result = [], []
    for _ in range(runs):
        t = time.perf_counter()
        result = schedule(queue, agents, NOW, done=done, promote_after=promote_after)
        costs.append(time.perf_counter() - t)
    return {"assignments": len(result), "room": sum(max(a.free, 0) for a in agents),
            "p50": pct(costs, 0.50) * 1000, "p99": pct(costs, 0.99) * 1000, "max": max(costs) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10000, help="queued tasks")
    parser.add_argument("--agents", type=int, default=200, help="agents, busy or idle")
    parser.add_argument("--runs", type=int, default=50, help="timed passes per pool")
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


if __name__ == "__main__":
    main()
