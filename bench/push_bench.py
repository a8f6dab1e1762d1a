"""Enqueue by git: the latency of `git push` of one task file through the real hooks, and the time
from the push returning to the task being committed into its lane by a running hub; then, under
load (the hub committing through its API all the while), how many pushes each of many concurrent
submitters needs to land its task: by `git push origin HEAD:refs/for/main`, and by plain pushes to
main with `git pull --rebase` between tries.

    .venv/bin/python bench/push_bench.py [--pushes 30] [--submitters 20] [--period 0.13] [--tries 20]
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
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordinator.repo.repoinit import init_repo


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, check=check, capture_output=True, text=True, timeout=60)


def api(url: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers={"Content-Type": "application/json",
                                                         "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


class Load(threading.Thread):
    """The hub kept busy: every `period` seconds a task submitted and cancelled through the API
    (two commits, each published on its own)."""

    def __init__(self, url: str, token: str, period: float):
        super().__init__(daemon=True)
        self.url, self.token, self.period, self.stop, self.calls = url, token, period, threading.Event(), 0

    def run(self) -> None:
        while not self.stop.wait(self.period):
            task = api(self.url, self.token, "POST", "/api/tasks", {"prompt": f"load {self.calls}"})
            api(self.url, self.token, "POST", f"/api/tasks/{task['task']['id']}/cancel", {})
            self.calls += 1


def commits(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "main").stdout)


def submitter(clone: Path, name: str, ref: str, tries: int, start: threading.Barrier, out: dict) -> None:
    """Commit one task file and push it until it lands (at most `tries` pushes); to main, each
    try is `git pull --rebase && git push`, as the docs say."""
    (clone / "inbox" / f"{name}.yaml").write_text(f"prompt: {name}\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", name)
    start.wait()
    said = []
    for n in range(1, tries + 1):
        if ref == "main":
            git(clone, "pull", "-q", "--rebase", check=False)
        push = git(clone, "push", "origin", f"HEAD:{ref}", check=False)
        said.append(push.stderr)
        if push.returncode == 0:
            out[name] = (n, said)
            return
    out[name] = (None, said)


def under_load(url: str, token: str, repo: Path, work: Path, args) -> None:
    print(f"\nunder load: the hub submits and cancels a task through its API every {args.period} s; "
          f"{args.submitters} submitters push at once, {args.tries} tries each")
    load = Load(url, token, args.period)
    before, t0 = commits(repo), time.monotonic()
    load.start()
    time.sleep(3)
    load.stop.set()
    load.join()
    print(f"  the load alone: hub {(commits(repo) - before) / (time.monotonic() - t0):.1f} commits/s")
    for ref in ("refs/for/main", "main"):
        clones = []
        for i in range(args.submitters):
            clone = work / f"{ref.replace('/', '-')}-{i}"
            git(work, "clone", "-q", str(repo), str(clone))
            clones.append(clone)
        load = Load(url, token, args.period)
        load.start()
        time.sleep(1)  # let the load settle
        before, t0, out = commits(repo), time.monotonic(), {}
        start = threading.Barrier(args.submitters)
        threads = [threading.Thread(target=submitter, args=(c, f"{c.name}-task", ref, args.tries, start, out))
                   for c in clones]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        load.stop.set()
        load.join()
        rate = (commits(repo) - before) / (time.monotonic() - t0)
        needed = sorted(n for n, _ in out.values() if n is not None)
        said = "\n".join(s for _, said in out.values() for s in said)
        words = Counter({"fetch first": said.count("(fetch first)"), "cannot lock ref": said.count("cannot lock ref"),
                         "main moved while your push was checked": said.count("main moved while your push")})
        within = {k: sum(1 for n in needed if n <= k) for k in (1, 2, 5)}
        print(f"  {'git push origin HEAD:' + ref:32} landed {len(needed)}/{args.submitters}; "
              f"within 1/2/5 tries {within[1]}/{within[2]}/{within[5]}; "
              f"tries p50 {pct(needed, .5) if needed else '-'} max {needed[-1] if needed else '-'}; "
              f"hub {rate:.1f} commits/s")
        print("    refusals seen: " + ", ".join(f"{k} {v}" for k, v in words.items()))


def queued(url: str) -> int:
    with urllib.request.urlopen(url + "/api/status", timeout=10) as resp:
        return json.loads(resp.read())["counts"]["queued"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=30)
    parser.add_argument("--submitters", type=int, default=20)
    parser.add_argument("--period", type=float, default=0.13, help="seconds between the load's API calls")
    parser.add_argument("--tries", type=int, default=20)
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
        under_load(url, (repo / "agentcom" / "operator.token").read_text().strip(), repo, work, args)
    finally:
        hub.terminate()
        hub.communicate(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
