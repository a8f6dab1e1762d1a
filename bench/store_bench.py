"""Cost of one transition with 1,000 and 100,000 finished tasks in the repo and 10,000 queued.

Builds each repo directly (finished tasks spread over a year of day shards, as a real history
would leave them), starts a hub on it, then drives tasks through queued → assigned → working →
done, timing every transition end to end: the commit, the durable publish, the view update.

    .venv/bin/python bench/store_bench.py [--moves N] [--finished 1000 100000] [--queued 10000]
"""
from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coordinator.core.layout import LANES, State, location
from coordinator.core.task import Defaults, dump, intake
from coordinator.core.transitions import move
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from coordinator.repo.gitrepo import BLOB, GitRepo
from coordinator.repo.repoinit import init_repo

START = datetime(2025, 11, 25, tzinfo=UTC)


def build(path: Path, finished: int, queued: int) -> None:
    """A coordination repo holding `finished` done tasks and `queued` queued ones, in one commit."""
    init_repo(path)
    git = GitRepo(path)
    edits = {}
    for i in range(finished):
        when = START + timedelta(seconds=i * 365 * 86400 // max(finished, 1))
        task = intake({"prompt": f"finished task {i}", "id": f"d{i:07d}"}, "bench", lane=None, now=when,
                      task_id="", defaults=Defaults(), source="bench")
        loc = location(State.QUEUED, task["id"], lane="normal")
        for to, agent in ((State.ASSIGNED, "a"), (State.WORKING, None), (State.DONE, None)):
            m = move(task, loc, to, when, reason="bench", agent=agent)
            task, loc = m.task, m.new
        edits[loc.path] = (git.write_blob(dump(task)), BLOB)
    for i in range(queued):
        now = START + timedelta(days=366, milliseconds=i)
        task = intake({"prompt": f"queued task {i}", "id": f"q{i:07d}", "priority": LANES[i % 4]}, "bench",
                      lane=None, now=now, task_id="", defaults=Defaults(), source="bench")
        edits[location(State.QUEUED, task["id"], lane=task["priority"]).path] = (git.write_blob(dump(task)), BLOB)
    head = git.head()
    tree = git.edit_tree(git.tree_of(head), edits)
    git.advance(git.commit(tree, head, "bench: preload\n\nReason: benchmark data\n"), head)
    git.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(finished: int, queued: int, moves: int, workdir: Path) -> dict:
    path = workdir / f"repo-{finished}"
    t0 = time.perf_counter()
    build(path, finished, queued)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    hub = Hub(path, fleet=False)  # the store alone
    started = time.perf_counter() - t0
    rng = random.Random(1)
    ids = [f"q{i:07d}" for i in rng.sample(range(queued), moves)]
    costs = {"assign": [], "start": [], "finish": []}
    wall = time.perf_counter()
    for n, task_id in enumerate(ids):
        for kind, to, agent in (("assign", State.ASSIGNED, f"agent-{n % 20}"), ("start", State.WORKING, None),
                                ("finish", State.DONE, None)):
            t = time.perf_counter()
            hub.call(Batch.transition, task_id, to, agent=agent, reason="bench")
            costs[kind].append(time.perf_counter() - t)
    wall = time.perf_counter() - wall
    hub.close()
    every = [c for kind in costs.values() for c in kind]
    return {"finished": finished, "queued": queued, "transitions": len(every), "per_second": len(every) / wall,
            "p50_ms": pct(every, 0.50) * 1000, "p99_ms": pct(every, 0.99) * 1000,
            "by_kind": {k: (pct(v, 0.5) * 1000, pct(v, 0.99) * 1000) for k, v in costs.items()},
            "build_s": built, "start_s": started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=300, help="tasks driven to done per size (3 transitions each)")
    parser.add_argument("--finished", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--queued", type=int, default=10000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="agentcom-bench-"))
    try:
        results = [run(f, args.queued, args.moves, workdir) for f in args.finished]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"transition cost, {args.queued:,} queued, {args.moves} tasks × 3 transitions each "
          "(each one commit, published durably)")
    print(f"{'finished':>9} {'tx/s':>7} {'p50 ms':>7} {'p99 ms':>7}  {'assign p50/p99':>15} "
          f"{'start p50/p99':>14} {'finish p50/p99':>15} {'hub start s':>11}")
    for r in results:
        k = r["by_kind"]
        print(f"{r['finished']:>9,} {r['per_second']:>7.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f}  "
              f"{k['assign'][0]:>7.2f}/{k['assign'][1]:<7.2f} {k['start'][0]:>6.2f}/{k['start'][1]:<7.2f} "
              f"{k['finish'][0]:>7.2f}/{k['finish'][1]:<7.2f} {r['start_s']:>11.2f}")
    if len(results) >= 2:
        print(f"p50 ratio {results[-1]['finished']:,} vs {results[0]['finished']:,} finished: "
              f"{results[-1]['p50_ms'] / results[0]['p50_ms']:.2f}x   "
              f"(throughput ratio {results[0]['per_second'] / results[-1]['per_second']:.2f}x)")


if __name__ == "__main__":
    main()
