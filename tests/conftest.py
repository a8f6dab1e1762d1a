"""Fixtures: a scrubbed git environment, a coordination repo, clones, a hub, sidecars; and a leak
check."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from coordinator.repo.repoinit import init_repo
from tests.support.fake_github import FakeGitHub
from tests.support.gitenv import git, scrub
from tests.support.processes import HubProcess
from tests.support.sidecars import Sidecars
from tests.support.targets import make_remote

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=100)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session", autouse=True)
def git_env(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    for key, value in scrub(tmp_path_factory.mktemp("home")).items():
        mp.setenv(key, value)
    for key in ("AGENTCOM_HUB", "AGENTCOM_TOKEN", "GIT_DIR", "GIT_WORK_TREE"):
        mp.delenv(key, raising=False)
    yield
    mp.undo()


def _children() -> set[int]:
    found = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            found |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            pass
    return found


@pytest.fixture(autouse=True)
def no_leaked_processes():
    before = _children()
    yield
    leaked = _children() - before
    assert not leaked, f"test left child processes running: {sorted(leaked)}"


@pytest.fixture
def repo(tmp_path) -> Path:
    path, _ = init_repo(tmp_path / "hub.git")
    return path


@pytest.fixture
def clone(repo, tmp_path) -> Path:
    path = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(path))
    return path


@pytest.fixture
def hub(repo):
    process = HubProcess(repo)
    yield process
    process.stop()


@pytest.fixture
def hubs(repo):
    """Start hubs on the one repo (a restart on the same port included); all stopped at the end."""
    started = []

    def start(port: int = 0) -> HubProcess:
        started.append(HubProcess(repo, port=port))
        return started[-1]

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def remote(tmp_path) -> Path:
    """A target repo: a bare repo acme/web whose main holds a README and a small app."""
    return make_remote(tmp_path / "remotes")


@pytest.fixture
def sidecars(tmp_path):
    """Agents with their sidecars; at the end every sidecar is stopped and every agent process
    it started (detached with setsid, out of the leak check's sight) is killed."""
    started = Sidecars(tmp_path / "sidecars")
    yield started
    started.close()


@pytest.fixture
def fake_github():
    """A fake GitHub API on 127.0.0.1 (tests/support/fake_github.py); add users and repos to it."""
    server = FakeGitHub()
    yield server
    server.close()
