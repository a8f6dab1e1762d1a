"""Runs one agent command and writes down how it ended (standard library only, started by the
sidecar as its own session, so it outlives a sidecar restart and the sidecar can kill the
whole group).

    wrap.py RUN_DIR RUN_NUMBER WORKDIR STDIN_FILE|- -- ARGV...

Writes RUN_DIR/wrapper.json {pid, start, run} first, then RUN_DIR/exit.json {run, code} (or
{run, error} when the command cannot start). SIGTERM, SIGINT and SIGHUP reach the agent (same
process group) and are noted here, so the exit status is still written.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the project root
from coordinator.wire.atomic import write_json  # noqa: E402  (standard library only)


def main(argv: list[str]) -> int:
    run_dir, run, workdir, stdin_path = Path(argv[0]), int(argv[1]), argv[2], argv[3]
    command = argv[5:]
    stat = Path("/proc/self/stat").read_text().rpartition(")")[2].split()
    write_json(run_dir / "wrapper.json", {"pid": os.getpid(), "start": int(stat[19]), "run": run})
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)  # a handler (not SIG_IGN): the agent gets the default
    try:
        stdin = open(stdin_path, "rb") if stdin_path != "-" else subprocess.DEVNULL
        proc = subprocess.Popen(command, stdin=stdin, cwd=workdir)
    except OSError as e:
        write_json(run_dir / "exit.json", {"run": run, "code": None, "at": time.time(),
                                           "error": f"cannot start {command[0]!r}: {e.strerror or e}"})
        return 127
    code = proc.wait()
    write_json(run_dir / "exit.json", {"run": run, "code": code, "at": time.time()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
