"""Time to assignment: a pushed task reaching an agent, and the hub's scheduling pass at 10,000 queued.

Part 1, end to end, through real processes. Starts `agentcom.py hub` on a new coordination repo
(127.0.0.1, a free port), registers agents over HTTP and brings them online with a heartbeat,
then from a clone commits one task file into queue/normal/ and runs `git push`, one sample at a
time. For each sample it measures
  (a) the `git push` wall time (the pre-receive check and the post-receive notice included),
  (b) from the push returning to `main` holding the assignment commit (the task file under
      assigned/AGENT/), and
  (c) the two together: push started → task assigned on main.
(b) is seen by reading `main` straight from the bare repo, in this process, every 0.5 ms: no
child process and no request to the hub, and no lock the hub ever takes. (Polling GET /api/status
would take the hub's state lock and make it build the whole status on every poll.) Between
samples, untimed, the agent that got the task reports accepted then done, with the attempt from
GET /api/agents/NAME/assignments, so every agent is free again; the clone pulls the hub's
commits; and agents heartbeat every 10 s (the timeout is 90 s), never during a sample.

Part 2, in this process. Builds a repo holding 10,000 queued tasks (spread over the four lanes,
with needs drawn from a few capability sets) and 200 registered, online agents of one slot
each, opens a Hub on it with a fixed clock, and times `Hub._schedule()`, the pass the hub runs
after every batch: free slots and the queue built from the in-memory view, the `schedule()`
decision, then one commit staged per assignment. The pass is timed in three parts by wrapping
`schedule()`. Three pools:
  all-free   every agent idle: the pass assigns up to 200 tasks; after each run the staged
             commits and view changes are rolled back (what the hub does when a push races a
             batch), so every run starts from the same state;
  one-free   every agent holds one task but one, which just finished: the pass assigns one task
             (rolled back the same way);
  none-free  every agent holds a task: the pass must see there is no room.
The first all-free run also builds the scheduler's cache of each queued task (parsed times and
sets, kept on the view's records); it is printed apart. "decision" is the view walk plus
`schedule()`; "commits" is staging the assignments (a tree edit and a commit object each, not
yet published).

    .venv/bin/python bench/assign_bench.py [--samples 100] [--agents 1] [--runs 15]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pygit2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordinator.core.agent import Agent, AgentState, dump_agent
from coordinator.core.layout import LANES, State, location
from coordinator.core.task import Defaults, dump, intake
from coordinator.hub import fleet as fleet_module
from coordinator.hub.batch import Batch
from coordinator.hub.hub import Hub
from coordinator.repo.gitrepo import BLOB, GitRepo
from coordinator.repo.repoinit import init_repo
from coordinator.wire.times import format_time

MAIN = "refs/heads/main"
POLL = 0.0005          # seconds between looks at main
SAMPLE_TIMEOUT = 10.0  # a sample not assigned by then fails the run
BEAT_EVERY = 10.0      # seconds between heartbeats (untimed, between samples)
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
NEEDS = [[], [], ["python"], ["python", "git"], ["node"]]
CAPABILITIES = [["python", "git"], ["node", "git"], ["python", "node", "git"]]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(values: list[float]) -> str:
    return f"p50 {pct(values, .5) * 1000:7.2f} ms   p99 {pct(values, .99) * 1000:7.2f} ms"


# --- part 1: push → assigned, through a real hub process ------------------------------------

def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Api:
    def __init__(self, url: str):
        self.url = url
        self.open = urllib.request.build_opener(urllib.request.ProxyHandler({})).open  # straight to 127.0.0.1

    def call(self, method: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with self.open(req, timeout=30) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise SystemExit(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}") from None


def start_hub(repo: Path) -> tuple[subprocess.Popen, str]:
    hub = subprocess.Popen([sys.executable, str(ROOT / "agentcom.py"), "hub", "--repo", str(repo),
                            "--host", "127.0.0.1", "--port", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = hub.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(r"running at (http://127\.0\.0\.1:\d+)", line)
        if found:
            return hub, found.group(1)
    stop_hub(hub)
    raise SystemExit("hub did not start:\n" + "".join(seen))


def stop_hub(hub: subprocess.Popen) -> None:
    if hub.poll() is None:
        hub.terminate()
    try:
        hub.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        hub.kill()
        hub.communicate(timeout=30)


def assigned_to(bare: pygit2.Repository, task_id: str, agents: list[str]) -> str | None:
    """The agent main shows `task_id` assigned to, read from the bare repo; None if not yet."""
    tree = bare.references[MAIN].peel(pygit2.Commit).tree
    for name in agents:
        try:
            tree[f"assigned/{name}/{task_id}.yaml"]
            return name
        except KeyError:
            pass
    return None


def push_to_assigned(work: Path, samples: int, agent_count: int) -> dict:
    repo, _ = init_repo(work / "hub.git")
    operator = (repo / "agentcom" / "operator.token").read_text().strip()
    hub, url = start_hub(repo)
    try:
        api = Api(url)
        tokens = {}
        for i in range(agent_count):
            name = f"agent-{i}"
            tokens[name] = api.call("POST", "/api/agents", operator, {"name": name, "slots": 1})["token"]
        names = list(tokens)

        def beat() -> float:
            for name in names:
                api.call("POST", f"/api/agents/{name}/heartbeat", tokens[name], {})
            return time.monotonic()

        last_beat = beat()
        states = {a["name"]: a["state"] for a in api.call("GET", "/api/agents")["agents"]}
        if set(states.values()) != {"idle"}:
            raise SystemExit(f"agents are not online and idle: {states}")
        clone = work / "clone"
        git(work, "clone", "-q", str(repo), str(clone))
        bare = pygit2.Repository(str(repo))
        push, pickup, total, winners = [], [], [], {}
        for i in range(samples):
            if time.monotonic() - last_beat > BEAT_EVERY:
                last_beat = beat()
            task_id = f"bench-{i:04d}"
            (clone / "queue" / "normal" / f"{task_id}.yaml").write_text(f"id: {task_id}\nprompt: bench task {i}\n")
            git(clone, "add", "-A")
            git(clone, "commit", "-q", "-m", f"task {i}")
            t0 = time.perf_counter()
            git(clone, "push", "-q")
            t1 = time.perf_counter()
            agent = assigned_to(bare, task_id, names)
            while agent is None:
                if time.perf_counter() - t1 > SAMPLE_TIMEOUT:
                    raise SystemExit(f"{task_id} was not assigned within {SAMPLE_TIMEOUT:.0f} s")
                time.sleep(POLL)
                agent = assigned_to(bare, task_id, names)
            t2 = time.perf_counter()
            push.append(t1 - t0)
            pickup.append(t2 - t1)
            total.append(t2 - t0)
            winners[agent] = winners.get(agent, 0) + 1
            held = api.call("GET", f"/api/agents/{agent}/assignments", tokens[agent])["assignments"]
            attempt = next(a["attempt"] for a in held if a["id"] == task_id)
            for body in ({"kind": "accepted", "attempt": attempt},
                         {"kind": "done", "attempt": attempt, "summary": "ok"}):
                api.call("POST", f"/api/tasks/{task_id}/report", tokens[agent], body)
            git(clone, "pull", "-q", "--rebase")
        bare.free()
        counts = api.call("GET", "/api/status")["counts"]
    finally:
        stop_hub(hub)
    return {"push": push, "pickup": pickup, "total": total, "winners": winners, "counts": counts}


# --- part 2: one scheduling pass inside the hub, 10,000 queued, 200 agents ------------------

def build(path: Path, queued: int, agents: int, rng: random.Random) -> None:
    """A coordination repo holding `queued` queued tasks and `agents` idle agents, in one commit."""
    init_repo(path)
    git_repo = GitRepo(path)
    edits = {}
    for i in range(queued):
        now = START - timedelta(hours=2) + timedelta(milliseconds=i * 500)
        doc = {"prompt": f"queued task {i}", "id": f"q{i:07d}", "priority": LANES[i % 4]}
        needs = rng.choice(NEEDS)
        if needs:
            doc["needs"] = needs
        task = intake(doc, "bench", lane=None, now=now, task_id="", defaults=Defaults(), source="bench")
        edits[location(State.QUEUED, task["id"], lane=task["priority"]).path] = (git_repo.write_blob(dump(task)), BLOB)
    stamp = format_time(START - timedelta(hours=3))
    for i in range(agents):
        agent = Agent(f"agent-{i:03d}", tuple(rng.choice(CAPABILITIES)), 1, "", AgentState.IDLE,
                      stamp, "heartbeat: online", stamp)
        edits[agent.path] = (git_repo.write_blob(dump_agent(agent)), BLOB)
    head = git_repo.head()
    tree = git_repo.edit_tree(git_repo.tree_of(head), edits)
    git_repo.advance(git_repo.commit(tree, head, "bench: preload\n\nReason: benchmark data\n"), head)
    git_repo.close()


class Timed:
    """Wraps the hub's schedule() to split a pass into view walk, decision and commits."""

    def __init__(self):
        self.real = fleet_module.schedule
        self.called = self.returned = None
        self.assigned = 0

    def __call__(self, *args, **kwargs):
        self.called = time.perf_counter()
        result = self.real(*args, **kwargs)
        self.returned = time.perf_counter()
        self.assigned = len(result)
        return result

    def run(self, hub: Hub, rollback: bool) -> dict:
        """One timed pass in a batch of its own; with rollback, the staged commits and view
        changes are undone after (the batch then publishes nothing)."""
        def timed(batch: Batch) -> tuple[float, float]:
            mark = hub.journal.savepoint()
            self.called = self.returned = None
            self.assigned = 0
            t0 = time.perf_counter()
            hub.fleet._schedule()
            t1 = time.perf_counter()
            if rollback:
                hub.journal.rewind(mark)
                hub.fleet.activity.clear()
            return t0, t1

        t0, t1 = hub.call(timed)
        if self.called is None:  # returned before deciding: nothing to hand out
            return {"walk": t1 - t0, "decide": 0.0, "commits": 0.0, "total": t1 - t0, "assigned": 0}
        return {"walk": self.called - t0, "decide": self.returned - self.called,
                "commits": t1 - self.returned, "total": t1 - t0, "assigned": self.assigned}


