"""proc-receive: git hands this hook every push to refs/for/ (receive.procReceiveRefs) and waits
for its word on each ref, over pkt-lines (`git help githooks`, proc-receive). The running hub
checks the task files a push to refs/for/main adds and queues them through its loop
(`POST /api/hooks/proc-receive`); with no hub, `agentcom hook proc-receive` does the same in this
process's place. Each ref is answered `ok` (no ref is left under refs/for/) or `ng` with the
reason, and the pusher reads the task ids or every problem. Standard library only, so it starts
in a few milliseconds.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the hooks folder out
import hubcall  # noqa: E402 - found only once the line above ran

TIMEOUT = 60      # the hub answers within its own limit on a call (30 s)
MAX_PKT = 65520   # git's largest pkt-line
MAX_LINES = 1000  # lines in one section: git sends one command per pushed ref


class Unsure(Exception):
    """The hub took the request and gave no answer: the tasks may be queued or not."""


def read_pkt(stream):
    """One pkt-line's payload, or None at a flush-pkt."""
    head = stream.read(4)
    if len(head) != 4:
        raise EOFError("git closed the conversation early")
    size = int(head, 16)
    if size == 0:
        return None
    if not 4 < size <= MAX_PKT:
        raise ValueError(f"bad pkt-line length {size}")
    data = stream.read(size - 4)
    if len(data) != size - 4:
        raise EOFError("git closed the conversation in a pkt-line")
    return data


def read_section(stream) -> list:
    lines = []
    while (pkt := read_pkt(stream)) is not None:
        lines.append(pkt)
        if len(lines) > MAX_LINES:
            raise ValueError("too many lines from git")
    return lines


def write_pkt(stream, text=None) -> None:
    if text is None:
        stream.write(b"0000")
        return
    data = text.encode("utf-8", "replace")[: MAX_PKT - 5] + b"\n"
    stream.write(b"%04x" % (len(data) + 4) + data)


def ask_hub(git_dir: str, commands: list):
    """The hub's answer, or None if no hub is there to take the request."""
    where = hubcall.address(git_dir)
    conn = where and hubcall.connect(where, TIMEOUT)
    if not conn:
        return None
    try:
        status, body = hubcall.post(conn, where, "/api/hooks/proc-receive", {"updates": commands})
    except (OSError, ValueError) as e:
        raise Unsure(f"the hub did not answer ({type(e).__name__})") from None
    finally:
        conn.close()
    if status == 200:
        return body
    if status >= 500:  # 503: the loop was busy, and the change may still land
        raise Unsure(f"the hub answered {status}: {body.get('message', '')}")
    if status in (401, 403):
        return None  # refused the hook itself (a token it no longer holds): the local path says why
    why = f"the hub refused this push: {str(body.get('message', ''))[:500]}; nothing was queued"
    return {"lines": [why], "results": [{"ref": c.split()[-1], "ok": False, "reason": why} for c in commands]}


def ask_cli(cli: str, commands: list) -> dict:
    done = subprocess.run([sys.executable, cli, "hook", "proc-receive"], input="\n".join(commands).encode(),
                          stdout=subprocess.PIPE, timeout=TIMEOUT)
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise Unsure(f"agentcom hook proc-receive failed (exit {done.returncode})") from None


def answer(commands: list) -> dict:
    try:
        found = ask_hub(os.environ.get("GIT_DIR", "."), commands)
        return found if found is not None else ask_cli(sys.argv[1], commands)
    except (Unsure, subprocess.TimeoutExpired, OSError) as e:
        why = (f"{e}; your tasks may have been queued all the same: git fetch and look at main "
               "before you push them again")
        return {"lines": [why], "results": [{"ref": c.split()[-1], "ok": False, "reason": why} for c in commands]}


def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    hello = read_section(stdin)
    if not hello or not hello[0].startswith(b"version=1"):
        print("agentcom: proc-receive: git spoke a protocol version this hook does not know", file=sys.stderr)
        return 1
    write_pkt(stdout, "version=1")
    write_pkt(stdout)
    stdout.flush()
    commands = [line.decode("utf-8", "replace").rstrip("\n") for line in read_section(stdin)]
    commands = [c for c in commands if len(c.split()) == 3]
    told = answer(commands)
    for line in told["lines"]:
        print(f"agentcom: {line}", file=sys.stderr)
    results = {r["ref"]: r for r in told["results"]}
    for command in commands:
        ref = command.split()[2]
        result = results.get(ref) or {"ok": False, "reason": "the hub gave no answer for this ref"}
        if result["ok"]:
            write_pkt(stdout, f"ok {ref}")
        else:
            write_pkt(stdout, f"ng {ref} " + " ".join(str(result["reason"]).split())[:1000])
    write_pkt(stdout)
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
