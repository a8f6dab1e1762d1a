"""The gatekeeper's pure core: time to scan and judge one pull request, and to parse the rules.

In this process, no I/O. Pull requests are built in GitHub's changed-files shape:
  one-line fix   one file, one line replaced;
  typical        20 files, 14 lines each (asserts, assignments, plain code);
  largest        3,000 files (all GitHub lists), 14 lines each.
Each is judged by `verdict.review` (the scan, the verdict, every path pattern compiled afresh,
as the reviewer will call it) with the default rules plus one required check. The rules are
the template's `gatekeeper.yaml`, parsed by `rules.parse`.

    .venv/bin/python bench/gatekeeper_bench.py [--runs 200]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordinator.gatekeeper import rules
from tests.support.pulls import changed, hunk, judge, rules_for


def _pull(n: int) -> list[dict]:
    lines = ["y = compute(x) + 1", "    assert y", "token = request.headers.get('X')"] * 3
    return [changed(f"src/pkg{i % 50}/m{i}.py", hunk([f"x = {i}"] * 5, lines)) for i in range(n)]


def _time(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    required = rules_for()
    fix = [changed("src/login.py", hunk(["    return redirect('/home')"], ["    return redirect(next_url)"]))]
    template = (ROOT / "queue-repo-template" / "gatekeeper.yaml").read_bytes()
    cases = (("one-line fix", lambda: judge(fix, rules=required), args.runs),
             ("typical, 20 files", lambda: judge(_pull(20), rules=required), args.runs),
             ("largest, 3000 files", lambda: judge(_pull(3000), rules=required), max(3, args.runs // 40)),
             ("parse gatekeeper.yaml", lambda: rules.parse(template), args.runs))
    for name, fn, runs in cases:
        p50, worst = _time(fn, runs)
        print(f"{name:24} p50 {p50:8.2f} ms   max {worst:8.2f} ms   ({runs} runs)")


if __name__ == "__main__":
    main()
