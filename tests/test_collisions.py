"""Collisions seen before they happen: a task whose scope overlaps a task in flight on the same
target waits for it (serialise), is assigned and shown (flag), or neither (off)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.core.config import ConfigError, parse
from coordinator.core.scheduler import FLAG, OFF, SERIALISE, AgentSlot, Claim, QueuedTask, blockers, schedule

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WEB = "https://example.com/acme/web"


def queued(task_id: str, *scope: str, repo: str = WEB, age: float = 0, rework: bool = False) -> QueuedTask:
    claim = Claim(task_id, repo, scope, f"2026-11-25T11:{59 - int(age):02d}:00.000Z", rework) if scope else None
    return QueuedTask(task_id, "normal", NOW - timedelta(seconds=age), claim=claim)


def running(task_id: str, *scope: str, repo: str = WEB, created: str = "2026-11-25T10:00:00.000Z") -> Claim:
    return Claim(task_id, repo, scope, created)


AGENTS = [AgentSlot("ann", frozenset(), 1), AgentSlot("bob", frozenset(), 1)]


def assigned(queue, claims=(), mode=SERIALISE, agents=AGENTS) -> dict[str, tuple[str, ...]]:
    return {a.task_id: a.collides_with
            for a in schedule(queue, agents, NOW, claims=claims, collisions=lambda repo: mode)}


def test_of_two_overlapping_ready_tasks_only_the_first_is_assigned_the_other_waits():
    queue = [queued("old", "src/a/**", age=30), queued("new", "src/a/b.py", age=10)]
    assert assigned(queue) == {"old": ()}


def test_a_task_waits_while_an_overlapping_task_is_in_flight_and_runs_once_it_has_left():
    queue = [queued("new", "src/a/b.py")]
    assert assigned(queue, [running("old", "src/a/**")]) == {}
    assert assigned(queue, []) == {"new": ()}  # old is done (or cancelled, or dead): no claim left


def test_a_waiting_task_does_not_hold_back_the_tasks_behind_it():
    queue = [queued("held", "src/a/*", age=30), queued("free", "src/b/*", age=10)]
    assert assigned(queue, [running("old", "src/a/x.py")]) == {"free": ()}


def test_tasks_on_different_repos_never_collide():
    queue = [queued("web", "**", age=30), queued("api", "**", repo="https://example.com/acme/api")]
    assert assigned(queue, [running("other", "**", repo="https://example.com/acme/docs")]) == {"web": (), "api": ()}


def test_a_task_without_scope_is_never_held_and_holds_nothing():
    queue = [queued("bare", age=30), queued("scoped", "**")]
    assert assigned(queue, [running("old", "**")]) == {"bare": ()}
    assert assigned([queued("scoped", "**")], []) == {"scoped": ()}


def test_flag_assigns_both_and_names_the_collision():
    queue = [queued("old", "src/a/**", age=30), queued("new", "src/a/b.py", age=10)]
    assert assigned(queue, mode=FLAG) == {"old": (), "new": ("old",)}
    assert assigned([queued("new", "src/a/b.py")], [running("x", "src/**")], mode=FLAG) == {"new": ("x",)}


def test_off_looks_at_nothing():
    queue = [queued("old", "src/a/**", age=30), queued("new", "src/a/b.py", age=10)]
    assert assigned(queue, [running("x", "**")], mode=OFF) == {"old": (), "new": ()}
    assert {a.task_id for a in schedule(queue, AGENTS, NOW, claims=[running("x", "**")])} == {"old", "new"}


def test_the_mode_is_per_repo():
    api = "https://example.com/acme/api"
    queue = [queued("web", "**", age=30), queued("api", "**", repo=api)]
    claims = [running("w", "**"), running("a", "**", repo=api)]
    got = {a.task_id: a.collides_with for a in schedule(
        queue, AGENTS, NOW, claims=claims, collisions=lambda repo: FLAG if repo == api else SERIALISE)}
    assert got == {"api": ("a",)}


def test_of_two_reworks_back_in_the_queue_the_newer_waits_for_the_older():
    older, newer = queued("older", "**", age=30, rework=True), queued("newer", "**", age=10, rework=True)
    claims = [older.claim, newer.claim]
    assert blockers(newer.claim, claims) == ["older"] and blockers(older.claim, claims) == []
    assert assigned([newer, older], claims) == {"older": ()}
    # a plain queued task waits for a rework in flight whatever their ages
    assert blockers(queued("plain", "**", age=50).claim, claims) == ["newer", "older"]


# --- the setting --------------------------------------------------------------------------------

def test_the_mode_is_serialise_unless_the_file_says_otherwise_per_repo_by_its_exact_text():
    assert parse(b"").collisions.mode(WEB) == SERIALISE
    c = parse(f"collisions:\n  default: flag\n  repos:\n    {WEB}: off\n    api: serialise\n".encode()).collisions
    assert (c.mode(WEB), c.mode("api"), c.mode(WEB + "/"), c.mode("API")) == (OFF, SERIALISE, FLAG, FLAG)


@pytest.mark.parametrize(("raw", "message"), [
    ("collisions:\n  defualt: flag\n", "collisions.defualt: unknown key; did you mean 'collisions.default'?"),
    ("collisions:\n  default: serialize\n", "collisions.default: 'serialize' is not one of serialise, flag, off"),
    ("collisions:\n  repos:\n    web: maybe\n", "collisions.repos.web: 'maybe' is not one of serialise, flag, off"),
    ("collisions:\n  repos: [web]\n", "collisions.repos: expected a mapping of repo to serialise, flag or off"),
    ("collisions: serialise\n", "collisions: must be a mapping of settings"),
])
def test_a_wrong_collisions_setting_names_its_key(raw, message):
    with pytest.raises(ConfigError) as e:
        parse(raw.encode())
    assert message in str(e.value)


# --- through a real hub ---------------------------------------------------------------------------

def test_a_hub_holds_the_newer_overlapping_task_shows_why_and_assigns_it_once_the_older_is_done(repo):
    import random

    from coordinator.core.agent import registration
    from coordinator.hub.batch import Batch
    from coordinator.hub.hub import Hub
    from coordinator.wire.protocol import Heartbeat, parse_report

    clock = lambda: NOW  # noqa: E731
    hub = Hub(repo, clock=clock, rng=random.Random(7))
    try:
        for name in ("ada", "bob"):
            hub.call(Batch.register_agent, registration({"name": name}), "test")
            hub.heartbeat(name, Heartbeat())
        hub.call(lambda batch: None)  # the loop's batch after a heartbeat brings them online

        def submit(task_id, *scope, repo=WEB):
            hub.call(Batch.submit, {"id": task_id, "prompt": "do it", "repo": repo, "scope": list(scope)}, "test")
            return hub.show(task_id)

        assert submit("old", "src/a/**")["state"] == "assigned"
        new = submit("new", "src/a/b.py")
        assert (new["state"], new["waiting_on"], new["collides_with"]) == ("queued", ["old"], [])
        assert "waiting_on" not in new["task"]  # computed, never stored
        assert [(t["id"], t["waits_for"]) for t in hub.state()["next"]["normal"]] == [("new", ["old"])]
        assert submit("elsewhere", "src/a/b.py", repo="https://example.com/acme/api")["state"] == "assigned"

        agent = hub.view.get("old").loc.agent
        for kind in ("accepted", "done"):
            hub.call(Batch.report, agent, "old", parse_report({"kind": kind, "attempt": 1}))
        assert hub.show("old")["state"] == "done"
        after = hub.show("new")
        assert (after["state"], after["waiting_on"]) == ("assigned", [])
        assert hub.state()["next"]["normal"] == []
    finally:
        hub.close()


def test_the_view_keeps_the_tasks_in_flight_with_a_repo_and_a_scope_and_drops_them_as_they_leave():
    from coordinator.core.layout import State, location
    from coordinator.core.view import Record, View

    view = View()
    doc = {"id": "t", "repo": WEB, "scope": ["src/**"], "queued_at": "2026-11-25T11:00:00.000Z"}
    steps = [(location(State.QUEUED, "t", lane="normal"), {}, False),
             (location(State.ASSIGNED, "t", agent="ann"), {}, True),
             (location(State.WORKING, "t", agent="ann"), {}, True),
             (location(State.REVIEW, "t"), {}, True),
             (location(State.QUEUED, "t", lane="normal"), {"rework": {"agent": "ann"}}, True),
             (location(State.QUEUED, "t", lane="normal"), {"scope": None}, False),
             (location(State.DONE, "t", when=NOW), {}, False)]
    for loc, extra, flying in steps:
        task = {k: v for k, v in {**doc, **extra}.items() if v is not None}
        view.put(Record(loc, None, None if loc.state is State.DONE else task))
        assert ("t" in view.claims) is flying, loc


_scopes = st.lists(st.sampled_from(("src/a/**", "src/a/b.py", "src/b/*", "*.md", "docs/", "**", "/README.md")),
                   min_size=1, max_size=2, unique=True).map(tuple)
_claims = st.builds(lambda n, repo, scope, rework: Claim(f"c{n}", repo, scope, f"2026-11-25T0{n % 10}:00Z", rework),
                    st.integers(0, 30), st.sampled_from((WEB, "api")), _scopes, st.booleans())


@given(st.lists(_claims, max_size=12, unique_by=lambda c: c.id),
       st.lists(_claims, max_size=6, unique_by=lambda c: c.id), st.integers(1, 8))
def test_under_serialise_no_assignment_overlaps_a_claim_in_flight_or_another_assignment(queued_claims, flying, free):
    flying = [Claim("f" + c.id, c.repo, c.scope, c.created_at) for c in flying]
    queue = [QueuedTask(c.id, "normal", NOW - timedelta(seconds=i), claim=c) for i, c in enumerate(queued_claims)]
    reworks = [c for c in queued_claims if c.rework]
    out = schedule(queue, [AgentSlot("ann", frozenset(), free)], NOW, claims=[*flying, *reworks],
                   collisions=lambda repo: SERIALISE)
    given_out = [next(c for c in queued_claims if c.id == a.task_id) for a in out]
    for n, c in enumerate(given_out):
        assert not blockers(Claim(c.id, c.repo, c.scope, c.created_at), [*flying, *given_out[:n]])
    held = [c for c in queued_claims if c.id not in {a.task_id for a in out}]
    if len(out) < free:  # room was left: every task not given out was held by something in flight
        now_flying = [*flying, *reworks, *[Claim(c.id, c.repo, c.scope, c.created_at) for c in given_out]]
        assert all(blockers(c, now_flying) for c in held)


@given(st.lists(_claims, max_size=12, unique_by=lambda c: c.id),
       st.lists(_claims, max_size=6, unique_by=lambda c: c.id), st.integers(1, 8),
       st.dictionaries(st.sampled_from([f"c{n}" for n in range(31)]), st.sampled_from([f"fc{n}" for n in range(31)])))
def test_the_hints_kept_between_passes_never_change_what_is_assigned(queued_claims, flying, free, stale):
    flying = [Claim("f" + c.id, c.repo, c.scope, c.created_at) for c in flying]
    queue = [QueuedTask(c.id, "normal", NOW - timedelta(seconds=i), claim=c) for i, c in enumerate(queued_claims)]
    reworks = [c for c in queued_claims if c.rework]

    def once(hints):
        return schedule(queue, [AgentSlot("ann", frozenset(), free)], NOW, claims=[*flying, *reworks],
                        collisions=lambda repo: SERIALISE, hints=hints)
    plain = once(None)
    kept = dict(stale)   # hints from an earlier pass, some naming claims that left or never held it
    assert once(kept) == plain and once(kept) == plain   # and again, with what the first pass learnt
