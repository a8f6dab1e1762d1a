"""A stand-in for a coding agent, run by the sidecar in tests (standard library only).

It first records what it was given (argv, stdin, environment, pid, process group) as
$FAKE_AGENT_RECORDS/run.TASK_ID.ATTEMPT.PID.json (stdin beside it, in .stdin), then does what
the first line of the task's prompt says, reporting through `agentcom-report` (found on PATH)
as a real agent would:

    done [SUMMARY]          report done, exit 0
    sleep SECONDS           sleep, then report done
    wait                    wait until the test creates $FAKE_AGENT_RECORDS/release.TASK_ID, then done
    exit CODE [MESSAGE]     write MESSAGE to stderr, exit CODE without a result
    no-result               exit 0 without a result
    commit FILE TEXT        add the line TEXT to FILE in its working directory, git commit it, report done
    commit-wait FILE        add a line naming this run to FILE, commit it, then `wait`
    pr URL                  report done with URL as the pull request it opened itself
    fail [permanent:] WHY   report failed (permanently with `permanent:`), exit 0
    hang                    ignore SIGTERM, start a child in the same process group, never end
    spend IN OUT            report progress with IN/OUT tokens spent so far, `wait`, then done with them
    die SIGNAL              kill itself with SIGNAL (a number), having reported nothing
    forge-stop              fake an operator's stop: write a stop mark naming this run in its run
                            folder and in every folder its environment names (as interrupted.json
                            and as stops/ID.ATTEMPT.json), list them in forged.TASK_ID.json, then
                            kill itself with SIGTERM

A merge in progress in its working directory (a pull request sent back for a conflict) comes
first, whatever the prompt: each conflicted file becomes the line "resolved", then git add,
git commit --no-edit, and it reports done.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

WAIT_LIMIT = 60  # seconds `wait` and `hang` last at most, so a forgotten agent still ends


def started(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])


def record(records: Path, name: str, doc: dict, stdin: bytes) -> None:
    """NAME.json and NAME.stdin, each written whole (a reader never sees half a record)."""
    for suffix, data in ((".stdin", stdin), (".json", json.dumps(doc, indent=1).encode())):
        tmp = records / f".{name}{suffix}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, records / f"{name}{suffix}")


def released(records: Path, task_id: str) -> bool:
    """Wait until the test creates release.TASK_ID (False after WAIT_LIMIT seconds)."""
    release = records / f"release.{task_id}"
    deadline = time.monotonic() + WAIT_LIMIT
    while not release.exists():
        if time.monotonic() > deadline:
            print("fake agent: never released", file=sys.stderr)
            return False
        time.sleep(0.05)
    return True


def report(*args: str) -> None:
    subprocess.run(["agentcom-report", *args], check=True, stdout=subprocess.DEVNULL, timeout=30)


def resolve_merge() -> bool:
    """Finish a merge in progress here, if any (every conflicted file becomes "resolved")."""
    if subprocess.run(["git", "rev-parse", "-q", "--verify", "MERGE_HEAD"], capture_output=True).returncode != 0:
        return False
    out = subprocess.run(["git", "diff", "--name-only", "--diff-filter=U", "-z"], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    files = [name for name in out.split("\0") if name]
    for name in files:
        Path(name).write_text("resolved\n")
    for args in (["add", "--", *files], ["commit", "-q", "--no-edit"]):
        subprocess.run(["git", *args], check=True, timeout=30)
    report("done", "--summary", f"resolved {len(files)} conflict(s)")
    return True


def spend_or_die(verb: str, rest: str, records: Path, task_id: str) -> int:
    if verb == "forge-stop":
        return forge_stop(records, task_id)
    if verb == "die":
        os.kill(os.getpid(), int(rest))
        time.sleep(WAIT_LIMIT)
        return 0
    tokens_in, _, tokens_out = rest.partition(" ")
    counts = ["--tokens-in", tokens_in, "--tokens-out", tokens_out]
    report("progress", "spent some", *counts)
    if not released(records, task_id):
        return 9
    report("done", "--summary", "spent", *counts)
    return 0


def forge_stop(records: Path, task_id: str) -> int:
    """The attack on the operator's stop: a free requeue, with history blaming the operator."""
    run_dir, attempt = Path(os.environ["AGENTCOM_RUN_DIR"]), int(os.environ["AGENTCOM_ATTEMPT"])
    run = json.loads((run_dir / "run.json").read_text())["runs"]
    mark = json.dumps({"task": task_id, "attempt": attempt, "run": run,
                       "why": "the operator stopped agentcom demo", "at": time.time()}).encode()
    named = {run_dir, Path.cwd()}
    for key, value in os.environ.items():
        paths = value.split(os.pathsep) if key == "PATH" else [value] if key.startswith("AGENTCOM_") else []
        for path in map(Path, (p for p in paths if p and "\n" not in p and len(p) < 1000)):
            if path.is_dir() and (key != "PATH" or (path / "agentcom-report").exists()):
                named.add(path)
            elif path.is_file():
                named.add(path.parent)
    forged = []
    for folder in sorted(named):
        (folder / "stops").mkdir(exist_ok=True)
        for target in (folder / "interrupted.json", folder / "stops" / f"{task_id}.{attempt}.json"):
            target.write_bytes(mark)
            forged.append(str(target))
    record(records, f"forged.{task_id}", {"forged": forged, "named": sorted(map(str, named))}, b"")
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(WAIT_LIMIT)
    return 0


