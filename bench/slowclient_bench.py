"""How long /api/health takes on a real hub while clients hold connections open: idle ones, and
ones that trickle a request a byte at a time. 127.0.0.1 only; every socket is closed at the end.

    .venv/bin/python bench/slowclient_bench.py [--levels 0,100,210,600] [--trickling 50] [--samples 5]
"""
from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordinator.repo.repoinit import init_repo


def start_hub(repo: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "agentcom.py"), "hub", "--repo", str(repo), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"running at (http://\S+)", proc.stdout.readline())
        if found:
            return proc, found.group(1)
    proc.kill()
    raise SystemExit("the hub did not start")


def health_ms(url: str) -> float:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url + "/api/health", timeout=60) as answer:
            answer.read()
    except OSError:
        return float("inf")
    return (time.monotonic() - started) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="0,100,210,600", help="idle connections to hold, comma-separated")
    ap.add_argument("--trickling", type=int, default=50, help="connections trickling a request, at each level > 0")
    ap.add_argument("--samples", type=int, default=5)
    args = ap.parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    work = Path(tempfile.mkdtemp(prefix="slowclient-bench-"))
    repo, _ = init_repo(work / "hub.git")
    proc, url = start_hub(repo)
    port = int(url.rpartition(":")[2])
    print(f"hub at {url}; {args.samples} health checks per level; idle clients on 127.0.0.2, trickling on 127.0.0.3")
    try:
        for level in levels:
            sockets = [socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.2", 0))
                       for _ in range(level)]
            trickling = [socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.3", 0))
                         for _ in range(args.trickling if level else 0)]
            for s in trickling:
                s.sendall(b"POST /api/tasks HTTP/1.1\r\nX-Slow: ")
            times = []
            for _ in range(args.samples):
                times.append(health_ms(url))
                for s in trickling:
                    try:
                        s.send(b"x")
                    except OSError:
                        pass
                time.sleep(0.2)
            times.sort()
            print(f"  {level:4d} idle + {len(trickling):3d} trickling: health p50 {times[len(times) // 2]:8.1f} ms, "
                  f"max {times[-1]:8.1f} ms")
            for s in sockets + trickling:
                s.close()
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
