"""[pure] Who gets what: one scheduling pass that matches queued tasks to agents with room.

The caller passes the queue, the agents' free slots, `now`, the finished task ids and the tasks
in flight that hold files of a target (claims); nothing here reads a clock or the repo, so the same
input always gives the same assignments.
"""
from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from coordinator.core.layout import LANES
from coordinator.core.scope import overlaps

_LANE_INDEX = {lane: i for i, lane in enumerate(LANES)}


@dataclass(frozen=True, slots=True)
class QueuedTask:
    id: str
    lane: str
    queued_at: datetime
    needs: frozenset[str] = frozenset()
    pin: str | None = None
    depends_on: tuple[str, ...] = ()
    not_before: datetime | None = None
    claim: Claim | None = None             # its target and scope, when it has both


@dataclass(frozen=True, slots=True)
class Claim:
    """A task's hold on files of a target: its `repo` text, its `scope`, and its age."""
    id: str
    repo: str
    scope: tuple[str, ...]
    created_at: str                        # as stored: the hub's times sort as text
    rework: bool = False                   # back in the queue with a rework: in flight, not running


SERIALISE, FLAG, OFF = "serialise", "flag", "off"


def blockers(claim: Claim, others: Iterable[Claim]) -> list[str]:
    """The ids of the claims in flight that `claim` collides with, in id order.

    Every claim in flight whose scope overlaps counts, on the same target, but one: of two tasks
    both back in the queue with a rework, the newer (created_at, then id) waits for the older
    and not the other way round. A task that is merely queued holds nothing, so it never counts.
    """
    return sorted(o.id for o in others if _blocks(claim, o))


def _blocks(claim: Claim, other: Claim) -> bool:
    return (other.id != claim.id and other.repo == claim.repo
            and not (claim.rework and other.rework and (claim.created_at, claim.id) < (other.created_at, other.id))
            and overlaps(claim.scope, other.scope))


@dataclass(frozen=True, slots=True)
class AgentSlot:
    name: str
    capabilities: frozenset[str]
    free: int = 1                          # how many more tasks it may take now
    last_assigned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    task_id: str
    agent: str
    collides_with: tuple[str, ...] = ()    # tasks in flight its scope overlaps (collisions: flag)


