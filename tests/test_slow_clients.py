"""Idle and trickling clients against a real hub process on 127.0.0.1: they cost the hub a socket
each, for seconds, and never its health check or an agent's heartbeat."""
from __future__ import annotations

import socket
import time
import urllib.request

import pytest

from coordinator.cli.serve import HUB_BOUNDS
from tests.support.fleet_api import beat, register


def _connect(port: int, source: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))


def _closed_by_hub(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)


def _health_seconds(url: str) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(url + "/api/health", timeout=60) as answer:
        assert answer.status == 200
    return time.monotonic() - started


@pytest.mark.slow
def test_idle_and_trickling_connections_starve_neither_health_nor_heartbeats(hub):
    token = register(hub, "ada")
    sockets = []
    try:
        # one client parks 300 idle connections (more than it may hold), another trickles 30
        # requests a byte a second, and 200 more sit idle on the address the agents use too
        idle = [_connect(hub.port, "127.0.0.2") for _ in range(300)]
        trickling = [_connect(hub.port, "127.0.0.3") for _ in range(30)]
        local = [_connect(hub.port, "127.0.0.1") for _ in range(200)]
        sockets = idle + trickling + local
        for s in trickling:
            s.sendall(b"POST /api/agents/ada/heartbeat HTTP/1.1\r\nX-Slow: ")
        started = time.monotonic()
        slowest = max(_health_seconds(hub.url) for _ in range(5))
        beat(hub, "ada", token)
        assert slowest < 2 and time.monotonic() - started < 5, f"health took {slowest:.2f}s"
        cut: dict[int, float] = {}
        while time.monotonic() - started < HUB_BOUNDS.request_deadline + 5 and len(cut) < len(trickling):
            for i, s in enumerate(trickling):
                if i not in cut:
                    try:
                        s.send(b"x")
                    except OSError:
                        cut[i] = time.monotonic() - started
                    else:
                        if _closed_by_hub(s):
                            cut[i] = time.monotonic() - started
            time.sleep(1)
        assert len(cut) == len(trickling), "a client trickling one byte a second kept its connection"
        assert min(cut.values()) >= HUB_BOUNDS.request_deadline - 1
        assert sum(_closed_by_hub(s) for s in idle + local) == len(idle) + len(local)  # silent for > idle_timeout
        assert _health_seconds(hub.url) < 2
    finally:
        for s in sockets:
            s.close()
    assert "Traceback" not in hub.stop()


def test_one_client_cannot_hold_more_than_its_share_of_connections():
    import threading

    from flask import Flask

    from coordinator.wire.webserver import Bounds, create

    app = Flask("share")
    app.get("/")(lambda: {"ok": True})
    bounds = Bounds(threads=2, connections=20, per_client=5, idle_timeout=30, request_deadline=30,
                    max_body=1024, cap_loopback=True)
    server = create(app, "127.0.0.1", 0, bounds, ident="test")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    greedy = []
    try:
        greedy = [_connect(server.effective_port, "127.0.0.2") for _ in range(25)]
        time.sleep(0.5)
        assert sum(_closed_by_hub(s) for s in greedy) == 20  # 5 kept, the rest closed at once
        started = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.effective_port}/", timeout=10) as answer:
            assert answer.status == 200
        assert time.monotonic() - started < 2
    finally:
        for s in greedy:
            s.close()
        server.close()
        server.task_dispatcher.shutdown()
        thread.join(timeout=5)
