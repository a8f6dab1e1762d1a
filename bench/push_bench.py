"""Latency of enqueue by git: `git push` of one task file through the real hooks, and the time
from the push returning to the task being committed into its lane by a running hub.

    .venv/bin/python bench/push_bench.py [--pushes 30]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordinator.repo.repoinit import init_repo


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def queued(url: str) -> int:
    with urllib.request.urlopen(url + "/api/status", timeout=10) as resp:
        return json.loads(resp.read())["counts"]["queued"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="agentcom-push-bench-"))
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(work / "gitconfig")}
    (work / "gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n[gc]\n\tauto = 0\n")
    os.environ.update(env)
    repo, _ = init_repo(work / "hub.git")
    hub = subprocess.Popen([sys.executable, str(ROOT / "agentcom.py"), "hub", "--repo", str(repo), "--port", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        while url is None:
            line = hub.stdout.readline()
            if not line:
                raise SystemExit("hub did not start")
            found = re.search(r"running at (http://\S+)", line)
            url = found.group(1) if found else None
        clone = work / "clone"
        git(work, "clone", "-q", str(repo), str(clone))
        push_times, pickup_times = [], []
        for i in range(args.pushes):
            (clone / "inbox" / f"t{i}.yaml").write_text(f"prompt: bench task {i}\n")
            git(clone, "add", "-A")
            git(clone, "commit", "-q", "-m", f"task {i}")
            t0 = time.perf_counter()
            git(clone, "push", "-q")
            t1 = time.perf_counter()
            while queued(url) < i + 1:
                time.sleep(0.001)
            t2 = time.perf_counter()
            git(clone, "pull", "-q", "--rebase")
            push_times.append(t1 - t0)
            pickup_times.append(t2 - t1)
        print(f"enqueue by git push, {args.pushes} pushes of one task file each")
        print(f"  git push (pre-receive check included)   p50 {pct(push_times, .5) * 1000:6.1f} ms   "
              f"p99 {pct(push_times, .99) * 1000:6.1f} ms")
        print(f"  push returned → task queued and committed p50 {pct(pickup_times, .5) * 1000:6.1f} ms   "
              f"p99 {pct(pickup_times, .99) * 1000:6.1f} ms")
    finally:
        hub.terminate()
        hub.communicate(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
