"""bench/torture.py: a small run of the harness as a user runs it (real hub, sidecars and agents,
killed at seeded times), and its counts on their own: that each one sees what it must catch."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench import torture_count as count
from bench.torture_fleet import TortureFleet, read_ledger
from tests.support.leftovers import processes_mentioning
from tests.support.processes import wait_for

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "bench" / "torture.py"
SMALL = ["--tasks", "12", "--agents", "3", "--kills", "4", "--seconds", "15", "--settle", "150", "--seed", "7"]


def row(output: str, name: str) -> str:
    found = re.search(rf"^  {re.escape(name)} +(.*)$", output, re.MULTILINE)
    assert found, f"no '{name}' line in:\n{output}"
    return found.group(1)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """One run of the harness with small numbers; its exit code and output."""
    tmp = tmp_path_factory.mktemp("torture")
    done = subprocess.run([sys.executable, str(HARNESS), *SMALL, "--events"], capture_output=True, text=True,
                          timeout=280, env={**os.environ, "TMPDIR": str(tmp)})
    assert not list(tmp.glob("agentcom-torture-*")), "the temporary folder was not removed"
    assert not processes_mentioning(str(tmp)), "the harness left processes running"
    return done.returncode, done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_fleet_killed_at_random_loses_no_task_and_keeps_the_repo_sound(small_run):
    code, out = small_run
    assert row(out, "submitted").startswith("12 "), out
    assert row(out, "lost") == "0", out
    assert row(out, "in two states") == "0", out
    assert row(out, "not settled") == "0", out
    assert int(row(out, "done")) + int(row(out, "dead")) == 12, out
    assert row(out, "git fsck --strict") == "clean", out
    assert row(out, "unexpected exits") == "0", out
    assert int(row(out, "hub restarts")) + int(row(out, "sidecar kills")) \
        + int(row(out, "machine losses").split()[0]) == 4, out   # every planned blow was dealt
    assert "verdict: PASS" in out and code == 0, out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_run_an_agent_started_is_recorded_in_git(small_run):
    _, out = small_run
    assert row(out, "runs not recorded") == "0", out


# --- the counts alone: each must catch what it is for ----------------------------------------------

def test_a_task_in_no_state_folder_is_lost_and_one_in_two_is_counted():
    tally = count.Tally(submitted={"a": "http", "b": "push", "c": "http", "d": "push"})
    tree = ["done/2026-11/25/a.yaml", "queue/normal/b.yaml", "working/ada/b.yaml", "inbox/d.yaml",
            "dead/c.yaml", "agents/ada.yaml", "queue/normal/.keep"]
    count.count_tree(tally, tree, rejected_files=[])
    assert tally.lost == ["d"]             # still in inbox/ is not a state
    assert tally.two_states == {"b": ["queue/normal/b.yaml", "working/ada/b.yaml"]}
    assert (tally.done, list(tally.dead), tally.unsettled) == (1, ["c"], {"b": "queued"})
    assert tally.problems(strict_runs=False) == ["1 lost: d", "1 in two states: b", "git fsck --strict failed"]


def test_a_lost_task_kept_in_rejected_is_named_so():
    tally = count.Tally(submitted={"x": "push"})
    count.count_tree(tally, [], rejected_files=["inbox/x.yaml"])
    assert (tally.lost, tally.rejected) == (["x"], ["x"])


def test_runs_not_in_git_are_the_ledger_runs_beyond_the_recorded_ones():
    tally = count.Tally(submitted={"t": "http", "u": "http"})
    history = [{"to": "queued", "from": "new", "attempt": 0, "reason": "submitted"},
               {"to": "assigned", "from": "queued", "attempt": 1, "reason": "scheduled"},
               {"to": "queued", "from": "working", "attempt": 1, "reason": "reclaimed: ada is offline; retry 1"},
               {"to": "assigned", "from": "queued", "attempt": 2, "reason": "scheduled"},
               {"to": "done", "from": "working", "attempt": 2, "reason": "done by bob: ok"}]
    count.count_history(tally, "t", history, None, agents=["ada", "bob"])
    count.count_ledger(tally, [{"task": "t", "attempt": 1}, {"task": "t", "attempt": 1},
                               {"task": "t", "attempt": 2}])
    assert (tally.recorded, tally.unrecorded) == ({("t", 1): 1, ("t", 2): 1}, 1)
    assert tally.failures == {"reclaimed: AGENT is offline": 1}
    assert tally.problems(strict_runs=True)[-1] == "1 runs not recorded in git"
    with_runs = [{**h, "run": 2} if h["attempt"] == 1 else h for h in history]
    count.count_history(tally, "t", with_runs, None)
    assert tally.unrecorded == 0


def test_the_outcome_of_an_ended_attempt_counts_its_runs():
    task = {"attempt": 3, "outcome": {"runs": 2}}
    assert count.recorded_runs([{"attempt": 3, "to": "done"}], task) == {3: 2}
    assert count.recorded_runs([], {"attempt": 3, "outcome": {"runs": "2"}}) == {}


def test_hostile_ledger_lines_are_skipped_and_name_no_process_to_kill(tmp_path):
    """The ledger is written by agents: a line cut short, a forged line naming the harness
    itself (with its true start time), or another task, must neither count nor kill."""
    ledger = tmp_path / "ledger.jsonl"
    me = Path("/proc/self/stat").read_text().rpartition(")")[2].split()[19]
    ledger.write_text("\n".join([
        json.dumps({"task": "t", "attempt": 1, "pid": os.getpid(), "start": int(me)}),
        json.dumps({"task": "t", "attempt": "1"}), json.dumps({"task": "elsewhere", "attempt": 1}),
        json.dumps({"task": "t", "attempt": 1, "pid": 1, "start": 0}), '{"task": "t", "att', "[]"]) + "\n")
    tally = count.Tally(submitted={"t": "http"})
    count.count_ledger(tally, read_ledger(ledger))
    assert tally.actual == {("t", 1): 2}
    fleet = TortureFleet(tmp_path / "hub.git", tmp_path / "fleet", ledger)
    assert fleet.kill_ledger_runs() == []   # still alive to assert it


def test_a_live_run_named_in_the_ledger_is_killed_with_its_group(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True,
                           env={**os.environ, "TORTURE_LEDGER": str(ledger)})
    try:
        # just after exec, /proc shows an empty environment for a moment
        wait_for(lambda: b"TORTURE_LEDGER=" in Path(f"/proc/{run.pid}/environ").read_bytes())
        start = _start_ticks(run.pid)
        ledger.write_text(json.dumps({"task": "t", "attempt": 1, "pid": run.pid, "start": start}) + "\n")
        fleet = TortureFleet(tmp_path / "hub.git", tmp_path / "fleet", ledger)
        assert fleet.kill_ledger_runs() == [run.pid]
        assert run.wait(timeout=10) == -signal.SIGKILL
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def _start_ticks(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])
    except OSError:
        return None


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ctrl_c_mid_chaos_stops_everything_the_harness_started(tmp_path):
    with subprocess.Popen([sys.executable, str(HARNESS), *SMALL, "--events"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env={**os.environ, "TMPDIR": str(tmp_path)}) as harness:
        try:
            seen = []
            for line in harness.stdout:   # the first blow: the hub, sidecars and agents are all up
                seen.append(line)
                if re.match(r"^ +[\d.]+s ", line):
                    break
            harness.send_signal(signal.SIGINT)
            out = "".join(seen) + harness.stdout.read()
            assert harness.wait(timeout=60) == 2, out
        finally:
            if harness.poll() is None:
                harness.kill()
    assert "interrupted; everything it started is stopped" in out
    assert not processes_mentioning(str(tmp_path)), "the harness left processes running"
    assert not list(tmp_path.glob("agentcom-torture-*")), "the temporary folder was not removed"


def test_out_of_range_options_are_refused_with_the_range():
    done = subprocess.run([sys.executable, str(HARNESS), "--tasks", "0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--tasks: 0 is out of range; give 1 to 2000" in done.stderr
