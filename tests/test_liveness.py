"""Liveness across hub restarts: a restart never causes a reclaim, whatever the grace. The sweeper
gives every clock unmoved since a start a fair chance; a sidecar keeps heartbeating while it backs
off; the hub keeps the sidecars' notify addresses and asks each for a heartbeat when it starts."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.core.agent import registration
from coordinator.core.layout import State
from coordinator.core.sweeper import OFFLINE, Held, Limits, next_due, overdue
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from coordinator.wire.protocol import Heartbeat
from sidecar.fleet.hubrepo import change_settings, contains
from sidecar.runtime.config import load_config
from sidecar.runtime.reconcile import Sidecar
from tests.support.processes import wait_for
from tests.support.sidecars import write_config
from tests.test_sidecar import submit, task

START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


# --- the sweeper's rule (pure) -------------------------------------------------------------

def test_after_a_start_nothing_unheard_is_overdue_before_the_restart_allowance_whatever_the_limits():
    limits = Limits(accept=5, progress=5, grace=3, restart=60)
    held = [Held("t-assigned", "ada", State.ASSIGNED, START), Held("t-working", "bob", State.WORKING, START)]
    seen = {"ada": START, "bob": START}

    assert overdue(held, seen, {}, START + s(59.9), limits, START) == []
    assert next_due(held, seen, {}, limits, START) == START + s(60)
    found = overdue(held, seen, {}, START + s(61), limits, START)
    assert [(d.kind, d.subject) for d in found] == [(OFFLINE, "ada"), (OFFLINE, "bob")]  # tasks go with them
    assert found[0].reason == "no heartbeat since the hub started 61s ago (grace 3s, at least 60s after a start)"
    assert [d.subject for d in overdue(held, {}, {}, START + s(61), limits, START)] == ["t-assigned", "t-working"]


def test_once_heard_after_a_start_the_configured_limits_count_again():
    limits = Limits(accept=5, progress=5, grace=3, restart=60)
    heard = START + s(10)
    held = [Held("t-1", "ada", State.WORKING, heard)]

    assert overdue(held, {"ada": heard}, {}, START + s(13), limits, START) == []
    found = overdue(held, {"ada": heard}, {}, START + s(14), limits, START)
    assert [(d.kind, d.subject, d.reason) for d in found] == [(OFFLINE, "ada", "no heartbeat for 4s (grace 3s)")]
    assert next_due(held, {"ada": heard}, {}, limits, START) == START + s(13)


def test_a_limit_longer_than_the_allowance_is_kept_whole_and_deadlines_never_move():
    limits = Limits(accept=120, progress=1800, grace=90, restart=60)
    deadline = {"t-2": START + s(5)}

    assert overdue([], {"ada": START}, deadline, START + s(90), limits, START)[0].subject == "t-2"
    assert [d.subject for d in overdue([], {"ada": START}, {}, START + s(91), limits, START)] == ["ada"]
    assert overdue([], {"ada": START}, {}, START + s(4), Limits(5, 5, 3), None)[0].subject == "ada"  # no start


@given(grace=st.integers(0, 200), accept=st.integers(0, 200), progress=st.integers(0, 200),
       before=st.lists(st.integers(0, 10**6), max_size=5), after=st.integers(0, 59))
def test_no_clock_unmoved_since_a_start_falls_due_within_the_allowance(grace, accept, progress, before, after):
    """Whatever the limits and however old the clocks were (the fleet clamps them to the start)."""
    limits = Limits(accept, progress, grace, restart=60)
    clocks = [max(START - s(b), START) for b in before]
    held = [Held(f"t-{n}", f"a-{n}", (State.ASSIGNED, State.WORKING)[n % 2], c) for n, c in enumerate(clocks)]
    seen = {f"a-{n}": c for n, c in enumerate(clocks)}

    assert overdue(held, seen, {}, START + s(after), limits, START) == []
    due = next_due(held, seen, {}, limits, START)
    assert due is None or due >= START + s(max(60, min(grace, accept, progress)))


# --- the sidecar keeps heartbeating while it backs off -------------------------------------

class StubHub:
    """A hub on 127.0.0.1 that is down (503) or up; records each call at the sidecar's clock."""

    def __init__(self, clock):
        self.up, self.calls, self.reports, outer = False, [], [], self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if outer.up and not self.path.endswith("/heartbeat"):
                    outer.reports.append(body)
                kind = "heartbeat" if self.path.endswith("/heartbeat") else "report"
                outer.calls.append((clock(), kind, outer.up))
                if not outer.up:
                    return self._send(503, {"error": "Unavailable", "message": "restarting"})
                if kind == "heartbeat":
                    return self._send(200, {"agent": "ada", "state": "idle", "assignments": [], "drop": []})
                return self._send(200, {"id": "t-1", "state": "working", "duplicate": False, "attempt": 1})

            def _send(self, status, doc):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_while_the_hub_is_away_a_heartbeat_is_tried_every_interval_and_the_first_that_lands_delivers(tmp_path):
    now = [1000.0]
    hub = StubHub(lambda: now[0])
    try:
        path = tmp_path / "ada.yaml"
        write_config(path, {"hub": hub.url, "agent": "ada", "token": "acm_ag_ada-token",
                            "command": [sys.executable, "-c", "pass"], "state_dir": str(tmp_path / "ada.state"),
                            "heartbeat": "5s"})
        sidecar = Sidecar(load_config(path), clock=lambda: now[0])
        sidecar.outbox.put("t-1", {"kind": "progress", "attempt": 1, "note": "still at it"})
        while now[0] < 1120:  # two minutes of outage, at the pace the sidecar itself asks for
            now[0] += sidecar.step()

        times = [t for t, _, _ in hub.calls]
        beats = [t for t, kind, _ in hub.calls if kind == "heartbeat"]
        assert max(gaps(times)) <= 5 and max(gaps(beats)) <= 5  # never silent for longer than its interval
        assert len([t for t in times if t >= 1060]) <= 60 / 5 + 1  # one attempt an interval: no spin

        hub.up = True
        back = now[0]
        while not any(up for _, _, up in hub.calls) and now[0] < back + 30:
            now[0] += sidecar.step()
        landed = [(t, kind) for t, kind, up in hub.calls if up]
        assert landed[0][1] == "heartbeat" and landed[0][0] - back <= 5
        assert landed[:2] == [(landed[0][0], "heartbeat"), (landed[0][0], "report")]  # the report went at once
        assert sidecar.outbox.pending() == [] and sidecar.hub_error is None
    finally:
        hub.close()