def scheduling_pass(work: Path, queued: int, agents: int, runs: int) -> dict:
    path = work / "sched.git"
    t = time.perf_counter()
    build(path, queued, agents, random.Random(1))
    built = time.perf_counter() - t
    clock = START
    t = time.perf_counter()
    hub = Hub(path, clock=lambda: clock, fleet=False)  # the loop is driven by hand below
    opened = time.perf_counter() - t
    timer = Timed()
    fleet_module.schedule = timer
    out = {"built_s": built, "opened_s": opened}
    try:
        assert len(hub.view.queued) == queued and len(hub.view.agents) == agents
        out["cold"] = timer.run(hub, rollback=True)
        gc.collect()
        out["all-free"] = [timer.run(hub, rollback=True) for _ in range(runs)]
        # every agent takes a task for good, then one finishes it: one free slot
        kept = timer.run(hub, rollback=False)
        assert kept["assigned"] == min(agents, queued)
        busy = sorted(hub.view.held)
        one = next(iter(hub.view.held[busy[0]]))
        hub.call(Batch.transition, one, State.WORKING, agent=busy[0], reason="bench")
        hub.call(Batch.transition, one, State.DONE, agent=busy[0], reason="bench")
        gc.collect()
        out["one-free"] = [timer.run(hub, rollback=True) for _ in range(runs * 4)]
        timer.run(hub, rollback=False)  # that agent takes the next task: now nobody has room
        assert sum(len(v) for v in hub.view.held.values()) == agents
        out["none-free"] = [timer.run(hub, rollback=True) for _ in range(runs * 4)]
        # what else runs per batch or per loop turn at this size (the sweep, and wake_in)
        sweep, wake = [], []
        def swept(batch: Batch) -> float:
            mark = hub.journal.savepoint()
            t = time.perf_counter()
            hub.fleet._sweep()
            took = time.perf_counter() - t
            hub.journal.rewind(mark)
            return took

        for _ in range(runs * 4):
            sweep.append(hub.call(swept))
            t = time.perf_counter()
            hub.wake_in()
            wake.append(time.perf_counter() - t)
        out["sweep"], out["wake_in"] = sweep, wake
    finally:
        fleet_module.schedule = timer.real
        hub.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100, help="pushed tasks in part 1")
    parser.add_argument("--agents", type=int, default=1, help="agents in part 1")
    parser.add_argument("--queued", type=int, default=10000, help="queued tasks in part 2")
    parser.add_argument("--fleet", type=int, default=200, help="agents in part 2")
    parser.add_argument("--runs", type=int, default=15,
                        help="timed all-free passes in part 2 (the cheaper pools run 4x as many)")
    args = parser.parse_args()
    wall = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="agentcom-assign-bench-"))
    (work / "gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n[gc]\n\tauto = 0\n")
    os.environ.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(work / "gitconfig")})
    try:
        e2e = push_to_assigned(work, args.samples, args.agents)
        sched = scheduling_pass(work, args.queued, args.fleet, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"push → assigned, {args.samples} pushes of one task file into queue/normal/, "
          f"{args.agents} agent(s) online and free")
    print(f"  (a) git push (pre-receive check included)     {ms(e2e['push'])}")
    print(f"  (b) push returned → assignment on main        {ms(e2e['pickup'])}")
    print(f"  (c) push started → assignment on main (a+b)   {ms(e2e['total'])}   target p50 < 100 ms")
    print(f"      tasks per agent {dict(sorted(e2e['winners'].items()))}; "
          f"at the end {e2e['counts']['done']} done, {e2e['counts']['queued']} queued")
    print()
    print(f"Hub._schedule(), {args.queued:,} queued tasks, {args.fleet} agents of one slot "
          f"(repo built in {sched['built_s']:.1f} s, hub opened in {sched['opened_s']:.1f} s)")
    print(f"{'pool':<10} {'runs':>4} {'assigned':>8}  {'decision p50/p99 ms':>19}  {'of which schedule()':>19}  "
          f"{'commits p50/p99 ms':>18}  {'whole pass p50/p99 ms':>21}")

    def row(label: str, rs: list[dict]) -> None:
        decision = [r["walk"] + r["decide"] for r in rs]
        decide = [r["decide"] for r in rs]
        commits = [r["commits"] for r in rs]
        whole = [r["total"] for r in rs]
        f = lambda v: f"{pct(v, .5) * 1000:8.2f}/{pct(v, .99) * 1000:<8.2f}"  # noqa: E731
        print(f"{label:<10} {len(rs):>4} {rs[0]['assigned']:>8}  {f(decision):>19}  {f(decide):>19}  "
              f"{f(commits):>18}  {f(whole):>21}".rstrip())

    row("cold", [sched["cold"]])
    row("all-free", sched["all-free"])
    row("one-free", sched["one-free"])
    row("none-free", sched["none-free"])
    print("  target: a decision in under 10 ms")
    print(f"  also run at this size: _sweep() (every batch)       {ms(sched['sweep'])}")
    print(f"                         wake_in() (every loop turn)  {ms(sched['wake_in'])}")
    print(f"total benchmark time {time.perf_counter() - wall:.0f} s")


if __name__ == "__main__":
    main()
