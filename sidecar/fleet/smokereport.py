"""[pure] The smoke test's figures, its checks and the report it prints, from what one run
measured per task. No I/O here: `sidecar/smoke.py` gathers the measurements.

Assignment latency is submit → the agent started (the demo agent's own clock reading). The
coordination overhead is what the protocol costs the agent in tokens on each task: the
characters the sidecar adds to the prompt (the result contract) plus the `agentcom-report`
command line the agent has to write, at CHARS_PER_TOKEN characters a token.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

CHARS_PER_TOKEN = 4
LATENCY_LIMIT = 5.0       # seconds, submit → agent started, for every task
OVERHEAD_LIMIT = 500      # tokens per task


@dataclass(frozen=True)
class TaskFigures:
    task_id: str
    lane: str
    submitted: float                 # time.time() when the submit request was sent
    started: float | None = None     # the first run's start, as the agent recorded it
    done: bool = False
    added_chars: int | None = None   # prompt.md minus the task's own prompt
    report_chars: int | None = None  # the agentcom-report command line the agent ran

    @property
    def latency(self) -> float | None:
        return None if self.started is None else self.started - self.submitted

    @property
    def overhead_tokens(self) -> float | None:
        if self.added_chars is None or self.report_chars is None:
            return None
        return (self.added_chars + self.report_chars) / CHARS_PER_TOKEN


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    title: str
    tasks: list[TaskFigures]
    wall: float
    hub: str = ""
    latency_checked: bool = True
    latency_note: str = "submit → agent started"
    idle_agents: int = 0       # the first this many tasks were submitted to idle agents
    extra_lines: list[tuple[str, str]] = field(default_factory=list)   # scenario figures
    extra_checks: list[Check] = field(default_factory=list)            # scenario checks
    error: str | None = None                                           # the run broke off

    def checks(self) -> list[Check]:
        done = sum(t.done for t in self.tasks)
        out = [Check("tasks completed", bool(self.tasks) and done == len(self.tasks),
                     f"{done}/{len(self.tasks)} done; every task must end done")]
        if self.latency_checked:
            slow = [t for t in self.tasks if t.latency is None or t.latency >= LATENCY_LIMIT]
            worst = max((t.latency for t in self.tasks if t.latency is not None), default=None)
            out.append(Check("assignment latency", bool(self.tasks) and not slow,
                             f"{len(slow)} task(s) not started within {LATENCY_LIMIT:g} s"
                             + (f" (max {worst:.2f} s)" if worst is not None else "")))
        overheads = [t.overhead_tokens for t in self.tasks if t.done]
        measured = [o for o in overheads if o is not None]
        out.append(Check("coordination overhead", bool(measured) and len(measured) == len(overheads)
                         and max(measured) < OVERHEAD_LIMIT,
                         f"max {max(measured):.0f} tokens per task; the limit is {OVERHEAD_LIMIT}" if measured
                         else "not measured (no finished run with its prompt and report command)"))
        out.extend(self.extra_checks)
        if self.error:
            out.append(Check("run", False, self.error))
        return out

    def passed(self) -> bool:
        return all(c.ok for c in self.checks())

    def lines(self) -> list[str]:
        rows = [("hub", self.hub)] if self.hub else []
        rows.append(("tasks completed", f"{sum(t.done for t in self.tasks)}/{len(self.tasks)}"))
        rows.append(("assignment latency", _latency(self.tasks, self.latency_note, self.latency_checked)))
        if 0 < self.idle_agents < len(self.tasks):
            rows.append(("  on an idle agent", _latency(self.tasks[:self.idle_agents],
                                                       f"the first {self.idle_agents} tasks; the others "
                                                       "waited for an agent to be free", True)))
        rows.append(("coordination overhead", _overhead(self.tasks)))
        rows.extend(self.extra_lines)
        rows.append(("wall time", f"{self.wall:.1f} s (start of the hub to everything stopped)"))
        failed = [c for c in self.checks() if not c.ok]
        rows.append(("result", "PASS" if not failed else f"FAIL ({len(failed)} check(s) failed)"))
        width = max(len(k) for k, _ in rows)
        out = [self.title] + [f"  {k.ljust(width)}  {v}" for k, v in rows]
        out += [f"  FAILED {c.name}: {c.detail}" for c in failed]
        return out


def _latency(tasks: list[TaskFigures], note: str, checked: bool) -> str:
    values = sorted(t.latency for t in tasks if t.latency is not None)
    if not values:
        return "not measured (no task started)"
    text = f"p50 {statistics.median(values):.2f} s, max {values[-1]:.2f} s ({note})"
    return text if checked else text + "; not checked"


def _overhead(tasks: list[TaskFigures]) -> str:
    done = [t for t in tasks if t.done and t.overhead_tokens is not None]
    if not done:
        return "not measured"
    mean = statistics.mean(t.overhead_tokens for t in done)
    added = statistics.mean(t.added_chars for t in done)
    report = statistics.mean(t.report_chars for t in done)
    worst = max(t.overhead_tokens for t in done)
    return (f"{mean:.0f} tokens per task, max {worst:.0f} (prompt footer {added:.0f} chars + report "
            f"command {report:.0f} chars, at {CHARS_PER_TOKEN} chars per token)")


def lane_runs(lanes: list[str]) -> str:
    """['urgent', 'urgent', 'high'] → 'urgent×2 high×1': the order, with any interleaving shown."""
    runs: list[list] = []
    for lane in lanes:
        if runs and runs[-1][0] == lane:
            runs[-1][1] += 1
        else:
            runs.append([lane, 1])
    return " ".join(f"{lane}×{n}" for lane, n in runs)


def in_lane_order(lanes: list[str], order: tuple[str, ...]) -> bool:
    """Whether no task of a lane started before every task of a more urgent lane had."""
    ranks = [order.index(lane) for lane in lanes]
    return ranks == sorted(ranks)


def urgent_first(lanes: list[str]) -> bool:
    """Whether every urgent task came before any task of another lane (and there was one)."""
    urgent = [i for i, lane in enumerate(lanes) if lane == "urgent"]
    others = [i for i, lane in enumerate(lanes) if lane != "urgent"]
    return bool(urgent) and (not others or max(urgent) < min(others))


def every_agent_worked(done_by: dict[str, int]) -> Check:
    """Each agent of the fleet (agent → tasks it finished) finished at least one task."""
    idle = [agent for agent, n in done_by.items() if n == 0]
    return Check("every agent got work", bool(done_by) and not idle,
                 f"no task done by {', '.join(idle) or 'any agent'}")


def recovery_checks(task_id: str, victim: str, moves: list[tuple[str, str | None]], *, writers: list[str],
                    output: str | None, expected: str) -> tuple[list[Check], str | None]:
    """After `victim` was lost while it ran `task_id`: the task went to done exactly once, by
    another agent, after an attempt by the victim, and its output file is the survivor's alone.
    `moves` is the task's history as (to state, agent); returns the checks and the survivor."""
    done = [agent for to, agent in moves if to == "done"]
    survivor = done[0] if len(done) == 1 else None
    return [
        Check("done exactly once", len(done) == 1,
              f"{task_id} went to done {len(done)} time(s); exactly once is right"),
        Check("finished by another agent", survivor is not None and survivor != victim,
              f"{task_id} must be done by an agent other than the lost {victim}, not {survivor or 'nobody'}"),
        Check("lost agent's attempt", ("assigned", victim) in moves,
              f"the history of {task_id} shows no attempt by {victim}"),
        Check("output written by the survivor", survivor is not None and writers == [survivor] and output == expected,
              f"{task_id}.txt holds {output!r} (expected {expected!r}), written by {writers or 'nobody'}"),
    ], survivor
