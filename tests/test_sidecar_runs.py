"""Every run of an attempt on the record, end to end: a real hub on 127.0.0.1, real sidecar
processes, real agent processes (tests/support/fake_agent.py) stopped by the signals an operator,
a container stop or a lost machine would send. An interrupted run is not the agent's failure;
a re-run is said (and recorded) only when a run starts again; the tokens of lost runs count."""
from __future__ import annotations

import json
import os
import shutil
import signal

from tests.support.processes import agentcom, wait_for
from tests.test_sidecar import alive, assert_done_once, moves, started_run, state, submit, task


def history(hub, task_id: str) -> list[dict]:
    status, body = hub.request("GET", f"/api/tasks/{task_id}/log")
    assert status == 200, body
    return body["history"]


def lose_machine(sidecar, run: dict) -> None:
    """The machine dies: its sidecar, and the agent's whole process group, with no word to anyone."""
    sidecar.kill()
    os.killpg(run["pgid"], signal.SIGKILL)
    wait_for(lambda: not alive(run))


def test_a_sidecar_stopped_by_ctrl_c_leaves_its_run_going_and_the_run_ends_done(hub, sidecars):
    ada = sidecars.agent(hub, "ada")
    first = sidecars.start(ada)
    task_id = submit(hub, "wait")
    run = started_run(hub, ada, task_id)

    first.proc.send_signal(signal.SIGINT)
    assert "stopped" in first.stop()
    assert alive(run)  # a stop of the sidecar alone never ends a run
    mark = json.loads((ada.state_dir / "stops" / f"{task_id}.1.json").read_text())
    assert (mark["task"], mark["attempt"], mark["run"]) == (task_id, 1, 1)
    assert not (ada.run_dir(task_id) / "interrupted.json").exists()  # never where the agent writes
    sidecars.start(ada)
    ada.release(task_id)

    wait_for(lambda: state(hub, task_id) == "done", timeout=15)
    assert_done_once(hub, task_id)  # it outlived the stop: its end is its own
    assert task(hub, task_id)["outcome"]["runs"] == 1
    wait_for(lambda: ada.finished_dir(task_id).exists())
    assert list((ada.state_dir / "stops").iterdir()) == []  # the mark went with its run


def test_an_agent_stopped_by_the_operators_ctrl_c_is_queued_again_at_once_without_spending_an_attempt(
        hub, repo, sidecars):
    ada = sidecars.agent(hub, "ada")
    first = sidecars.start(ada)
    task_id = submit(hub, "wait", max_retries=0)  # a counted failure would send it to the dead letter
    run = started_run(hub, ada, task_id)
    before = task(hub, task_id)

    # Ctrl-C in the terminal (or a container's stop) reaches the sidecar and the agent alike
    first.proc.send_signal(signal.SIGINT)
    first.stop()
    os.killpg(run["pgid"], signal.SIGINT)
    ended = wait_for(lambda: (ada.run_dir(task_id) / "exit.json").exists() and ada.run_dir(task_id) / "exit.json")
    assert json.loads(ended.read_text())["code"] == -signal.SIGINT  # the wrapper saw the agent die of it
    second = sidecars.start(ada)

    wait_for(lambda: ("working", "queued", 1) in moves(hub, task_id), timeout=15)
    steps = history(hub, task_id)
    back = next(h for h in steps if (h["from"], h["to"]) == ("working", "queued"))
    assert back["reason"].startswith("ada's run 1 of attempt 1 was interrupted: the sidecar was stopped (SIGINT); "
                                     "the agent was killed by signal 2; not counted as an attempt")
    given = steps[steps.index(back) + 1]  # no backoff: given out again by the same pass
    assert (given["from"], given["to"], given["attempt"]) == ("queued", "assigned", 2)
    assert given["time"] - back["time"] <= 1
    now = task(hub, task_id)
    assert now["attempt"] - now["attempt_base"] == before["attempt"] - before.get("attempt_base", 0) == 1
    assert "retry_at" not in now and "last_error" not in now and now["interruptions"] == 1
    log = agentcom("log", task_id, "--repo", str(repo), check=True).stdout
    assert "working → queued  attempt 1: ada's run 1 of attempt 1 was interrupted" in log, log

    wait_for(lambda: len(ada.runs(task_id)) == 2, timeout=15)
    ada.release(task_id)
    wait_for(lambda: state(hub, task_id) == "done", timeout=15)
    assert task(hub, task_id)["outcome"]["attempt"] == 2
    assert "run 1 of attempt 1 ended: interrupted (the sidecar was stopped (SIGINT)" in second.output()
    wait_for(lambda: ada.finished_dir(task_id, 2).exists())
    assert list((ada.state_dir / "stops").iterdir()) == []