def test_a_run_of_an_attempt_again_starts_only_once_the_hub_has_recorded_it(tmp_path):
    from sidecar.runtime.runs import ACCEPTED, RUNNING

    hub = StubHub(time.time)
    try:
        marker = tmp_path / "ran"
        path = tmp_path / "ada.yaml"
        write_config(path, {"hub": hub.url, "agent": "ada", "token": "acm_ag_ada-token",
                            "command": [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"],
                            "state_dir": str(tmp_path / "ada.state")})
        sidecar = Sidecar(load_config(path))
        # run 1 was lost with its machine; run 2 is due (as `_lost` or a lost state leave it)
        run = sidecar.runs.create({"id": "t-1", "prompt": "again"}, 1, phase=ACCEPTED, runs=1,
                                  rerun="the run vanished")
        sidecar._start(run)
        assert sidecar.runs.get("t-1", 1).phase == ACCEPTED  # the hub is away: the run waits for it
        assert [p.body.get("run") for p in sidecar.outbox.pending()] == [2]  # its record, waiting too

        hub.up = True
        sidecar._start(sidecar.runs.get("t-1", 1))
        assert hub.reports == [{"kind": "progress", "attempt": 1, "note": "the run vanished", "run": 2}]
        assert sidecar.runs.get("t-1", 1).phase == RUNNING and sidecar.runs.get("t-1", 1).notes["runs"] == 2
        wait_for(marker.exists)
        wait_for(lambda: (sidecar._reap(), not sidecar.children)[1])  # its wrapper has exited
    finally:
        hub.close()


# --- the hub keeps the sidecars' addresses -------------------------------------------------

def started_hub(repo) -> Hub:
    return Hub(repo, rng=random.Random(5))


def test_a_sidecars_address_outlives_the_hub_and_is_written_only_when_it_changes(repo):
    hub = started_hub(repo)
    try:
        for name in ("ada", "bob"):
            hub.call(Batch.register_agent, registration({"name": name}), "test")
        hub.heartbeat("ada", Heartbeat(url="http://127.0.0.1:8801/notify"))
        path = repo / "agentcom" / "sidecars.json"
        written = path.stat().st_mtime_ns
        hub.heartbeat("ada", Heartbeat(url="http://127.0.0.1:8801/notify"))
        assert path.stat().st_mtime_ns == written
        hub.heartbeat("bob", Heartbeat(url="http://10.0.0.2:8802/notify"))
        hub.call(Batch.remove_agent, "bob", "test")
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    finally:
        hub.close()

    again = started_hub(repo)
    try:
        assert again.urls == {"ada": "http://127.0.0.1:8801/notify"}
    finally:
        again.close()


def _fifo(path):
    os.mkfifo(path)


def _link(path):
    os.symlink("/dev/zero", path)


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(b"\xff\xfe not json"),
    lambda p: p.write_text("[1, 2]"),
    lambda p: p.write_text('{"sidecars": ["ada"]}'),
    lambda p: p.write_text('{"sidecars": {"ada": "http://x/", "ada": "http://y/"}}'),
    lambda p: p.write_text('{"sidecars": ' + "[" * 5000 + "]" * 5000 + "}"),
    lambda p: p.write_bytes(b'{"sidecars": {"ada": "http://127.0.0.1/' + b"a" * 5_000_000 + b'"}}'),
    _fifo,
    _link,
], ids=["not-utf8", "array", "list", "repeated-key", "deep", "huge", "fifo", "symlink"])
def test_a_damaged_address_file_costs_the_pokes_never_the_start(repo, damage):
    path = repo / "agentcom" / "sidecars.json"
    damage(path)

    hub = started_hub(repo)  # must neither hang nor fail
    try:
        assert hub.urls == {}
        hub.call(Batch.register_agent, registration({"name": "ada"}), "test")
        hub.heartbeat("ada", Heartbeat(url="http://127.0.0.1:8801/notify"))
    finally:
        hub.close()
    if not path.is_symlink() and path.is_file():  # replaced whole by the next write
        assert json.loads(path.read_text()) == {"sidecars": {"ada": "http://127.0.0.1:8801/notify"}}