def schedule(queue: Iterable[QueuedTask], agents: Iterable[AgentSlot], now: datetime, *,
             done: Collection[str] = frozenset(),
             promote_after: Mapping[str, int | None] | None = None,
             claims: Iterable[Claim] = (),
             collisions: Callable[[str], str] | None = None,
             hints: dict[str, str] | None = None) -> list[Assignment]:
    """Assign queued tasks to agents with free slots; returns the assignments in decision order.

    Order: tasks are considered by effective lane, then queued_at, then id. A task's effective
    lane is its lane's index in LANES minus floor(seconds waited / promote_after[lane]), never
    below 0 (urgent); a lane whose promote_after is missing, None or 0 never promotes. This aging
    is the anti-starvation rule: a low task that has waited long enough runs ahead of a stream of
    fresh urgent ones. A task queued "after" `now` (clock skew) counts as having waited 0 seconds.

    Eligibility: every id in depends_on is in `done`, and not_before is None or <= now.

    Matching: an agent can take a task when its capabilities include all of the task's needs and,
    if the task is pinned, it is the pinned agent. A pinned task waits for its agent and never
    holds back the tasks behind it. Of the agents that can take a task, the one assigned longest
    ago wins (never assigned counts as longest ago; a last_assigned_at after `now` counts as `now`),
    ties by name. An agent given a task counts as assigned at `now` for the rest of the pass and
    has one slot fewer; free <= 0 means no task.

    Each task id is assigned at most once, even if it appears in the queue twice: copies are tried
    in the order above, so a copy no agent can take does not stop a later one (copies that tie on
    effective lane and queued_at are tried in an order fixed by the input). The pass is greedy and
    work-conserving: when it ends, no eligible unassigned task could go to an agent with a slot
    left. Agent names must be unique, and a task in an unknown lane is refused; both ValueError.

    Collisions: `claims` are the tasks in flight (assigned, working, in review, and queued again
    with a rework) that have a repo and a scope, and `collisions(repo)` says what an overlap on
    that repo does (None: OFF everywhere). Under SERIALISE a task whose claim meets `blockers`
    waits, as if after them, and does not hold back the tasks behind it; under FLAG it is
    assigned with them in collides_with; under OFF nothing is looked at. A task assigned in the
    pass is in flight for the rest of it, so of two overlapping ready tasks the first in the
    order above runs and the other waits. Only tasks an agent could take are checked, each
    against the claims on its own repo. `hints` is a memo the caller keeps from pass to pass
    (task id → the claim that held it last), updated here: a task still waiting costs one
    comparison instead of a walk over the claims. It never changes what is assigned.

    `promote_after` is {lane: seconds}, e.g. from config: {n: l.promote_after for n, l in lanes.items()}.
    Cost: one cheap pass over the queue, then mostly work per assignment. Tasks are bucketed by
    who can run them (needs set, or pin); a bucket that no agent with room can run is dropped
    whole, and a lane of a bucket is only sorted once the pass goes past its first task.
    """
    done = done if isinstance(done, (set, frozenset)) else frozenset(done)
    pool = _Pool(agents, now)
    steps = {lane: timedelta(seconds=s) for lane, s in (promote_after or {}).items() if s and s > 0}
    groups: dict[tuple, list[QueuedTask]] = {}
    for task in queue:
        if (task.depends_on and not done.issuperset(task.depends_on)) or \
                (task.not_before is not None and task.not_before > now):
            _lane_index(task)  # refuse a bad lane even on a task that is not ready
            continue
        try:
            groups[task.lane, task.needs, task.pin].append(task)
        except KeyError:
            groups[task.lane, task.needs, task.pin] = [task]

    heap: list[tuple] = []
    for tasks in groups.values():
        bucket = pool.bucket(tasks[0].needs, tasks[0].pin)
        lane = _lane_index(tasks[0])
        if not bucket.dead:  # else nobody with room can run these: never look at them again
            run = _Run(bucket, tasks, lane, steps.get(tasks[0].lane), now)
            heap.append((*run.key(), len(heap), run))
    heapq.heapify(heap)

    flight = _Flight(claims, collisions, hints if hints is not None else {})
    assigned: dict[str, str] = {}
    collided: dict[str, tuple[str, ...]] = {}
    while heap and pool.room:
        run = heap[0][-1]
        if run.bucket.dead:
            heapq.heappop(heap)
            continue
        head = run.head
        if head.id not in assigned:
            held, hits = flight.check(head.claim)
            if not held:
                agent = pool.take(run.bucket)
                if agent is None:
                    run.bucket.dead = True  # agents only lose room during a pass, so this is final
                    continue
                assigned[head.id] = agent
                flight.take(head.claim)
                if hits:
                    collided[head.id] = hits
        if run.advance():
            heapq.heapreplace(heap, (*run.key(), heap[0][-2], run))
        else:
            heapq.heappop(heap)
    return [Assignment(task_id, agent, collided.get(task_id, ())) for task_id, agent in assigned.items()]


