"""The agent that bench/torture.py runs (standard library only). It appends one line to the
ledger ($TORTURE_LEDGER, outside every sidecar's state, so a lost disk does not lose it) when a
run starts, sleeps as long as the task's metadata says, and reports through `agentcom-report` or
the result file, as the metadata says. A task marked `fail_first` fails its first attempt (not
permanently), so retries happen even without a kill.

Task metadata (set by the harness): {"torture": {"sleep": 0.4, "report": "command" | "file",
"fail_first": false}}.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

MAX_SLEEP = 30.0


def _start_ticks() -> int:
    """This process's start time in clock ticks (as /proc shows it), so the harness can tell this
    process from a later one that reuses its pid."""
    return int(Path("/proc/self/stat").read_text().rpartition(")")[2].split()[19])


def note_start(ledger: Path, task_id: str, attempt: int) -> None:
    line = json.dumps({"task": task_id, "attempt": attempt, "agent": os.environ.get("AGENTCOM_AGENT"),
                       "pid": os.getpid(), "start": _start_ticks(), "at": time.time()})
    fd = os.open(ledger, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())  # one write with O_APPEND: lines never interleave
        os.fsync(fd)
    finally:
        os.close(fd)


def write_result(path: Path, result: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)


def report(how: str, result: dict) -> int:
    if how == "file":
        write_result(Path(os.environ["AGENTCOM_RESULT_FILE"]), result)
        return 0
    if result["status"] == "done":
        argv = ["agentcom-report", "done", "--summary", result["summary"], "--tokens-in", "10", "--tokens-out", "2"]
    else:
        argv = ["agentcom-report", "failed", "--reason", result["reason"]]
    return subprocess.run(argv, timeout=60).returncode


def main() -> int:
    try:
        task = json.loads(Path(os.environ["AGENTCOM_TASK_FILE"]).read_text())
        ledger = Path(os.environ["TORTURE_LEDGER"])
        attempt = int(os.environ["AGENTCOM_ATTEMPT"])
    except (KeyError, ValueError) as e:
        print(f"torture agent: cannot read its task or environment: {e}", file=sys.stderr)
        return 2
    note_start(ledger, task["id"], attempt)
    plan = ((task.get("metadata") or {}).get("torture")) or {}
    time.sleep(min(float(plan.get("sleep", 0.2)), MAX_SLEEP))
    if plan.get("fail_first") and attempt == 1:
        result = {"status": "failed", "reason": "the torture agent fails every first attempt of this task"}
    else:
        result = {"status": "done", "summary": f"slept {plan.get('sleep')} s"}
    return report(plan.get("report", "command"), result)


if __name__ == "__main__":
    sys.exit(main())
