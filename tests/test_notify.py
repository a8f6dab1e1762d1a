"""The hub pokes a sidecar when its work changes: signed, only after the commit is on main, never
for what the agent's own report did, and a sidecar that does not answer costs nothing."""
from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coordinator.core.agent import registration
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from coordinator.hub.pokes import Notifier
from coordinator.repo.tokens import TokenStore
from coordinator.wire.protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER, Heartbeat, notify_key, parse_report, verify
from tests.support.gitenv import git
from tests.support.processes import wait_for


class Sidecar:
    """A notification endpoint on 127.0.0.1 that records each poke and what main held then."""

    def __init__(self, repo):
        self.pokes: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                tree = git(repo, "ls-tree", "-r", "--name-only", "main").stdout.split()
                outer.pokes.append({"body": body, "doc": json.loads(body), "tree": tree,
                                    "stamp": self.headers[TIMESTAMP_HEADER],
                                    "signature": self.headers[SIGNATURE_HEADER]})
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fleet(repo):
    tokens = TokenStore(repo)
    hub = Hub(repo, rng=random.Random(3))
    sidecar = Sidecar(repo)
    hub.notifier = Notifier(lambda name: (hub.urls.get(name), tokens.agent_key(name)))
    hub.start()
    hub.call(Batch.register_agent, registration({"name": "ada"}), "test")
    token = tokens.issue("agent", "ada")
    hub.heartbeat("ada", Heartbeat(url=sidecar.url))
    yield hub, sidecar, token
    hub.notifier.close()
    hub.close()
    sidecar.close()


def _report(hub, task_id, kind, attempt=1, **fields):
    return hub.call(Batch.report, "ada", task_id, parse_report({"kind": kind, "attempt": attempt, **fields}))


def test_an_assignment_pokes_the_sidecar_signed_and_only_once_main_holds_it(fleet):
    hub, sidecar, token = fleet
    task = hub.call(Batch.submit, {"prompt": "fix it"}, "test")
    poke = wait_for(lambda: sidecar.pokes and sidecar.pokes[-1], timeout=5)
    assert poke["doc"]["agent"] == "ada"
    assert f"assigned/ada/{task['id']}.yaml" in poke["tree"]  # the commit landed before the poke
    assert verify(notify_key(token), poke["stamp"], poke["signature"], poke["body"], int(poke["stamp"])) is None
    assert verify(notify_key("acm_ag_someone-else"), poke["stamp"], poke["signature"], poke["body"],
                  int(poke["stamp"])) == "bad signature"


def test_the_agents_own_reports_do_not_poke_it_but_a_cancel_does(fleet):
    hub, sidecar, _ = fleet
    first = hub.call(Batch.submit, {"prompt": "one"}, "test")["id"]
    wait_for(lambda: len(sidecar.pokes) == 1, timeout=5)
    _report(hub, first, "accepted")
    _report(hub, first, "progress", note="half way")
    second = hub.call(Batch.submit, {"prompt": "two"}, "test")["id"]  # queued: ada's one slot is taken
    _report(hub, first, "done", summary="did it")   # frees the slot: the same batch assigns `second`
    wait_for(lambda: len(sidecar.pokes) == 2, timeout=5)
    assert f"assigned/ada/{second}.yaml" in sidecar.pokes[1]["tree"]
    _report(hub, second, "accepted")
    hub.call(Batch.cancel, second, "op")
    wait_for(lambda: len(sidecar.pokes) == 3, timeout=5)
    assert not any(p.endswith(f"{second}.yaml") and p.startswith(("assigned/", "working/"))
                   for p in sidecar.pokes[2]["tree"])
    hub.call(lambda batch: None)
    assert len(sidecar.pokes) == 3 and hub.notifier.failed == 0


def test_a_sidecar_that_does_not_answer_costs_the_hub_nothing(repo):
    tokens = TokenStore(repo)
    hub = Hub(repo)
    hub.notifier = Notifier(lambda name: (hub.urls.get(name), tokens.agent_key(name)))
    try:
        hub.start()
        hub.call(Batch.register_agent, registration({"name": "ada"}), "test")
        tokens.issue("agent", "ada")
        hub.heartbeat("ada", Heartbeat(url="http://127.0.0.1:9/notify"))  # nothing listens there
        task = hub.call(Batch.submit, {"prompt": "fix it"}, "test")
        wait_for(lambda: hub.notifier.failed == 1, timeout=5)
        assert hub.show(task["id"])["state"] == "assigned"
        assert hub.assignments("ada")["assignments"][0]["id"] == task["id"]  # the pull still works
    finally:
        hub.notifier.close()
        hub.close()
