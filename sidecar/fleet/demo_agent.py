"""The built-in demo agent (standard library only): what `agentcom demo` and `agentcom smoke` run
instead of a real coding agent. It finds "number N" in its task's prompt, writes N to
$AGENTCOM_DEMO_OUT/ID.txt, and reports done through `agentcom-report`, like any agent.

"take 3s" in the prompt makes it sleep that long first (so a test can kill it mid-task).
$AGENTCOM_DEMO_OUT/ID.jsonl gets one line per event (started, wrote, reported), with the time,
agent, attempt and pid, so a harness can tell who ran what and when. It runs no model: the
token counts it reports are the fixed numbers below.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

TOKENS_IN, TOKENS_OUT = 100, 20       # fixed: no model runs here
MAX_SLEEP = 600.0
_NUMBER = re.compile(r"\bnumber (-?\d{1,30})\b")
_TAKE = re.compile(r"\btake (\d{1,4}(?:\.\d{1,3})?)s\b", re.IGNORECASE)


def _note(out: Path, task_id: str, event: str, at: float | None = None, **fields) -> None:
    attempt = os.environ.get("AGENTCOM_ATTEMPT", "")
    line = json.dumps({"event": event, "at": at or time.time(), "agent": os.environ.get("AGENTCOM_AGENT"),
                       "attempt": int(attempt) if attempt.isdigit() else None, "pid": os.getpid(), **fields})
    fd = os.open(out / f"{task_id}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())  # one write with O_APPEND: lines never interleave
    finally:
        os.close(fd)


def _report(argv: list[str], out: Path, task_id: str) -> int:
    _note(out, task_id, "reported", command=shlex.join(argv))
    return subprocess.run(argv).returncode


def main() -> int:
    started = time.time()
    try:
        task = json.loads(Path(os.environ["AGENTCOM_TASK_FILE"]).read_text())
        out = Path(os.environ["AGENTCOM_DEMO_OUT"])
    except KeyError as e:
        print(f"demo agent: ${e.args[0]} is not set (the sidecar config's env: gives AGENTCOM_DEMO_OUT)",
              file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    task_id, prompt = task["id"], str(task.get("prompt") or "")
    _note(out, task_id, "started", at=started)
    number = _NUMBER.search(prompt)
    if number is None:
        return _report(["agentcom-report", "failed", "--permanent", "--reason",
                        "the demo agent needs 'number N' in the prompt"], out, task_id)
    take = _TAKE.search(prompt)
    if take:
        time.sleep(min(float(take.group(1)), MAX_SLEEP))
    target = out / f"{task_id}.txt"
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    tmp.write_text(number.group(1) + "\n")
    os.replace(tmp, target)
    _note(out, task_id, "wrote", value=number.group(1))
    code = _report(["agentcom-report", "done", "--summary", f"wrote {number.group(1)}",
                    "--tokens-in", str(TOKENS_IN), "--tokens-out", str(TOKENS_OUT)], out, task_id)
    return code


if __name__ == "__main__":
    sys.exit(main())
