"""The counts bench/torture.py prints, from what it gathered: main's tree (where each task is),
each task's history (from git, through the hub's API), the agent's ledger (every run that really
started) and `git fsck`. No I/O here: the harness reads, this module counts and words it.

Runs recorded in git, for a task's attempt A: the largest `run` among its history entries with
`attempt == A` (an entry with no `run` counts as run 1), or the task's `outcome.runs` when
`outcome` is about attempt A, whichever is larger. A run is unrecorded when the ledger shows
more runs of an attempt than git records.
"""
from __future__ import annotations

import collections
import re
from dataclasses import dataclass, field

from coordinator.core.layout import State, parse_location

ENDED = (State.DONE, State.DEAD, State.CANCELLED)
LEAVING = ("assigned", "working")       # an attempt ends when its task leaves one of these
FAILED_TO = ("queued", "dead")          # ... for one of these


def locations(tree_paths: list[str]) -> dict[str, list[tuple[State, str]]]:
    """Task id → every (state, path) where main's tree holds a file for it."""
    found: dict[str, list[tuple[State, str]]] = collections.defaultdict(list)
    for path in tree_paths:
        loc = parse_location(path)
        if loc is not None:
            found[loc.task_id].append((loc.state, path))
    return found


def settled(tree_paths: list[str], task_ids) -> list[str]:
    """The tasks of `task_ids` not yet in an end state (done, dead, cancelled) on main."""
    where = locations(tree_paths)
    return sorted(t for t in task_ids if not any(state in ENDED for state, _ in where.get(t, ())))


def recorded_runs(history: list[dict], task: dict | None) -> dict[int, int]:
    """Attempt → runs recorded in git (see the module docstring)."""
    runs: dict[int, int] = {}
    for h in history:
        attempt = h.get("attempt")
        if isinstance(attempt, int) and attempt > 0:
            runs[attempt] = max(runs.get(attempt, 0), _int(h.get("run"), 1))
    outcome = (task or {}).get("outcome")
    if isinstance(outcome, dict) and isinstance(outcome.get("runs"), int):
        attempt = _int(outcome.get("attempt"), _int((task or {}).get("attempt"), 0))
        if attempt > 0:
            runs[attempt] = max(runs.get(attempt, 0), outcome["runs"])
    return runs


def _int(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def reason_kind(reason: str, agents=()) -> str:
    """A reason's cause (before the first ';': the retry note after it varies) with agent names,
    quoted text and numbers replaced, so that alike failures group together."""
    text = (reason or "(none)").split(";", 1)[0]
    for name in sorted(agents, key=len, reverse=True):
        text = text.replace(name, "AGENT")
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    return re.sub(r"\d+(\.\d+)?", "N", text)[:120]


@dataclass
class Tally:
    submitted: dict[str, str] = field(default_factory=dict)      # id → how (http, push)
    unacknowledged: list[str] = field(default_factory=list)
    done: int = 0
    dead: dict[str, str] = field(default_factory=dict)           # id → why
    cancelled: int = 0
    unsettled: dict[str, str] = field(default_factory=dict)      # id → where it is
    lost: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)            # lost, and found in rejected/
    two_states: dict[str, list[str]] = field(default_factory=dict)
    failures: collections.Counter = field(default_factory=collections.Counter)   # reason kind → attempts
    actual: dict[tuple[str, int], int] = field(default_factory=dict)   # (task, attempt) → runs started
    recorded: dict[tuple[str, int], int] = field(default_factory=dict)
    fsck_ok: bool = False
    fsck_output: str = ""

    @property
    def unrecorded(self) -> int:
        return sum(max(0, n - self.recorded.get(key, 0)) for key, n in self.actual.items())

    def problems(self, strict_runs: bool) -> list[str]:
        """Why the run failed; empty when it passed."""
        found = []
        if self.lost:
            found.append(f"{len(self.lost)} lost: {', '.join(self.lost[:10])}")
        if self.two_states:
            found.append(f"{len(self.two_states)} in two states: {', '.join(list(self.two_states)[:10])}")
        if not self.fsck_ok:
            found.append("git fsck --strict failed")
        if strict_runs and self.unrecorded:
            found.append(f"{self.unrecorded} runs not recorded in git")
        return found


