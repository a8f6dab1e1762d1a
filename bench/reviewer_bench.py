"""The gatekeeper's reviewer end to end: time to review one pull request against the fake GitHub
on 127.0.0.1 (real bare repo behind it) with a real coordination repo, and the HTTP calls it makes.

  first review   a one-line fix, auto-merge off: reads, judges, comments once, commits the decision;
  again          the same head again: reads and judges, no comment, no commit;
  merge          a one-line fix with auto-merge on: reads, judges, merges, commits the decision.

    .venv/bin/python bench/reviewer_bench.py [--prs 30]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordinator.forge.github import GitHubForge
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from coordinator.repo.repoinit import init_repo
from coordinator.reviewer.books import HubBook
from coordinator.reviewer.reviewer import Reviewer
from tests.support.fake_github import FakeGitHub
from tests.support.gitenv import git, scrub
from tests.support.held import hand_over
from tests.support.targets import make_remote, push_branch

TRUST = "trust:\n  logins: {ada-bot: ada}\n"  # whose login is whose


def _ms(samples: list[float]) -> str:
    s = sorted(samples)
    return f"p50 {statistics.median(s) * 1000:6.1f} ms   max {s[-1] * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.update(scrub(root / "home"))
        repo, _ = init_repo(root / "hub.git")
        clone = root / "clone"
        git(root, "clone", "-q", str(repo), str(clone))
        (clone / "gatekeeper.yaml").write_text("merge:\n  required_checks: [test]\n" + TRUST)
        git(clone, "commit", "-qam", "rules")
        git(clone, "push", "-q", "origin", "HEAD:main")
        github = FakeGitHub()
        hub = Hub(repo, role="cli")
        try:
            remote = make_remote(root / "remotes")
            github.add_user("ada-bot", "t-agent")
            github.add_user("gatekeeper", "t-gate")
            github.add_repo("acme/web", remote)
            agent = GitHubForge("acme/web", "t-agent", github.url)
            reviewer = Reviewer(GitHubForge("acme/web", "t-gate", github.url), HubBook(hub), "acme/web", "acme/web")
            numbers = []
            for i in range(args.prs):
                hub.call(Batch.submit, {"id": f"T-{i}", "prompt": f"fix {i}", "repo": "acme/web"}, "bench")
                hand_over(hub, f"T-{i}", "ada")  # the gatekeeper reviews the PRs of a task's holder
                branch = f"agent/ada/T-{i}-fix"
                head = push_branch(remote, root, branch, {f"app/m{i}.py": f"x = {i}\n"})
                numbers.append(agent.open_pr(branch, "main", f"Fix {i}", f"AgentCom task `T-{i}`",
                                             ("agent:ada",)).number)
                github.add_check_run("acme/web", head, "test")
                agent.get_pr(numbers[-1])  # GitHub works out mergeability
            first, again, calls = [], [], []
            for n in numbers:
                before = len(github.requests)
                t = time.perf_counter()
                outcome = reviewer.review(n)
                assert outcome.action == "advise-merge", outcome
                first.append(time.perf_counter() - t)
                calls.append(len(github.requests) - before)
            for n in numbers:
                t = time.perf_counter()
                assert reviewer.review(n).committed is False
                again.append(time.perf_counter() - t)
            git(clone, "pull", "-q")
            (clone / "gatekeeper.yaml").write_text("merge:\n  required_checks: [test]\n  auto_merge: true\n" + TRUST)
            git(clone, "commit", "-qam", "auto-merge on")
            git(clone, "push", "-q", "origin", "HEAD:main")
            hub.call(lambda batch: None)
            merged = []
            for n in numbers[: max(1, args.prs // 3)]:
                t = time.perf_counter()
                assert reviewer.review(n).action == "merge"
                merged.append(time.perf_counter() - t)
            print(f"reviewer against the fake GitHub, {args.prs} one-line PRs, {os.cpu_count()} cores")
            print(f"  first review (comment + decision commit)  {_ms(first)}   "
                  f"{statistics.median(calls):.0f} HTTP calls")
            print(f"  same head again (no comment, no commit)   {_ms(again)}")
            print(f"  merge (merge + decision commit)            {_ms(merged)}")
        finally:
            hub.close()
            github.close()


if __name__ == "__main__":
    main()
