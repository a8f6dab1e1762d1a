"""Makes docs/status-page.png: a hub on a new coordination repo, a small fleet driven through
the API (agents working, blocked, idle and offline; completions with PR links; a dead task; a
rejected file; queued work in every lane; a pull request held for a human), and the page in
headless Chromium.

    .venv/bin/python bench/status_screenshot.py [--out docs/status-page.png]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordinator.repo.repoinit import init_repo
from tests.support.browser import chromium, missing
from tests.support.decisions import decision, record
from tests.support.fleet_api import populate, push_without_hook
from tests.support.gitenv import git, scrub
from tests.support.processes import HubProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "status-page.png")
    args = parser.parse_args()
    if missing():
        sys.exit(missing())
    with tempfile.TemporaryDirectory(prefix="agentcom-shot-") as tmp:
        base = Path(tmp)
        os.environ.update(scrub(base / "home"))
        repo, _ = init_repo(base / "hub.git")
        clone = base / "clone"
        git(base, "clone", "-q", str(repo), str(clone))
        push_without_hook(repo, clone, {"inbox/typo.yaml": b"promt: Fix the flaky upload test\n"})
        hub = HubProcess(repo)
        try:
            populate(hub)
            record(hub, decision(12, "advise-merge", rules=["pr.held"], reasons=[], title="Fix the login redirect",
                                 task="done-1", why="Every gate passes, but the pull request carries "
                                 "agentcom:needs-human from an earlier escalation; a human merges, or removes "
                                 "the label to let the gatekeeper merge"))
            with chromium() as browser:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(hub.url + "/")
                page.get_by_role("article", name="Agent ada").wait_for()
                page.get_by_text("inbox/typo.yaml").wait_for()
                page.screenshot(path=str(args.out), full_page=True)
        finally:
            hub.stop()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