def main() -> int:
    records = Path(os.environ["FAKE_AGENT_RECORDS"])
    task = json.loads(Path(os.environ["AGENTCOM_TASK_FILE"]).read_text())
    stdin = sys.stdin.buffer.read()
    name = f"{task['id']}.{os.environ.get('AGENTCOM_ATTEMPT')}.{os.getpid()}"
    doc = {"argv": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd(), "pid": os.getpid(),
           "start": started(os.getpid()), "pgid": os.getpgid(0), "sid": os.getsid(0)}
    record(records, f"run.{name}", doc, stdin)

    if resolve_merge():
        return 0
    first = (task.get("prompt") or "").splitlines()[0]
    verb, _, rest = first.partition(" ")
    if verb == "done":
        report("done", "--summary", rest or "did it")
    elif verb == "sleep":
        time.sleep(float(rest))
        report("done", "--summary", f"slept {rest}s")
    elif verb == "wait":
        if not released(records, task["id"]):
            return 9
        report("done", "--summary", "released")
    elif verb == "exit":
        code, _, message = rest.partition(" ")
        print(message or f"fake agent: failing with code {code}", file=sys.stderr, flush=True)
        return int(code)
    elif verb in ("commit", "commit-wait"):
        name, _, text = rest.partition(" ")
        with open(name, "a") as f:
            f.write((text or f"run {os.getpid()}") + "\n")
        for args in (["add", "--", name], ["commit", "-q", "-m", f"{task['id']}: {name}"]):
            subprocess.run(["git", *args], check=True, timeout=30)
        if verb == "commit-wait" and not released(records, task["id"]):
            return 9
        report("done", "--summary", f"committed {name}")
    elif verb == "pr":
        report("done", "--summary", "opened my own PR", "--pr-url", rest)
    elif verb in ("spend", "die", "forge-stop"):
        return spend_or_die(verb, rest, records, task["id"])
    elif verb == "no-result":
        print("fake agent: finished, but says nothing")
    elif verb == "fail":
        permanent = rest.startswith("permanent:")
        why = rest.partition(":")[2].strip() if permanent else rest.strip()
        report("failed", "--reason", why or "it cannot be done", *(["--permanent"] if permanent else []))
    elif verb == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL ends it (the child inherits this)
        child = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({WAIT_LIMIT})"])
        record(records, f"child.{name}", {"pid": child.pid, "start": started(child.pid)}, b"")
        time.sleep(WAIT_LIMIT)
    else:
        print(f"fake agent: no behaviour named {verb!r}", file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main())
