"""Retry policy: equal-jitter exponential backoff, transient vs permanent, and the dead letter."""
from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.core.retry import DEAD, KINDS, RETRY, Decision, Failure, after_failure, backoff, classify


class Jitter:
    """A random source whose uniform() always lands at the same fraction of the range."""

    def __init__(self, fraction: float):
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


LOW, HIGH = Jitter(0.0), Jitter(1.0)


def test_first_retry_waits_between_half_the_base_and_the_base():
    assert backoff(1, 30, 3600, LOW) == 15
    assert backoff(1, 30, 3600, HIGH) == 30
    assert backoff(1, 30, 3600, Jitter(0.5)) == 22.5


def test_delay_doubles_with_each_attempt_until_the_cap():
    assert [backoff(n, 30, 3600, HIGH) for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert [backoff(n, 30, 3600, LOW) for n in range(1, 10)] == [15, 30, 60, 120, 240, 480, 960, 1800, 1800]


def test_a_cap_below_the_base_wins():
    assert backoff(1, 100, 10, HIGH) == 10


def test_a_huge_attempt_number_is_capped_at_once():
    assert backoff(10**12, 30, 3600, HIGH) == 3600


def test_zero_base_means_retry_at_once():
    assert backoff(5, 0, 3600, HIGH) == 0


def test_attempt_below_one_or_a_negative_base_is_refused():
    with pytest.raises(ValueError, match="attempt must be 1 or more, got 0"):
        backoff(0, 30, 3600, LOW)
    with pytest.raises(ValueError, match="must not be negative"):
        backoff(1, -1, 3600, LOW)
    with pytest.raises(ValueError, match="attempt must be 1 or more"):
        after_failure(0, 3, Failure.TRANSIENT, 30, 3600, LOW)


def test_the_same_seed_gives_the_same_waits():
    waits = [backoff(n, 30, 3600, random.Random(7)) for n in range(1, 8)]
    assert waits == [backoff(n, 30, 3600, random.Random(7)) for n in range(1, 8)]


@given(st.integers(1, 10**6), st.integers(0, 10**5), st.integers(0, 10**6), st.randoms(use_true_random=False))
def test_wait_is_never_negative_never_above_the_cap_and_never_below_half_the_delay(attempt, base, cap, rng):
    wait = backoff(attempt, base, cap, rng)
    delay = min(cap, base * 2 ** min(attempt - 1, 64))
    assert 0 <= wait <= cap
    assert delay / 2 <= wait <= delay


def test_machine_failures_are_transient_and_a_passed_deadline_is_permanent():
    for kind in ("agent_vanished", "timeout", "crash", "accept_timeout", "progress_timeout", "reported"):
        assert classify(kind, permanent=False) is Failure.TRANSIENT
    assert classify("deadline", permanent=False) is Failure.PERMANENT


@given(st.sampled_from(sorted(KINDS)))
def test_a_failure_reported_as_permanent_is_permanent_whatever_its_kind(kind):
    assert classify(kind, permanent=True) is Failure.PERMANENT


def test_an_unknown_kind_is_refused_with_the_known_ones_listed():
    with pytest.raises(ValueError, match="unknown failure kind 'oops'; known kinds: agent_vanished, timeout, crash, "
                                         "accept_timeout, progress_timeout, deadline, reported"):
        classify("oops", permanent=True)


def test_failure_values_are_the_words_used_in_reports():
    assert [f.value for f in Failure] == ["transient", "permanent"]
    assert Failure("permanent") is Failure.PERMANENT


def test_a_permanent_failure_goes_dead_at_once_even_with_retries_left():
    decision = after_failure(1, 5, Failure.PERMANENT, 30, 3600, HIGH)
    assert decision == Decision(DEAD, 0.0, "permanent failure on attempt 1; not retried")


def test_a_transient_failure_is_retried_after_the_backoff_for_that_attempt():
    decision = after_failure(2, 3, Failure.TRANSIENT, 30, 3600, HIGH)
    assert (decision.action, decision.wait) == (RETRY, 60)
    assert decision.reason == "transient failure on attempt 2; retry 2 of 3 in 60s"


def test_the_first_run_and_max_retries_retries_then_the_dead_letter():
    decisions = [after_failure(n, 3, Failure.TRANSIENT, 30, 3600, LOW) for n in range(1, 6)]
    assert [d.action for d in decisions] == [RETRY, RETRY, RETRY, DEAD, DEAD]
    assert decisions[3] == Decision(DEAD, 0.0, "gave up after 4 attempts; max_retries is 3")


def test_no_retries_means_the_first_failure_is_final():
    assert after_failure(1, 0, Failure.TRANSIENT, 30, 3600, LOW) == \
        Decision(DEAD, 0.0, "gave up after 1 attempt; max_retries is 0")


@given(st.integers(0, 20), st.randoms(use_true_random=False))
def test_a_task_runs_exactly_one_plus_max_retries_times_before_it_is_dead(max_retries, rng):
    attempt = 1
    while (decision := after_failure(attempt, max_retries, Failure.TRANSIENT, 30, 3600, rng)).action == RETRY:
        assert min(3600, 30 * 2 ** min(attempt - 1, 7)) / 2 <= decision.wait <= 3600
        attempt += 1
    assert attempt == max_retries + 1
    assert decision.wait == 0 and f"after {attempt} attempt" in decision.reason


def test_a_decision_is_frozen_data():
    with pytest.raises(dataclasses.FrozenInstanceError):
        after_failure(1, 1, Failure.TRANSIENT, 30, 3600, LOW).action = DEAD