def test_an_agent_that_kills_itself_with_sigterm_fails_its_attempt_and_backs_off(hub, sidecars):
    ada = sidecars.agent(hub, "ada")
    sidecars.start(ada)
    task_id = submit(hub, "die 15")

    wait_for(lambda: ("working", "queued", 1) in moves(hub, task_id), timeout=15)
    t = task(hub, task_id)
    assert t["outcome"]["kind"] == "failed" and "was killed by signal 15 without writing a result" in t["last_error"]
    assert t["retry_at"] and "interruptions" not in t  # no stop was noted: the death is the agent's own


def test_an_agent_that_forges_the_operators_stop_and_kills_itself_fails_its_attempt_and_backs_off(
        hub, repo, sidecars):
    ada = sidecars.agent(hub, "ada")
    sidecars.start(ada)
    task_id = submit(hub, "forge-stop")

    wait_for(lambda: ("working", "queued", 1) in moves(hub, task_id), timeout=15)
    attack = json.loads((ada.records / f"forged.{task_id}.json").read_text())
    stops = ada.state_dir / "stops"
    assert str(ada.run_dir(task_id) / "interrupted.json") in attack["forged"]  # the attack was made...
    assert str(ada.run_dir(task_id) / "stops" / f"{task_id}.1.json") in attack["forged"]
    assert str(ada.state_dir / "bin" / "stops" / f"{task_id}.1.json") in attack["forged"]
    [given] = ada.runs(task_id)
    assert not any(str(stops) in value for value in given["env"].values())  # ... but nothing names the real place
    t = task(hub, task_id)
    assert t["outcome"]["kind"] == "failed" and "was killed by signal 15 without writing a result" in t["last_error"]
    assert t["retry_at"] and "interruptions" not in t and t["attempt"] - t.get("attempt_base", 0) == 1
    log = agentcom("log", task_id, "--repo", str(repo), check=True).stdout
    assert "working → queued  attempt 1: " in log and "interrupted" not in log, log
    wait_for(lambda: ada.finished_dir(task_id).exists())
    forged = json.loads((ada.finished_dir(task_id) / "interrupted.json").read_text())
    assert forged["run"] == 1 and list(stops.iterdir()) == []  # kept for reading, never believed


def test_a_run_lost_while_the_hub_took_its_task_back_is_neither_run_again_nor_said_to_be(hub, sidecars):
    ada = sidecars.agent(hub, "ada")
    first = sidecars.start(ada)
    task_id = submit(hub, "wait")
    lose_machine(first, started_run(hub, ada, task_id))
    status, body = hub.request("POST", f"/api/tasks/{task_id}/cancel", {})
    assert status == 200, body

    second = sidecars.start(ada)
    wait_for(lambda: ada.finished_dir(task_id).exists(), timeout=15)
    assert "re-running" not in second.output() and len(ada.runs(task_id)) == 1
    assert ada.outbox() == [] and list((ada.state_dir / "outbox" / "refused").iterdir()) == []
    assert [m for m in moves(hub, task_id) if m[:2] == ("working", "working")] == []


def test_a_sidecar_that_lost_its_state_runs_the_task_again_as_the_next_recorded_run(hub, sidecars):
    ada = sidecars.agent(hub, "ada")
    first = sidecars.start(ada)
    task_id = submit(hub, "wait")
    lose_machine(first, started_run(hub, ada, task_id))
    shutil.rmtree(ada.state_dir)

    second = sidecars.start(ada)
    wait_for(lambda: len(ada.runs(task_id)) == 2, timeout=15)
    wait_for(lambda: any(h["run"] == 2 for h in history(hub, task_id)), timeout=15)
    ada.release(task_id)
    wait_for(lambda: state(hub, task_id) == "done", timeout=15)
    rerun = [h for h in history(hub, task_id) if (h["from"], h["to"]) == ("working", "working")]
    assert [(h["attempt"], h["run"], h["reason"]) for h in rerun] == [
        (1, 2, "run 2 of attempt 1: this sidecar had no record of the run (its state was lost)")]
    assert task(hub, task_id)["outcome"]["runs"] == 2 and history(hub, task_id)[-1]["run"] == 2
    assert "re-running (run 2): this sidecar had no record" in second.output()


def test_tokens_spent_by_a_lost_run_count_in_the_attempts_report(hub, sidecars):
    ada = sidecars.agent(hub, "ada")
    first = sidecars.start(ada)
    task_id = submit(hub, "spend 300 40")
    run = started_run(hub, ada, task_id)
    wait_for(lambda: (ada.run_dir(task_id) / "progress.json").exists())
    lose_machine(first, run)

    sidecars.start(ada)
    wait_for(lambda: len(ada.runs(task_id)) == 2, timeout=15)
    ada.release(task_id)
    wait_for(lambda: state(hub, task_id) == "done", timeout=15)
    done = task(hub, task_id)
    assert done["tokens_used"] == 2 * (300 + 40)  # the lost run's and the last run's
    assert done["result"]["tokens"] == {"input": 600, "output": 80} and done["outcome"]["runs"] == 2