class _Flight:
    """The claims in flight, by repo, for the repos where collisions matter."""

    def __init__(self, claims: Iterable[Claim], mode: Callable[[str], str] | None, hints: dict[str, str]):
        self.mode, self.hints = mode, hints
        self.modes: dict[str, str] = {}
        self.by_repo: dict[str, dict[str, Claim]] = {}
        self.held_by: dict[tuple, Claim] = {}  # (repo, scope) → a claim that held a task of that scope
        if mode is not None:
            for claim in claims:
                if self._mode(claim.repo) != OFF:
                    self.by_repo.setdefault(claim.repo, {})[claim.id] = claim

    def _mode(self, repo: str) -> str:
        found = self.modes.get(repo)
        if found is None:
            found = self.modes[repo] = self.mode(repo) if self.mode is not None else OFF
        return found

    def check(self, claim: Claim | None) -> tuple[bool, tuple[str, ...]]:
        """(whether the task waits, the claims it collides with if assigned anyway). Under
        SERIALISE it stops at the first claim that holds it: a waiting task is checked every pass."""
        if claim is None or self.mode is None:
            return False, ()
        mode = self._mode(claim.repo)
        others = self.by_repo.get(claim.repo)
        if mode == OFF or not others:
            return False, ()
        if mode == SERIALISE:
            # a task tends to wait on the claim that held it last pass, and tasks of one scope on
            # the same claim: try those first
            for last in (others.get(self.hints.get(claim.id, "")), self.held_by.get((claim.repo, claim.scope))):
                if last is not None and _blocks(claim, last):
                    self.hints[claim.id] = last.id
                    return True, ()
            found = next((o for o in others.values() if _blocks(claim, o)), None)
            if found is None:
                self.hints.pop(claim.id, None)
                return False, ()
            self.held_by[claim.repo, claim.scope] = found
            self.hints[claim.id] = found.id
            return True, ()
        return False, tuple(blockers(claim, others.values()))

    def take(self, claim: Claim | None) -> None:
        """The task is assigned: it holds its files for the rest of the pass."""
        if claim is not None and self.mode is not None and self._mode(claim.repo) != OFF:
            self.by_repo.setdefault(claim.repo, {})[claim.id] = Claim(claim.id, claim.repo, claim.scope,
                                                                      claim.created_at)


def _lane_index(task: QueuedTask) -> int:
    try:
        return _LANE_INDEX[task.lane]
    except KeyError:
        raise ValueError(f"task {task.id}: unknown lane {task.lane!r}; "
                         f"lanes are {', '.join(LANES)}") from None


@dataclass(slots=True)
class _Bucket:
    """What runs a group of tasks: one needs set and one pin (or none); shared by their lanes."""

    needs: frozenset[str]
    pin: str | None
    dead: bool = False                 # no agent with room can run these any more
    heap: list | None = None           # unpinned: (agent key, version, agent) of qualifying agents


