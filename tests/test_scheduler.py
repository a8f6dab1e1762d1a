"""The scheduler: lane order with aging, dependencies, capabilities, pins, fair spreading, and the
properties every pass must keep (checked against a plain reference implementation too)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.core.layout import LANES
from coordinator.core.scheduler import AgentSlot, Assignment, QueuedTask, schedule

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOUR = 3600


def task(task_id: str, lane: str = "normal", age: float = 0, **fields) -> QueuedTask:
    return QueuedTask(task_id, lane, NOW - timedelta(seconds=age), **fields)


def agent(name: str, *capabilities: str, free: int = 1, idle: float | None = None) -> AgentSlot:
    """An agent last assigned `idle` seconds ago (never, if None)."""
    last = None if idle is None else NOW - timedelta(seconds=idle)
    return AgentSlot(name, frozenset(capabilities), free, last)


def pairs(queue, agents, now=NOW, **kw) -> list[tuple[str, str]]:
    return [(a.task_id, a.agent) for a in schedule(queue, agents, now, **kw)]


# --- order -------------------------------------------------------------------------------------

def test_more_urgent_lanes_run_first_whatever_the_queue_order():
    queue = [task("l", "low", age=50), task("n", "normal", age=40), task("u", "urgent"), task("h", "high", age=9)]
    assert [t for t, _ in pairs(queue, [agent("ada", free=4)])] == ["u", "h", "n", "l"]
    assert pairs(queue, [agent("ada")]) == [("u", "ada")]


def test_inside_a_lane_the_first_queued_runs_first_and_ids_break_ties():
    queue = [task("c", age=5), task("b", age=10), task("z", age=5), task("a", age=5), task("y", age=1)]
    assert [t for t, _ in pairs(queue, [agent("ada", free=9)])] == ["b", "a", "c", "z", "y"]


def test_lanes_without_promote_after_never_promote():
    queue = [task("old-low", "low", age=1000 * HOUR), task("new-urgent", "urgent")]
    for promote_after in (None, {}, {"low": None}, {"low": 0}):
        assert pairs(queue, [agent("ada")], promote_after=promote_after) == [("new-urgent", "ada")]


def test_a_low_task_moves_up_one_lane_per_promote_after_waited():
    urgent_stream = [task(f"u{i}", "urgent", age=i) for i in range(5)]
    promote_after = {"low": HOUR}
    almost = [task("low", "low", age=3 * HOUR - 1), *urgent_stream]
    assert pairs(almost, [agent("ada")], promote_after=promote_after) == [("u4", "ada")]
    aged = [task("low", "low", age=3 * HOUR), *urgent_stream]
    assert pairs(aged, [agent("ada")], promote_after=promote_after) == [("low", "ada")]


def test_promotion_stops_at_urgent_where_age_alone_decides():
    queue = [task("low", "low", age=100 * HOUR), task("older-urgent", "urgent", age=101 * HOUR)]
    assert pairs(queue, [agent("ada")], promote_after={"low": HOUR}) == [("older-urgent", "ada")]


def test_an_endless_stream_of_fresh_urgent_work_cannot_starve_a_low_task():
    def passes(promote_after):
        queue, ran = [task("low", "low")], []
        for n in range(40):  # every ten minutes a new urgent task arrives and one agent frees up
            now = NOW + timedelta(minutes=10 * n)
            queue.append(QueuedTask(f"u{n}", "urgent", now))
            started = [task_id for task_id, _ in pairs(queue, [agent("ada")], now=now, promote_after=promote_after)]
            ran += started
            queue = [t for t in queue if t.id not in started]
        return ran

    assert "low" not in passes(None)
    assert passes({"low": HOUR}).index("low") == 18  # three hours of waiting: promoted to urgent


def test_a_task_queued_after_now_counts_as_just_queued_neither_promoted_nor_demoted():
    queue = [task("future", "high", age=-HOUR), task("normal", "normal", age=HOUR)]
    assert pairs(queue, [agent("ada")], promote_after={"high": 60}) == [("future", "ada")]


# --- eligibility -------------------------------------------------------------------------------

def test_a_task_waits_until_every_dependency_is_done():
    queue = [task("after", age=9, depends_on=("a", "b")), task("free")]
    assert pairs(queue, [agent("ada")], done={"a"}) == [("free", "ada")]
    assert pairs(queue, [agent("ada")], done=["a", "b"]) == [("after", "ada")]


def test_a_task_waits_for_its_not_before_time_and_runs_at_it():
    queue = [task("later", age=9, not_before=NOW + timedelta(microseconds=1)), task("free")]
    assert pairs(queue, [agent("ada")]) == [("free", "ada")]
    assert pairs(queue, [agent("ada")], now=NOW + timedelta(microseconds=1)) == [("later", "ada")]


# --- matching ----------------------------------------------------------------------------------

def test_a_task_goes_only_to_an_agent_with_all_its_needs():
    queue = [task("gpu", age=9, needs=frozenset({"python", "gpu"})), task("plain")]
    agents = [agent("ada", "python", idle=None), agent("bob", "python", "gpu", "git", idle=HOUR)]
    assert pairs(queue, agents) == [("gpu", "bob"), ("plain", "ada")]
    assert pairs(queue, agents[:1]) == [("plain", "ada")]


def test_a_pinned_task_waits_for_its_busy_agent_without_blocking_the_tasks_behind_it():
    queue = [task("pinned", "urgent", age=99, pin="bob"), task("next", "low")]
    assert pairs(queue, [agent("ada"), agent("bob", free=0)]) == [("next", "ada")]
    assert pairs(queue, [agent("ada")]) == [("next", "ada")]


def test_a_pinned_task_goes_to_its_agent_even_when_another_has_waited_longer():
    queue = [task("pinned", age=9, pin="bob"), task("other")]
    assert pairs(queue, [agent("ada"), agent("bob", idle=1)]) == [("pinned", "bob"), ("other", "ada")]


def test_a_pinned_task_whose_agent_lacks_its_needs_waits():
    queue = [task("pinned", pin="bob", needs=frozenset({"gpu"}))]
    assert pairs(queue, [agent("bob")]) == []


def test_an_agent_last_assigned_after_now_counts_as_assigned_now():
    agents = [agent("ada", idle=-HOUR), agent("bob", idle=-60), agent("cy", idle=0)]
    queue = [task(f"t{i}", age=10 - i) for i in range(3)]
    assert pairs(queue, agents) == [("t0", "ada"), ("t1", "bob"), ("t2", "cy")]


def test_work_goes_to_the_agent_assigned_longest_ago_never_assigned_first_then_by_name():
    agents = [agent("ada", idle=10), agent("dee"), agent("cy", idle=100), agent("bob")]
    queue = [task(f"t{i}", age=10 - i) for i in range(4)]
    assert pairs(queue, agents) == [("t0", "bob"), ("t1", "dee"), ("t2", "cy"), ("t3", "ada")]


def test_an_agent_given_a_task_goes_behind_the_others_for_the_rest_of_the_pass():
    queue = [task(f"t{i}", age=10 - i) for i in range(4)]
    assert pairs(queue, [agent("bob", free=2), agent("ada", free=2)]) == \
        [("t0", "ada"), ("t1", "bob"), ("t2", "ada"), ("t3", "bob")]


def test_an_agent_with_several_free_slots_takes_that_many_tasks_and_no_more():
    queue = [task(f"t{i}", age=10 - i) for i in range(5)]
    assert pairs(queue, [agent("ada", free=3), agent("bob")]) == \
        [("t0", "ada"), ("t1", "bob"), ("t2", "ada"), ("t3", "ada")]


def test_agents_without_free_slots_get_nothing():
    assert pairs([task("t")], [agent("ada", free=0), agent("bob", free=-2)]) == []


def test_a_task_listed_twice_is_assigned_once():
    queue = [task("t", "low"), task("t", "urgent"), task("t", "urgent")]
    assert pairs(queue, [agent("ada"), agent("bob")]) == [("t", "ada")]


def test_a_copy_that_no_agent_can_take_does_not_stop_another_copy_of_the_same_task():
    queue = [task("t", "urgent", needs=frozenset({"gpu"})), task("t", "low")]
    assert pairs(queue, [agent("ada")]) == [("t", "ada")]


def test_assignments_are_data_in_decision_order():
    assert schedule([task("b", "low"), task("a", "urgent")], [agent("ada", free=2)], NOW) == \
        [Assignment("a", "ada"), Assignment("b", "ada")]


def test_an_unknown_lane_or_a_repeated_agent_name_is_refused():
    with pytest.raises(ValueError, match="task t: unknown lane 'asap'; lanes are urgent, high, normal, low"):
        schedule([task("t", "asap")], [agent("ada")], NOW)
    with pytest.raises(ValueError, match="unknown lane"):
        schedule([task("t", "asap", depends_on=("never",))], [agent("ada")], NOW)
    with pytest.raises(ValueError, match="agent 'ada' appears twice"):
        schedule([task("t")], [agent("ada"), agent("ada")], NOW)


def test_a_long_queue_with_nothing_runnable_yields_nothing():
    queue = [task(f"t{i:05d}", LANES[i % 4], age=i, needs=frozenset({"gpu"})) for i in range(5000)]
    assert pairs(queue, [agent("ada", "python", free=5)]) == []


# --- properties --------------------------------------------------------------------------------

IDS = [f"t{i}" for i in range(10)]
NAMES = ["ada", "bob", "cy", "dee", "eve"]
_caps = st.frozensets(st.sampled_from(["py", "git", "gpu"]))
_ago = st.integers(-HOUR, 30 * HOUR).map(lambda s: NOW - timedelta(seconds=s))
_few_moments = st.sampled_from([-1, 0, 59, 60, HOUR, 3 * HOUR]).map(lambda s: NOW - timedelta(seconds=s))
_tasks = st.builds(
    QueuedTask, id=st.sampled_from(IDS), lane=st.sampled_from(LANES), queued_at=_ago, needs=_caps,
    pin=st.none() | st.sampled_from([*NAMES, "ghost"]),
    depends_on=st.lists(st.sampled_from([*IDS, "x"]), max_size=2, unique=True).map(tuple),
    not_before=st.none() | st.integers(-600, 600).map(lambda s: NOW + timedelta(seconds=s)))
_agents = st.lists(st.builds(AgentSlot, name=st.sampled_from(NAMES), capabilities=_caps,
                             free=st.integers(-1, 3), last_assigned_at=st.none() | _ago),
                   max_size=5, unique_by=lambda a: a.name)
_promote = st.none() | st.dictionaries(st.sampled_from(LANES), st.none() | st.sampled_from([0, 1, 60, HOUR]))
_done = st.frozensets(st.sampled_from([*IDS, "x"]))
_queue = st.lists(_tasks, max_size=30)


def _eligible(t: QueuedTask, done) -> bool:
    return set(t.depends_on) <= done and (t.not_before is None or t.not_before <= NOW)


def _fits(t: QueuedTask, a: AgentSlot) -> bool:
    return t.needs <= a.capabilities and t.pin in (None, a.name)


def reference(queue, agents, now, done, promote_after):
    """The contract written the slow, obvious way: sort everything, scan every agent."""
    def rank(t):
        lane, step = LANES.index(t.lane), (promote_after or {}).get(t.lane)
        waited_us = max(0, (now - t.queued_at) // timedelta(microseconds=1))
        return max(0, lane - waited_us // (step * 10**6)) if step else lane

    free = {a.name: a.free for a in agents}
    last = {a.name: a.last_assigned_at and min(a.last_assigned_at, now) for a in agents}
    result, taken = [], set()
    for t in sorted(queue, key=lambda t: (rank(t), t.queued_at, t.id)):
        if t.id in taken or not _eligible(t, done):
            continue
        able = [a.name for a in agents if free[a.name] > 0 and _fits(t, a)]
        if able:
            best = min(able, key=lambda n: (last[n] is not None, last[n] or now, n))
            result.append(Assignment(t.id, best))
            taken.add(t.id)
            free[best] -= 1
            last[best] = now
    return result


@given(_queue, _agents, _done, _promote)
def test_no_task_twice_no_agent_over_its_slots_and_every_assignment_allowed(queue, agents, done, promote):
    got = schedule(queue, agents, NOW, done=done, promote_after=promote)
    assert len({a.task_id for a in got}) == len(got)
    slots = {a.name: a for a in agents}
    for name, slot in slots.items():
        assert sum(a.agent == name for a in got) <= max(slot.free, 0)
    for a in got:
        assert any(t.id == a.task_id and _eligible(t, done) and _fits(t, slots[a.agent]) for t in queue)


@given(_queue, _agents, _done, _promote)
def test_no_eligible_task_is_left_while_a_free_agent_could_take_it(queue, agents, done, promote):
    got = schedule(queue, agents, NOW, done=done, promote_after=promote)
    left = {a.name: a.free - sum(x.agent == a.name for x in got) for a in agents}
    taken = {a.task_id for a in got}
    for t in queue:
        if t.id not in taken and _eligible(t, done):
            assert not [a.name for a in agents if left[a.name] > 0 and _fits(t, a)], t


@given(_queue, _agents, _done, _promote, st.randoms(use_true_random=False))
def test_same_input_same_assignments_in_any_input_order_when_ids_are_unique(queue, agents, done, promote, rnd):
    first = schedule(queue, agents, NOW, done=done, promote_after=promote)
    assert schedule(list(queue), list(agents), NOW, done=done, promote_after=promote) == first
    unique = list({t.id: t for t in queue}.values())
    shuffled_queue, shuffled_agents = unique[:], agents[:]
    rnd.shuffle(shuffled_queue)
    rnd.shuffle(shuffled_agents)
    assert schedule(shuffled_queue, shuffled_agents, NOW, done=done, promote_after=promote) == \
        schedule(unique, agents, NOW, done=done, promote_after=promote)


@given(_queue, _agents, _done, _promote)
def test_matches_the_plain_reference_implementation(queue, agents, done, promote):
    # copies of one id that tie on (lane, queued_at) may be tried in either order; keep one
    queue = list({(t.id, t.queued_at): t for t in queue}.values())
    assert schedule(queue, agents, NOW, done=done, promote_after=promote) == \
        reference(queue, agents, NOW, done, promote)


_crowded = st.lists(st.builds(QueuedTask, id=st.sampled_from(IDS), lane=st.sampled_from(["urgent", "low"]),
                              queued_at=_few_moments), min_size=2, max_size=40)
_busy_pool = st.lists(st.builds(AgentSlot, name=st.sampled_from(NAMES), capabilities=_caps,
                                free=st.integers(1, 4), last_assigned_at=st.none() | _few_moments),
                      min_size=1, max_size=3, unique_by=lambda a: a.name)


@given(_crowded, _busy_pool, _promote)
def test_crowded_lanes_with_equal_times_still_match_the_reference(queue, agents, promote):
    queue = list({(t.id, t.queued_at): t for t in queue}.values())
    assert schedule(queue, agents, NOW, promote_after=promote) == reference(queue, agents, NOW, set(), promote)
