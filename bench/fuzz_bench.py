"""Hostile input at a large size: the fuzz suite's strategies (tests/support/hostile.py) run for
many more examples than CI does, counting outcomes; exits 1 if any invariant broke.

    .venv/bin/python bench/fuzz_bench.py [--examples 2000] [--pushes 200] [--requests 2000] [--seed N]

files: task-file bytes through load() and admit(), accepted ones read back from the stored bytes;
pushes: commits of hostile files judged by the pre-receive check, then landed on main without
it, an in-process hub catching up (each file queued, or kept in rejected/ with its reason);
requests: hostile JSON bodies to POST /api/tasks, a report and a heartbeat of a real hub.
"""
from __future__ import annotations

import argparse
import collections
import itertools
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seeded
from hypothesis import strategies as st

from coordinator.core.task import Defaults, admit, check_stored, load
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from coordinator.repo.gitrepo import BLOB, GitRepo
from coordinator.repo.pushcheck import verdict
from coordinator.repo.repoinit import init_repo
from coordinator.wire.errors import InvalidTask
from tests.property.test_fuzz_api import _post
from tests.property.test_fuzz_pushes import PLACES, USER
from tests.support.fleet_api import holding
from tests.support.gitenv import scrub
from tests.support.hostile import heartbeat_bodies, rendered, report_bodies, task_bodies, task_files
from tests.support.processes import HubProcess

NOW = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
counts: collections.Counter = collections.Counter()
broken: list[str] = []


def run(strategy, n: int, seed: int, check) -> None:
    """Draw n examples from strategy and check each; a broken invariant is counted, not raised,
    so the run goes on and reports every kind of failure it met."""
    @settings(max_examples=n, database=None, deadline=None, derandomize=seed is None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def each(value):
        try:
            check(value)
        except Exception as e:  # the bench's own boundary: count it, show the first few, go on
            counts["crashes"] += 1
            if len(broken) < 10:
                broken.append(f"{type(e).__name__}: {str(e)[:300]} <- {str(value)[:200]}")
    (seeded(seed)(each) if seed is not None else each)()


def check_file(data: bytes) -> None:
    where = "inbox/fuzz.yaml"
    try:
        doc = load(data, where, Defaults().max_bytes)
    except InvalidTask as e:
        assert e.where == where and e.problems
        counts["files refused by load"] += 1
        return
    try:
        task, stored = admit(doc, where, lane=None, now=NOW, task_id="fuzz-1", defaults=Defaults(), source="fuzz")
    except InvalidTask as e:
        assert e.where == where and e.problems
        counts["files refused by admit"] += 1
        return
    assert load(stored, where, Defaults().max_bytes) == task
    check_stored(task, where, task["id"])
    counts["files admitted and read back"] += 1


def check_pushes(repo: Path, hub: Hub, names):
    def check(files):
        named = {place.format(n=f"f{next(names)}"): data for place, data in files}
        git = GitRepo(repo)
        try:
            head = git.head()
            tree = git.edit_tree(git.tree_of(head), {p: (git.write_blob(d), BLOB) for p, d in named.items()})
            commit = git.repo.create_commit(None, USER, USER, "fuzz", tree, [head])
            code, lines = verdict(git, [f"{head} {commit} refs/heads/main"])
            git.advance(commit, head)
        finally:
            git.close()
        counts["pushes the hook refused" if code else "pushes the hook let through"] += 1
        before = set(hub.view.tasks)
        hub.call(lambda batch: None)
        rejected = {r["file"]: r for r in hub.status()["rejected"] if r["file"] in named}
        new = set(hub.view.tasks) - before
        counts["pushed files"] += len(named)
        counts["pushed files queued"] += len(new)
        counts["pushed files kept in rejected/"] += len(rejected)
        if len(new) + len(rejected) != len(named):
            counts["pushed files lost"] += len(named) - len(new) - len(rejected)
            raise AssertionError(f"lost: {sorted(named)} -> {sorted(new)}, {sorted(rejected)}")
        for path, r in rejected.items():
            assert r["problems"], path
            if not (code == 1 and path in "\n".join(lines)):
                counts["hook and hub disagree"] += 1
                raise AssertionError(f"the hook let {path} through; the hub rejected it: {r['problems']}")
    return check


def check_request(hub: HubProcess, path: str, token: str | None, key: str):
    def check(body: str):
        try:
            status, answer = _post(hub, path, body, token)
        except AssertionError:
            counts["5xx or bad answers"] += 1
            raise
        counts[f"{key} {status}"] += 1
        if path == "/api/tasks" and status == 201:
            shown = hub.request("GET", f"/api/tasks/{answer['id']}")
            assert shown[0] == 200 and shown[1]["state"] == "queued"
    return check


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=2000, help="task files through load and admit")
    ap.add_argument("--pushes", type=int, default=200, help="pushes of 1-4 hostile files")
    ap.add_argument("--requests", type=int, default=2000, help="hostile bodies, split over the three endpoints")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: derandomized, as in CI)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="agentcom-fuzz-"))
    os.environ.update(scrub(work / "home"))
    began = time.monotonic()

    start = time.monotonic()
    run(task_files, args.examples, args.seed, check_file)
    print(f"files:    {args.examples} examples in {time.monotonic() - start:.1f}s")

    start = time.monotonic()
    repo, _ = init_repo(work / "pushes.git")
    hub = Hub(repo, fleet=False)
    try:
        run(st.lists(st.tuples(st.sampled_from(PLACES), rendered | task_files), min_size=1, max_size=4),
            args.pushes, args.seed, check_pushes(repo, hub, itertools.count()))
        assert hub.call(Batch.submit, {"prompt": "still serving"}, "fuzz")["state"] == "queued"
        shown = hub.status()
    finally:
        hub.close()
    again = Hub(repo, fleet=False)  # a fresh hub starts on what the pushes left
    try:
        assert again.status()["counts"] == shown["counts"]
    finally:
        again.close()
    print(f"pushes:   {args.pushes} pushes in {time.monotonic() - start:.1f}s (a fresh hub restarted on the result)")

    start = time.monotonic()
    repo, _ = init_repo(work / "api.git")
    server = HubProcess(repo)
    try:
        token, held, attempt = holding(server, "fz")
        third = args.requests // 3
        run(task_bodies(), args.requests - 2 * third, args.seed, check_request(server, "/api/tasks", None, "tasks"))
        run(report_bodies(attempt=attempt), third, args.seed,
            check_request(server, f"/api/tasks/{held}/report", token, "report"))
        run(heartbeat_bodies(), third, args.seed, check_request(server, "/api/agents/fz/heartbeat", token, "heartbeat"))
        healthy = server.request("GET", "/api/health")[0] == 200
    finally:
        out = server.stop()
    if not healthy or "Traceback" in out:
        counts["crashes"] += 1
        broken.append("the hub stopped answering /api/health or logged a traceback")
    print(f"requests: {args.requests} requests in {time.monotonic() - start:.1f}s (/api/health answered after)")

    counts.setdefault("crashes", 0)
    counts.setdefault("5xx or bad answers", 0)
    counts.setdefault("pushed files lost", 0)
    counts.setdefault("hook and hub disagree", 0)
    print("\noutcomes")
    for key in sorted(counts):
        print(f"  {key:60} {counts[key]:7,}")
    print(f"\ntotal {time.monotonic() - began:.1f}s")
    for line in broken:
        print("BROKEN", line)
    return 1 if broken or counts["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
