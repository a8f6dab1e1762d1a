"""The git workflow's cost, through real processes: `agentcom.py hub` on a new coordination repo
(127.0.0.1), a bare target repo holding FILES files, one clone of it, and TASKS tasks run one
after another as the sidecar runs them: `start_task` (refuse a dirty tree, fetch, branch from the
fetched main, ask the remote whether main moved), one commit, then `submit` on the local forge
(fetch, push with a lease, look for an open PR, open one: the hub commits prs/N.yaml). Then, on
the same hub, it times opening PRs once PREFILL records exist, to show that opening does not grow
with the number of PRs (each on a branch of the target, which the hub checks and reads).

    .venv/bin/python bench/gitflow_bench.py [--tasks 30] [--files 2000] [--prefill 500]
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordinator.forge.local import LocalForge
from coordinator.wire.client import HttpBackend
from sidecar.gitflow.flow import TaskInfo, git, start_task, submit


def start_hub(repo: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "agentcom.py"), "hub", "--repo", str(repo), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        found = re.search(r"running at (http://\S+)", line)
        if found:
            return proc, found.group(1)
    raise SystemExit("the hub did not start")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(label: str, values: list[float]) -> str:
    return f"  {label:<44} p50 {statistics.median(values) * 1000:8.2f} ms   p99 {pct(values, 0.99) * 1000:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--prefill", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentcom-gitflow-bench-") as tmp:
        root = Path(tmp)
        hub_proc, url = start_hub(root / "hub.git")
        try:
            token = (root / "hub.git" / "agentcom" / "operator.token").read_text().strip()
            remote = root / "acme" / "web.git"
            git(root, "init", "-q", "--bare", "-b", "main", str(remote))
            seed = root / "seed"
            git(root, "clone", "-q", str(remote), str(seed))
            for i in range(args.files):
                path = seed / f"src/m{i % 40}/f{i}.py"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"VALUE = {i}\n")
            git(seed, "add", "-A")
            git(seed, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "-m", "seed")
            git(seed, "push", "-q", "origin", "HEAD:main")
            work = root / "work"
            git(root, "clone", "-q", str(remote), str(work))
            forge = LocalForge(HttpBackend(url, token), str(remote))
            starts, submits = [], []
            for n in range(args.tasks):
                task = TaskInfo(f"T-{n}", f"Change file {n}", "p", "normal")
                t0 = time.perf_counter()
                start_task(work, task, "bench")
                starts.append(time.perf_counter() - t0)
                (work / f"src/m{n % 40}/f{n}.py").write_text(f"VALUE = {n} + 1\n")
                git(work, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "-am", f"task {n}")
                t0 = time.perf_counter()
                submit(work, task, "bench", forge)
                submits.append(time.perf_counter() - t0)
            # the hub checks each PR's branches in the target: give it branches ahead of main, made at once
            ahead = git(work, "rev-parse", "HEAD").strip()
            names = [f"{kind}-{n}" for kind, count in (("early", 5), ("fill", args.prefill), ("late", 5))
                     for n in range(count)]
            subprocess.run(["git", "--git-dir", str(remote), "update-ref", "--stdin"], check=True, text=True,
                           input="".join(f"create refs/heads/{name} {ahead}\n" for name in names))
            operator = HttpBackend(url, token)

            def open_pr(head: str) -> None:
                operator.open_pr({"repo": str(remote), "head": head, "base": "main", "title": "t"})
            opens_before = []
            for n in range(5):
                t0 = time.perf_counter()
                open_pr(f"early-{n}")
                opens_before.append(time.perf_counter() - t0)
            for n in range(args.prefill):
                open_pr(f"fill-{n}")
            opens_after = []
            for n in range(5):
                t0 = time.perf_counter()
                open_pr(f"late-{n}")
                opens_after.append(time.perf_counter() - t0)
        finally:
            hub_proc.terminate()
            hub_proc.wait(timeout=30)
    print(f"git workflow, {args.tasks} tasks one after another, target of {args.files} files, local forge")
    print(line("start_task (fetch, branch, ls-remote)", starts))
    print(line("submit (fetch, push, find PR, open PR)", submits))
    print("POST /api/prs (the hub checks the branches, commits prs/N.yaml, reads mergeable and changed files),"
          " by how many records prs/ holds already")
    print(line(f"open with {args.tasks}-{args.tasks + 4} records", opens_before))
    print(line(f"open with {args.tasks + 5 + args.prefill}-{args.tasks + 9 + args.prefill} records", opens_after))


if __name__ == "__main__":
    main()
