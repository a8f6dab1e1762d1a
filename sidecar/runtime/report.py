"""agentcom-report: how an agent tells its sidecar how the task went (standard library only, so
it starts fast). It writes a file in the run's folder ($AGENTCOM_RUN_DIR); the sidecar does the
talking to the hub. The contract: docs/agent-results.md.

    agentcom-report done --summary TEXT [--pr-url URL] [--tokens-in N] [--tokens-out N] [--model NAME]
    agentcom-report failed --reason TEXT [--permanent]
    agentcom-report progress [NOTE] [--tokens-in N] [--tokens-out N]
    agentcom-report blocked NOTE
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the project root
from coordinator.wire.atomic import read_json, write_json  # noqa: E402  (standard library only)

# the hub's limits (coordinator/protocol.py REPORT_SCHEMA; a test keeps them equal)
LIMITS = {"summary": 4000, "reason": 2000, "note": 500, "pr_url": 500, "model": 100}


def _text(name: str):
    def check(value: str) -> str:
        if value == "-":
            value = sys.stdin.read()
        if len(value) > LIMITS[name]:
            raise argparse.ArgumentTypeError(f"is {len(value)} characters; at most {LIMITS[name]}")
        return value
    return check


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value) > LIMITS["pr_url"]:
        raise argparse.ArgumentTypeError("must be an http:// or https:// URL of at most 500 characters")
    return value


def _count(value: str) -> int:
    if not value.isdigit() or int(value) > 10**12:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of tokens")
    return int(value)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="agentcom-report", description="Tell AgentCom how the task went.")
    sub = p.add_subparsers(dest="kind", required=True)
    done = sub.add_parser("done", help="the task is finished")
    done.add_argument("--summary", required=True, type=_text("summary"), help="what you did ('-': stdin)")
    done.add_argument("--pr-url", type=_url, help="the pull request you opened")
    failed = sub.add_parser("failed", help="you cannot finish the task")
    failed.add_argument("--reason", required=True, type=_text("reason"), help="why ('-': stdin)")
    failed.add_argument("--permanent", action="store_true", help="another attempt cannot help")
    for q in (done, failed):
        q.add_argument("--tokens-in", type=_count, help="input tokens you used")
        q.add_argument("--tokens-out", type=_count, help="output tokens you used")
        q.add_argument("--model", type=_text("model"), help="the model you ran as")
    progress = sub.add_parser("progress", help="a short note on how it goes")
    progress.add_argument("note", nargs="?", type=_text("note"), default=None)
    progress.add_argument("--tokens-in", type=_count, help="input tokens used so far (counted if this run is lost)")
    progress.add_argument("--tokens-out", type=_count, help="output tokens used so far")
    blocked = sub.add_parser("blocked", help="you wait for a human")
    blocked.add_argument("note", type=_text("note"), help="what you need")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    run_dir = os.environ.get("AGENTCOM_RUN_DIR")
    if not run_dir or not Path(run_dir, "task.json").is_file():
        print("agentcom-report: $AGENTCOM_RUN_DIR is not set to a run's folder; "
              "run this from the command the sidecar started", file=sys.stderr)
        return 2
    run = Path(run_dir)
    tokens = {k: v for k, v in (("input", getattr(args, "tokens_in", None)),
                                ("output", getattr(args, "tokens_out", None))) if v is not None}
    if args.kind in ("progress", "blocked"):
        try:
            last = read_json(run / "progress.json") or {}
        except ValueError:
            last = {}
        seq = last.get("seq", 0) + 1 if isinstance(last.get("seq"), int) else 1
        tokens = tokens or last.get("tokens")  # a note without counts keeps the last ones
        write_json(run / "progress.json", {"kind": args.kind, "seq": seq,
                                           **({"note": args.note} if args.note else {}),
                                           **({"tokens": tokens} if tokens else {})})
        return 0
    doc = {"status": args.kind}
    for key in ("summary", "pr_url", "reason", "model"):
        if getattr(args, key, None):
            doc[key] = getattr(args, key)
    if args.kind == "failed":
        doc["permanent"] = args.permanent
    if tokens:
        doc["tokens"] = tokens
    write_json(run / "result.json", doc)
    print(f"agentcom-report: {args.kind} recorded; now exit" + (" with code 0" if args.kind == "done" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
