"""The status page's costs: `GET /api/state` latency with 10,000 tasks and 100 agents, and the
hub's CPU while idle with 50 heartbeating sidecars and the page open in Chromium.

Part 1. Builds a coordination repo holding 9,900 queued tasks (over the four lanes) and 100 dead
ones in one commit, starts `agentcom.py hub` on it (127.0.0.1, a free port), registers 100
agents over HTTP and brings each online with a heartbeat; each is then assigned one task, which
it accepts: 10,000 tasks in all (9,800 queued, 100 working, 100 dead), 100 agents. Then it times
GET /api/state over one kept-alive HTTP connection, four ways:
  commit      a queued task is re-prioritised (untimed, one commit) before each request, so the
              hub builds the whole snapshot again, the parts that walk the queue included: the
              worst case;
  heartbeat   an agent heartbeats (untimed) before each request: the agent rows, running work
              and tokens are built again, the parts that follow from the view come from the
              cache kept per commit;
  unchanged   nothing changed since the last request: the cached body is sent again;
  304         the request sends If-None-Match with the current ETag, as the page's poll does.

Part 2. A new hub on a new repo with 50 registered agents and 200 queued tasks that none of
them can take. 50 clients each send the sidecar's heartbeat request (POST
/api/agents/NAME/heartbeat with its url and holdings) every --beat seconds, spread evenly
(the sidecar's default is 30 s; the default here, 10 s, is three times as often, to be
pessimistic), and the status page is open in headless Chromium, polling every 3 s. After a
10 s warm-up, the hub process's CPU time (user + system, from /proc/PID/stat) is read over
--seconds seconds; then the heartbeats stop and, with the page still open, it is read again
over half as long: every poll is then a 304.

    .venv/bin/python bench/state_bench.py [--samples 300] [--seconds 60] [--beat 10]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordinator.core.layout import LANES, State, location
from coordinator.core.task import Defaults, dump, intake
from coordinator.core.transitions import move
from coordinator.repo.gitrepo import BLOB, GitRepo
from coordinator.repo.repoinit import init_repo
from coordinator.wire.client import HttpBackend
from tests.support.browser import chromium, missing
from tests.support.gitenv import scrub
from tests.support.processes import HubProcess, wait_for

START = datetime.now(UTC) - timedelta(hours=3)
TICK = os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def ms(values: list[float]) -> str:
    return (f"p50 {pct(values, 50) * 1000:6.2f} ms   p99 {pct(values, 99) * 1000:6.2f} ms   "
            f"max {max(values) * 1000:6.2f} ms")


def build(path: Path, queued: int, dead: int, needs: list[str] | None = None) -> None:
    """`queued` queued tasks and `dead` dead ones, written straight into one commit."""
    init_repo(path)
    repo = GitRepo(path)
    edits = {}
    for i in range(queued + dead):
        now = START + timedelta(milliseconds=i * 500)
        doc = {"prompt": f"benchmark task {i}", "id": f"t{i:06d}", "priority": LANES[i % 4]}
        if needs:
            doc["needs"] = needs
        task = intake(doc, "bench", lane=None, now=now, task_id="", defaults=Defaults(), source="bench")
        loc = location(State.QUEUED, task["id"], lane=task["priority"])
        if i >= queued:
            m = move(task, loc, State.DEAD, now, reason="bench", updates={"last_error": "gave up after 4 attempts"})
            task, loc = m.task, m.new
        edits[loc.path] = (repo.write_blob(dump(task)), BLOB)
    head = repo.head()
    repo.advance(repo.commit(repo.edit_tree(repo.tree_of(head), edits), head,
                             "bench: preload\n\nReason: benchmark data\n"), head)
    repo.close()


def register(hub: HubProcess, count: int, prefix: str) -> dict[str, str]:
    tokens = {}
    for i in range(count):
        status, body = hub.request("POST", "/api/agents", {"name": f"{prefix}{i:03d}", "capabilities": ["python"]})
        assert status == 201, body
        tokens[body["agent"]["name"]] = body["token"]
    return tokens


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def latency(base: Path, samples: int) -> dict:
    repo = base / "big.git"
    t0 = time.monotonic()
    build(repo, 9900, 100)
    built = time.monotonic() - t0
    hub = HubProcess(repo)
    try:
        tokens = register(hub, 100, "agent-")
        for name, token in tokens.items():
            answer = HttpBackend(hub.url, token).heartbeat(name, "http://127.0.0.1:9/notify", [])
            for a in answer["assignments"] or wait_for(
                    lambda token=token, name=name: HttpBackend(hub.url, token)._request(
                        "GET", f"/api/agents/{name}/assignments")["assignments"]):
                HttpBackend(hub.url, token).report(a["id"], {"kind": "accepted", "attempt": a["attempt"]})
        conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)

        def get(headers=None) -> tuple[float, int, bytes, str]:
            t = time.perf_counter()
            conn.request("GET", "/api/state", headers=headers or {})
            resp = conn.getresponse()
            body = resp.read()
            return time.perf_counter() - t, resp.status, body, resp.getheader("ETag")

        _, _, body, _ = get()
        state = json.loads(body)
        assert state["counts"]["queued"] == 9800 and state["counts"]["working"] == 100, state["counts"]
        assert state["counts"]["dead"] == 100 and len(state["agents"]) == 100
        names = list(tokens)
        queued = [t["id"] for t in state["next"]["low"]]
        committed, changed, unchanged, not_modified = [], [], [], []
        for i in range(samples):
            status, answer = hub.request("POST", f"/api/tasks/{queued[0]}/priority",
                                         {"lane": "high" if i % 2 == 0 else "low"})
            assert status == 200, answer
            took, status, body, etag = get()
            assert status == 200
            committed.append(took)
            name = names[i % len(names)]
            HttpBackend(hub.url, tokens[name]).heartbeat(name, "http://127.0.0.1:9/notify", [])
            took, status, body, etag = get()
            assert status == 200
            changed.append(took)
            took, status, _, _ = get()
            assert status == 200
            unchanged.append(took)
            took, status, _, _ = get({"If-None-Match": etag})
            assert status == 304
            not_modified.append(took)
        conn.close()
        return {"built": built, "bytes": len(body), "commit": committed, "changed": changed, "unchanged": unchanged,
                "304": not_modified, "counts": state["counts"]}
    finally:
        hub.stop()


def measure(page, pid: int, seconds: float) -> tuple[float, float]:
    """(hub CPU seconds, wall seconds) over `seconds`, the browser's event loop running meanwhile."""
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    while time.monotonic() - t0 < seconds:
        page.wait_for_timeout(500)
    return cpu_seconds(pid) - cpu0, time.monotonic() - t0