def test_only_addresses_a_heartbeat_could_bring_are_taken_back_and_only_for_registered_agents(repo):
    hub = started_hub(repo)
    try:
        hub.call(Batch.register_agent, registration({"name": "ada"}), "test")
        hub.call(Batch.register_agent, registration({"name": "bob"}), "test")
    finally:
        hub.close()
    (repo / "agentcom" / "sidecars.json").write_text(json.dumps({"sidecars": {
        "ada": "http://127.0.0.1:8801/notify", "bob": "javascript:alert(1)", "carl": "http://127.0.0.1:9/notify",
        "../etc": "http://127.0.0.1:9/", "CON": "http://127.0.0.1:9/", "eve": 7}}))

    again = started_hub(repo)
    try:
        assert again.urls == {"ada": "http://127.0.0.1:8801/notify"}
    finally:
        again.close()


# --- real processes: a hub killed and restarted --------------------------------------------

def heard(hub, name: str) -> str | None:
    """When the hub last heard the agent's heartbeat (None: not since it started)."""
    return next(a["last_heartbeat"] for a in hub.request("GET", "/api/agents")[1]["agents"] if a["name"] == name)


def agent_moves(repo, name: str) -> list[str]:
    log = subprocess.run(["git", "-C", str(repo), "log", "--format=%(trailers:key=Agent-State,valueonly)", "main"],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in log.split("\n") if line.startswith(f"{name} ")]


def working_with_a_short_grace(hubs, sidecars):
    """A hub whose heartbeat grace is 3 s, and ada (heartbeat 1 s) working on a task that waits:
    (hub, ada, its sidecar process, the task's id)."""
    hub = hubs()
    pushed = change_settings(hub.repo, {"timeouts": {"heartbeat_grace": "3s"}})
    wait_for(lambda: contains(hub.repo, pushed, hub.request("GET", "/api/health")[1]["head"]))
    ada = sidecars.agent(hub, "ada", heartbeat="1s")
    process = sidecars.start(ada)
    task_id = submit(hub, "wait")
    wait_for(lambda: ada.runs(task_id) and task(hub, task_id)["state"] == "working", timeout=15)
    return hub, ada, process, task_id