class _Run:
    """The ready tasks of one lane and one bucket, taken in (queued_at, id) order.

    Inside a lane, waiting longer only ever promotes, so (queued_at, id) order is also
    (effective lane, queued_at, id) order, and runs can be merged by their heads alone.
    A pass usually takes a few tasks out of thousands, so a run finds its head with one scan,
    sorts only when a pass goes past that head, and orders equal queued_at by id only on reaching
    them. Nothing made per task outlives the scan that made it, which keeps the garbage collector
    out of the pass.
    """

    __slots__ = ("bucket", "tasks", "pos", "head", "lane", "step", "now", "sorted", "settled")

    def __init__(self, bucket: _Bucket, tasks: list[QueuedTask], lane: int, step: timedelta | None,
                 now: datetime):
        self.bucket, self.tasks, self.lane, self.step, self.now = bucket, tasks, lane, step, now
        self.pos, self.sorted, self.settled = 0, False, 0
        times = [t.queued_at for t in tasks]
        first = min(times)
        if times.count(first) == 1:
            self.head = tasks[times.index(first)]
        else:
            self.head = min((t for t in tasks if t.queued_at == first), key=_task_id)

    def key(self) -> tuple:
        head, lane = self.head, self.lane
        if self.step is not None and lane and head.queued_at < self.now:
            lane = max(0, lane - (self.now - head.queued_at) // self.step)
        return lane, head.queued_at, head.id

    def advance(self) -> bool:
        """Move past the head; False when the run is used up."""
        tasks = self.tasks
        if not self.sorted:
            tasks.sort(key=_queued_at)
            self.sorted = True
            self._settle()  # now tasks[0] is the head already taken
        self.pos += 1
        if self.pos == len(tasks):
            return False
        self._settle()
        self.head = tasks[self.pos]
        return True

    def _settle(self) -> None:
        """Put the tasks queued at the same moment as tasks[pos] in id order, once per moment."""
        tasks, pos = self.tasks, self.pos
        if pos < self.settled:
            return
        moment, end = tasks[pos].queued_at, pos + 1
        while end < len(tasks) and tasks[end].queued_at == moment:
            end += 1
        if end - pos > 1:
            tasks[pos:end] = sorted(tasks[pos:end], key=_task_id)
        self.settled = end


def _queued_at(task: QueuedTask) -> datetime:
    return task.queued_at


def _task_id(task: QueuedTask) -> str:
    return task.id


class _Agent:
    __slots__ = ("name", "capabilities", "free", "key", "version")

    def __init__(self, slot: AgentSlot, now: datetime):
        self.name, self.capabilities, self.free = slot.name, frozenset(slot.capabilities), slot.free
        stamp = slot.last_assigned_at
        # clamped to now, so taking a task never moves an agent up: heaps may then update lazily
        self.key = (0, slot.name) if stamp is None else (1, min(stamp, now), slot.name)
        self.version = 0


class _Pool:
    """Agents with room, and for each needs set a heap of the agents that qualify.

    A heap entry is (key, version, agent); one whose version is old is re-keyed when it reaches
    the top, which is right because an agent's key never decreases during a pass.
    """

    def __init__(self, slots: Iterable[AgentSlot], now: datetime):
        self.now = now
        self.agents: dict[str, _Agent] = {}
        for slot in slots:
            if slot.name in self.agents:
                raise ValueError(f"agent {slot.name!r} appears twice; agent names must be unique")
            self.agents[slot.name] = _Agent(slot, now)
        self.free = [a for a in self.agents.values() if a.free > 0]
        self.room = sum(a.free for a in self.free)
        self.free_capabilities = {a.capabilities for a in self.free}
        self.buckets: dict[tuple, _Bucket] = {}

    def bucket(self, needs: frozenset[str], pin: str | None) -> _Bucket:
        """The one _Bucket for (needs, pin), marked dead at once if nobody with room could run it."""
        found = self.buckets.get((needs, pin))
        if found is None:
            found = self.buckets[needs, pin] = _Bucket(needs, pin)
            if pin is None:
                found.dead = not any(needs <= c for c in self.free_capabilities)
            else:
                agent = self.agents.get(pin)
                found.dead = agent is None or agent.free <= 0 or not needs <= agent.capabilities
        return found

    def take(self, bucket: _Bucket) -> str | None:
        """The agent that runs the bucket's next task, charged one slot; None if nobody can."""
        if bucket.pin is not None:
            agent = self.agents.get(bucket.pin)
            if agent is None or agent.free <= 0 or not bucket.needs <= agent.capabilities:
                return None
        else:
            if bucket.heap is None:
                bucket.heap = self._heap_for(bucket.needs)
            heap = bucket.heap
            while heap:
                agent = heap[0][2]
                if agent.free <= 0:
                    heapq.heappop(heap)
                elif heap[0][1] != agent.version:
                    # assigned since this entry was made: its key only grew, so it belongs lower
                    heapq.heapreplace(heap, (agent.key, agent.version, agent))
                else:
                    break
            else:
                return None
        agent.free -= 1
        self.room -= 1
        agent.key, agent.version = (1, self.now, agent.name), agent.version + 1
        return agent.name

    def _heap_for(self, needs: frozenset[str]) -> list:
        heap = []
        for agent in self.free:
            if agent.free > 0 and needs <= agent.capabilities:
                heap.append((agent.key, agent.version, agent))
        heapq.heapify(heap)
        return heap