def idle_cpu(base: Path, seconds: float, beat_every: float) -> dict:
    repo = base / "idle.git"
    build(repo, 200, 0, needs=["rust"])
    hub = HubProcess(repo)
    stop = threading.Event()
    try:
        tokens = register(hub, 50, "side-")
        beats = [0]

        def heartbeats():
            clients = [(name, HttpBackend(hub.url, token)) for name, token in tokens.items()]
            start = time.monotonic()
            n = 0
            while not stop.is_set():
                for i, (name, client) in enumerate(clients):
                    due = start + n * beat_every + i * beat_every / len(clients)
                    if stop.wait(max(0.0, due - time.monotonic())):
                        return
                    client.heartbeat(name, f"http://127.0.0.1:9/{name}", [])
                    beats[0] += 1
                n += 1

        thread = threading.Thread(target=heartbeats, daemon=True)
        thread.start()
        polls = {}
        with chromium() as browser:
            page = browser.new_page()
            page.on("response", lambda r: polls.__setitem__(r.status, polls.get(r.status, 0) + 1)
                    if r.url.endswith("/api/state") else None)
            page.goto(hub.url + "/")
            page.get_by_role("article", name="Agent side-000").wait_for()
            end = time.monotonic() + 10
            while time.monotonic() < end:  # warm-up; the browser's event loop runs while we wait
                page.wait_for_timeout(500)
            polls.clear()
            beats[0] = 0
            busy, wall = measure(page, hub.proc.pid, seconds)
            sent, seen = beats[0], dict(polls)
            stop.set()
            thread.join(timeout=30)
            page.wait_for_timeout(3500)  # the last heartbeat's change is fetched once
            polls.clear()
            quiet, quiet_wall = measure(page, hub.proc.pid, seconds / 2)
        return {"cpu": busy / wall, "wall": wall, "beats": sent, "polls": seen, "quiet": quiet / quiet_wall,
                "quiet_wall": quiet_wall, "quiet_polls": dict(polls)}
    finally:
        stop.set()
        hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--beat", type=float, default=10.0, help="seconds between one sidecar's heartbeats")
    args = parser.parse_args()
    if missing():
        sys.exit(missing())
    with tempfile.TemporaryDirectory(prefix="agentcom-state-bench-") as tmp:
        base = Path(tmp)
        os.environ.update(scrub(base / "home"))
        r = latency(base, args.samples)
        c = r["counts"]
        print(f"GET /api/state, {sum(v for k, v in c.items() if k != 'rejected'):,} tasks "
              f"({c['queued']:,} queued, {c['working']} working, {c['dead']} dead) and 100 agents; "
              f"{args.samples} samples each; body {r['bytes']:,} bytes")
        print(f"  after a commit        {ms(r['commit'])}   target p99 < 50 ms: "
              f"{'met' if pct(r['commit'], 99) < 0.05 else 'MISSED'}")
        print(f"  after a heartbeat     {ms(r['changed'])}")
        print(f"  unchanged (cached)    {ms(r['unchanged'])}")
        print(f"  If-None-Match (304)   {ms(r['304'])}")
        i = idle_cpu(base, args.seconds, args.beat)
        print(f"Hub CPU while idle: 50 sidecar heartbeats every {args.beat:g} s each "
              f"({i['beats']} sent), the page open in Chromium polling every 3 s "
              f"({', '.join(f'{n}× {s}' for s, n in sorted(i['polls'].items()))})")
        print(f"  hub process           {i['cpu'] * 100:5.2f}% of one core over {i['wall']:.0f} s   target < 2%: "
              f"{'met' if i['cpu'] < 0.02 else 'MISSED'}")
        print(f"  page open, heartbeats stopped: {i['quiet'] * 100:4.2f}% of one core over {i['quiet_wall']:.0f} s "
              f"(polls: {', '.join(f'{n}× {s}' for s, n in sorted(i['quiet_polls'].items()))})")


if __name__ == "__main__":
    main()
