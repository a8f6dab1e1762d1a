"""[pure] After a failed attempt: retry later or give up (dead letter), and how long to wait.

The caller passes the random source, so a test can fix the jitter and the hub can share one.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random

RETRY = "retry"
DEAD = "dead"


class Failure(str, Enum):
    TRANSIENT = "transient"   # the next attempt may well succeed
    PERMANENT = "permanent"   # another attempt cannot help


KINDS: dict[str, Failure] = {
    "agent_vanished": Failure.TRANSIENT,    # heartbeats stopped; the task was reclaimed
    "timeout": Failure.TRANSIENT,           # the run took longer than it was allowed
    "crash": Failure.TRANSIENT,             # the agent's process died mid-run
    "accept_timeout": Failure.TRANSIENT,    # assigned but never accepted
    "progress_timeout": Failure.TRANSIENT,  # accepted, then silent too long
    # the task's own complete-by time has passed: no later attempt can meet it
    "deadline": Failure.PERMANENT,
    "reported": Failure.TRANSIENT,          # the agent said it failed; permanent if it said so
    # the operator stopped the run (Ctrl-C of the demo): free, up to FREE_INTERRUPTIONS
    "interrupted": Failure.TRANSIENT,
}
FREE_INTERRUPTIONS = 10  # interruptions of one task that cost no attempt; any more count as failures


@dataclass(frozen=True)
class Decision:
    action: str   # RETRY or DEAD
    wait: float   # seconds before the task may run again; 0 when dead
    reason: str   # one line for the audit trail and `agentcom show`


def backoff(attempt: int, base: int, cap: int, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (1-based): equal-jitter exponential backoff.

    The delay d = min(cap, base * 2**(attempt-1)); half of it is fixed and half random,
    d/2 + uniform(0, d/2), so retries spread out yet never come sooner than d/2 or later than cap.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, got {attempt}")
    if base < 0 or cap < 0:
        raise ValueError(f"backoff base and cap must not be negative, got base={base}, cap={cap}")
    delay = min(base, cap)
    for _ in range(attempt - 1):  # doubling stops at the cap, so a huge attempt costs nothing
        if delay == 0 or delay >= cap:
            break
        delay = min(delay * 2, cap)
    half = delay / 2
    return min(float(delay), half + rng.uniform(0, half))


def classify(kind: str, permanent: bool) -> Failure:
    """How a failure of this kind is treated; `permanent` (from the agent's report) always wins."""
    if kind not in KINDS:
        raise ValueError(f"unknown failure kind {kind!r}; known kinds: {', '.join(KINDS)}")
    return Failure.PERMANENT if permanent else KINDS[kind]


def given_back(interruptions: int) -> Decision | None:
    """After an interrupted run (its agent stopped by the operator, not failed): queue the task
    again at once without counting the attempt, unless it has been interrupted too often already
    (`interruptions` before this one), when None says: count it as a transient failure, so a
    task stopped over and over still ends."""
    if interruptions < 0:
        raise ValueError(f"interruptions must not be negative, got {interruptions}")
    if interruptions >= FREE_INTERRUPTIONS:
        return None
    return Decision(RETRY, 0.0, f"not counted as an attempt (interruption {interruptions + 1} of "
                                f"{FREE_INTERRUPTIONS} not counted); queued again at once")


def after_failure(attempt: int, max_retries: int, failure: Failure, base: int, cap: int,
                  rng: random.Random) -> Decision:
    """Retry after a backoff, or give up.

    `attempt` is the number of attempts made so far, counting the one that just failed and every
    reclaim (1 after the first run fails). The task may run 1 + max_retries times in all.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, got {attempt}")
    if max_retries < 0:
        raise ValueError(f"max_retries must not be negative, got {max_retries}")
    if Failure(failure) is Failure.PERMANENT:
        return Decision(DEAD, 0.0, f"permanent failure on attempt {attempt}; not retried")
    if attempt > max_retries:
        return Decision(DEAD, 0.0, f"gave up after {attempt} attempt{'s' if attempt != 1 else ''}; "
                                   f"max_retries is {max_retries}")
    wait = backoff(attempt, base, cap, rng)
    return Decision(RETRY, wait, f"transient failure on attempt {attempt}; retry {attempt} of {max_retries} "
                                 f"in {wait:.0f}s")