def test_a_hub_killed_and_restarted_reclaims_nothing_even_with_a_grace_shorter_than_the_outage(hubs, sidecars):
    hub, ada, sidecar, task_id = working_with_a_short_grace(hubs, sidecars)

    hub.kill()  # SIGKILL: nothing is said to anyone
    time.sleep(5)  # down for longer than the grace; the sidecar backs off meanwhile
    again = hubs(port=hub.port)

    wait_for(lambda: heard(again, "ada"), timeout=5)  # within its interval (1 s), and the poke
    wait_for(lambda: "the hub has just started and asks for a heartbeat" in sidecar.output())
    time.sleep(4)  # past the grace on the new hub: the heartbeats keep it
    assert (task(again, task_id)["state"], task(again, task_id)["attempt"]) == ("working", 1)
    ada.release(task_id)
    wait_for(lambda: task(again, task_id)["state"] == "done", timeout=15)

    assert task(again, task_id)["attempt"] == 1 and len(ada.runs(task_id)) == 1  # never run again
    assert [m for m in agent_moves(hub.repo, "ada") if m.endswith("→ offline")] == ["ada unregistered → offline"]


def test_a_restarted_hub_asks_every_known_sidecar_for_a_heartbeat_at_once(hubs, sidecars):
    hub = hubs()
    ada = sidecars.agent(hub, "ada", heartbeat="1h")  # left alone, it would not call for an hour
    sidecars.start(ada)
    wait_for(lambda: heard(hub, "ada"))
    kept = json.loads((hub.repo / "agentcom" / "sidecars.json").read_text())["sidecars"]
    assert list(kept) == ["ada"] and kept["ada"].startswith("http://127.0.0.1:")

    hub.kill()
    again = hubs(port=hub.port)

    wait_for(lambda: heard(again, "ada"), timeout=10)


def test_a_sidecar_that_reaches_a_restarted_hub_only_after_the_grace_still_finds_its_task(hubs, sidecars):
    hub, ada, first, task_id = working_with_a_short_grace(hubs, sidecars)

    hub.kill()
    first.kill()  # its machine restarts too; the agent runs on
    again = hubs(port=hub.port)
    time.sleep(5)  # nobody heartbeats the new hub for longer than the grace

    assert (task(again, task_id)["state"], task(again, task_id)["attempt"]) == ("working", 1)
    assert heard(again, "ada") is None
    sidecars.start(ada)
    wait_for(lambda: heard(again, "ada"))
    ada.release(task_id)
    wait_for(lambda: task(again, task_id)["state"] == "done", timeout=15)
    assert task(again, task_id)["attempt"] == 1 and len(ada.runs(task_id)) == 1
    assert [m for m in agent_moves(hub.repo, "ada") if m.endswith("→ offline")] == ["ada unregistered → offline"]


def test_a_start_poke_that_does_not_get_through_is_tried_again_and_others_are_not():
    import socket

    from coordinator.hub.pokes import Notifier

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    got = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the name http.server calls
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    where = {"ada": f"http://127.0.0.1:{port}/notify", "bob": f"http://127.0.0.1:{port}/notify"}
    notifier = Notifier(lambda name: (where[name], "k" * 32))
    try:
        notifier.poke(["ada"], "h1", "started")
        notifier.poke(["bob"], "h1")  # an ordinary poke: the next heartbeat brings the work
        wait_for(lambda: notifier.failed >= 2)
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)  # the sidecar is up now
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            wait_for(lambda: got, timeout=10)
            time.sleep(1.5)  # room for a wrong retry of bob's poke to show
        finally:
            server.shutdown()
            server.server_close()
    finally:
        notifier.close()
    assert [(g["agent"], g["event"]) for g in got] == [("ada", "started")]


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"agent\": ",  # killed mid-reply
    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!",
    b"garbage, not HTTP at all\r\n\r\n",
], ids=["cut-short", "not-json", "not-http"])
def test_a_hub_answer_cut_short_or_garbled_is_the_hub_unavailable_never_a_crash(reply):
    import socket

    from coordinator.wire.client import HttpBackend
    from coordinator.wire.errors import HubUnavailable

    listener = socket.create_server(("127.0.0.1", 0))

    def answer_once():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(reply)

    server = threading.Thread(target=answer_once, daemon=True)
    server.start()
    try:
        with pytest.raises(HubUnavailable, match="127.0.0.1"):
            HttpBackend(f"http://127.0.0.1:{listener.getsockname()[1]}", "t", timeout=5).heartbeat("ada", None, [])
    finally:
        server.join(timeout=5)
        listener.close()
