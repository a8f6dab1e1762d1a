"""The CLI and the hub wait for each other instead of refusing: a command finding a hub that is
still starting waits for it to serve and goes through it; a hub finding a one-shot command at
work waits for it to finish. Real processes throughout; a holder is caught inside its window
(holding the lock, not serving yet) and held there with SIGSTOP, so each wait is certain."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from coordinator.cli.local import LocalBackend
from coordinator.repo.lock import WriterLock
from coordinator.wire.errors import CoordinatorBusy
from tests.support.gitenv import git
from tests.support.processes import CLI, agentcom, wait_for


class Running:
    """`agentcom.py ARGS` in the background, its standard output and error read as they come."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, str(CLI), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def said(self, text: str) -> bool:
        return text in "".join(self.out) + "".join(self.err)

    def finish(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    def end(self) -> None:
        """Whatever state it is in (stopped included): gone, reaped, its pipes closed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.finish()
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def running():
    started: list[Running] = []

    def start(*args: str) -> Running:
        started.append(Running(*args))
        return started[-1]

    yield start
    for process in started:
        process.end()


def pushes_waiting(repo: Path, tmp_path: Path, count: int = 300) -> None:
    """Tasks pushed while nothing coordinates: whoever takes the lock next takes them in first,
    which holds the lock for a while (a hub catching up after a long stop)."""
    clone = tmp_path / "pusher"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    (clone / "inbox").mkdir(exist_ok=True)
    for n in range(count):
        (clone / "inbox" / f"pushed-{n:04d}.yaml").write_text(f"prompt: pushed task {n}\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "many tasks")
    git(clone, "push", "-q", "origin", "HEAD:main")


def stopped_holding(repo: Path, process: Running, role: str) -> dict:
    """SIGSTOP `process` as soon as it holds the lock as `role`, before it serves; its record."""
    lock = WriterLock(repo)
    found = wait_for(lambda: (i := lock.read_info()).get("pid") == process.pid and i.get("role") == role and i,
                     timeout=30, interval=0.002)
    os.kill(process.pid, signal.SIGSTOP)
    info = lock.read_info()
    assert info.get("pid") == process.pid and "url" not in info, f"caught it too late: {info}"
    return found


def served(hub: Running) -> str:
    line = wait_for(lambda: re.search(r"running at (http://\S+)", "".join(hub.out)), timeout=60)
    return line.group(1)


def history(url: str, repo: Path, task_id: str) -> list[str]:
    shown = agentcom("log", task_id, "--hub", url, "--repo", str(repo), "--json", check=True)
    return [entry["reason"] for entry in json.loads(shown.stdout)]


def test_a_command_run_while_the_hub_starts_waits_for_it_and_goes_through_it(repo, tmp_path, running):
    pushes_waiting(repo, tmp_path)
    hub = running("hub", "--repo", str(repo), "--port", "0")
    holder = stopped_holding(repo, hub, "hub")

    submit = running("submit", "made while the hub starts", "--repo", str(repo))
    wait_for(lambda: submit.said(f"agentcom: waiting for the hub pid {holder['pid']} to start serving"), timeout=30)
    os.kill(hub.pid, signal.SIGCONT)

    assert submit.finish() == 0, "".join(submit.err)
    task_id = "".join(submit.out).strip()
    url = served(hub)
    assert history(url, repo, task_id)[0].startswith("submitted by api (")  # through the hub


def test_a_hub_started_while_a_one_shot_command_works_waits_for_it_then_serves(repo, tmp_path, running):
    pushes_waiting(repo, tmp_path)
    submit = running("submit", "made before the hub", "--repo", str(repo))
    holder = stopped_holding(repo, submit, "cli")
    assert holder["command"] == "agentcom submit"

    hub = running("hub", "--repo", str(repo), "--port", "0")
    wait_for(lambda: hub.said(f"waiting for the one-shot command pid {submit.pid} (agentcom submit) to finish"),
             timeout=30)
    assert hub.proc.poll() is None  # waiting, not refusing
    os.kill(submit.pid, signal.SIGCONT)

    assert submit.finish() == 0, "".join(submit.err)
    task_id = "".join(submit.out).strip()
    url = served(hub)
    assert history(url, repo, task_id)[0].startswith("submitted by cli")  # it did its work itself


def test_a_second_hub_refuses_a_starting_one_at_once(repo, tmp_path, running):
    pushes_waiting(repo, tmp_path)
    first = running("hub", "--repo", str(repo), "--port", "0")
    stopped_holding(repo, first, "hub")

    second = agentcom("hub", "--repo", str(repo), "--port", "0", timeout=20)  # not the one-shot's 30 s

    assert second.returncode == 1
    assert f"agentcom: a hub is starting on {repo} (pid {first.pid}): commands will use it once it serves; " \
           "stop it first to start another here" in second.stderr


def test_every_wait_is_bounded_and_says_who_holds_the_lock_and_what_to_do(repo, tmp_path, running):
    pushes_waiting(repo, tmp_path)
    hub = running("hub", "--repo", str(repo), "--port", "0")
    stopped_holding(repo, hub, "hub")
    told: list[str] = []

    with pytest.raises(CoordinatorBusy) as waited:
        WriterLock(repo).serving(0.3, say=told.append)
    assert str(waited.value).startswith(f"the hub pid {hub.pid} holds {repo} but has not said where it serves "
                                        "after 0.3s: it may still be starting")
    assert told == [f"waiting for the hub pid {hub.pid} to start serving"]
    hub.end()

    submit = running("submit", "slow", "--repo", str(repo))
    stopped_holding(repo, submit, "cli")
    with pytest.raises(CoordinatorBusy) as waited:
        WriterLock(repo).acquire("hub", wait=0.3)
    assert str(waited.value) == (f"the one-shot command pid {submit.pid} (agentcom submit) still holds {repo} "
                                 "after 0.3s; let it finish, then try again")


def test_a_command_whose_lock_a_hub_took_meanwhile_goes_through_that_hub(repo, tmp_path, running):
    pushes_waiting(repo, tmp_path)
    hub = running("hub", "--repo", str(repo), "--port", "0")
    stopped_holding(repo, hub, "hub")
    backend = LocalBackend(repo)  # chosen while the lock looked free, as a command may
    os.kill(hub.pid, signal.SIGCONT)

    task = backend.submit({"prompt": "after all through the hub"})

    assert history(served(hub), repo, task["id"])[0].startswith("submitted by api (")


@pytest.mark.parametrize("record", ['[1, 2]', '{"role": ["hub"], "pid": "x"}', "\u0000garbage", '{"pid": 1e400}'])
def test_a_damaged_lock_record_is_read_as_an_unknown_holder(repo, record):
    lock = WriterLock(repo)
    lock.info_path.write_text(record)
    assert lock.live_info() == {}
    assert lock.serving(0.1) is None  # nobody holds the lock: the record is a leftover
    lock.acquire("cli", wait=0.1)
    lock.release()