def count_tree(tally: Tally, tree_paths: list[str], rejected_files: list[str]) -> None:
    """Where each submitted task is on main: done, dead, lost, in two states."""
    where = locations(tree_paths)
    for task_id in tally.submitted:
        places = where.get(task_id, [])
        if not places:
            tally.lost.append(task_id)
            if any(f.rsplit("/", 1)[-1].rsplit(".", 1)[0] == task_id for f in rejected_files):
                tally.rejected.append(task_id)
            continue
        if len(places) > 1:
            tally.two_states[task_id] = [path for _, path in places]
        states = {state for state, _ in places}
        if State.DONE in states:
            tally.done += 1
        elif State.DEAD in states:
            tally.dead.setdefault(task_id, "(no history read)")
        elif State.CANCELLED in states:
            tally.cancelled += 1
        else:
            tally.unsettled[task_id] = places[0][0].label


def count_history(tally: Tally, task_id: str, history: list[dict], task: dict | None, agents=()) -> None:
    """Failed attempts (by reason), the reason a dead task died, and the runs git records."""
    for h in history:
        if h.get("from") in LEAVING and h.get("to") in FAILED_TO:
            tally.failures[reason_kind(h.get("reason") or "", agents)] += 1
    deaths = [h for h in history if h.get("to") == "dead"]
    if task_id in tally.dead and deaths:
        tally.dead[task_id] = deaths[-1].get("reason") or "(no reason)"
    for attempt, runs in recorded_runs(history, task).items():
        tally.recorded[(task_id, attempt)] = runs


def count_ledger(tally: Tally, lines: list[dict]) -> None:
    actual: collections.Counter = collections.Counter()
    for line in lines:
        attempt = _int(line.get("attempt"), 0)
        if line.get("task") in tally.submitted and attempt > 0:
            actual[(line["task"], attempt)] += 1
    tally.actual = dict(actual)


def run_lines(tally: Tally) -> list[str]:
    """Runs per attempt: how many attempts ran how many times, and what git records of them."""
    per_attempt = collections.Counter(tally.actual.values())
    spread = ", ".join(f"{n} run{'s' if n > 1 else ''}: {per_attempt[n]}" for n in sorted(per_attempt)) or "none"
    actual, recorded = sum(tally.actual.values()), sum(min(n, tally.recorded.get(k, 0))
                                                        for k, n in tally.actual.items())
    return [f"  {'attempts run':<22}{len(tally.actual)} ({spread})",
            f"  {'runs: actual/recorded':<22}{actual} run (agent's ledger), {recorded} recorded in git",
            f"  {'runs not recorded':<22}{tally.unrecorded}"]


def lines(tally: Tally, figures: dict[str, str], strict_runs: bool) -> list[str]:
    """The report: one count per line, then the verdict."""
    by = collections.Counter(tally.submitted.values())
    out = [f"  {'submitted':<22}{len(tally.submitted)} ({by['http']} by HTTP, {by['push']} by git push)"
           + (f"; {len(tally.unacknowledged)} never acknowledged" if tally.unacknowledged else ""),
           f"  {'done':<22}{tally.done}",
           f"  {'dead':<22}{len(tally.dead)}"]
    out += [f"    {task_id}: {why}" for task_id, why in sorted(tally.dead.items())]
    out.append(f"  {'failed attempts':<22}{sum(tally.failures.values())}")
    out += [f"    {n} × {why}" for why, n in tally.failures.most_common()]
    if tally.cancelled:
        out.append(f"  {'cancelled':<22}{tally.cancelled}")
    out.append(f"  {'not settled':<22}{len(tally.unsettled)}"
               + "".join(f"\n    {t}: {where}" for t, where in sorted(tally.unsettled.items())))
    out.append(f"  {'lost':<22}{len(tally.lost)}" + (f": {', '.join(tally.lost)}" if tally.lost else "")
               + (f" (in rejected/: {', '.join(tally.rejected)})" if tally.rejected else ""))
    out.append(f"  {'in two states':<22}{len(tally.two_states)}"
               + "".join(f"\n    {t}: {', '.join(p)}" for t, p in sorted(tally.two_states.items())))
    out += run_lines(tally)
    out.append(f"  {'git fsck --strict':<22}{'clean' if tally.fsck_ok else 'FAILED'}"
               + "".join(f"\n    {x}" for x in tally.fsck_output.splitlines()[:20]))
    out += [f"  {name:<22}{value}" for name, value in figures.items()]
    problems = tally.problems(strict_runs)
    out.append("verdict: " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)))
    return out
