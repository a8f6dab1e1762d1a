"""A push to refs/for/main (Gerrit's convention), taken while git waits in the proc-receive hook:
the task files its commits add since they left main are checked by the push rules and queued by
the loop, all or none. It needs no up-to-date main, because the hub takes the files, not the
commits: nothing is left under refs/for/, and main gets the hub's own commits.

The answer is per ref, as the hook reports it to git: ok, or ng with a one-line reason; `lines`
are what the pusher reads (the ids and paths queued, or every problem).
"""
from __future__ import annotations

from coordinator.core.layout import State, location
from coordinator.hub.batch import Batch
from coordinator.repo.gitrepo import GitRepo
from coordinator.repo.pushcheck import FOR_MAIN, Findings, check_for_main, parse_updates, told
from coordinator.wire.errors import InvalidTask, UsageError

MAX_REFS = 100  # ref updates in one proc-receive call (git sends one line per pushed ref)


def take(hub, lines: list[str]) -> dict:
    """`old new ref` lines of refs under refs/for/ → {"code", "lines", "results": [{ref, ok, reason}]}."""
    updates = parse_updates(lines)
    if len(updates) > MAX_REFS:
        raise UsageError(f"at most {MAX_REFS} refs in one push to refs/for/")
    results, said = [], []
    for _, new, ref in updates:
        if ref != FOR_MAIN:
            reason = f"{ref} takes nothing: tasks for main are pushed to {FOR_MAIN} (git push origin HEAD:{FOR_MAIN})"
            results.append({"ref": ref, "ok": False, "reason": reason})
            said.append(f"push refused: {reason}")
            continue
        ok, reason, out = _for_main(hub, new)
        results.append({"ref": ref, "ok": ok, "reason": reason})
        said.extend(out)
    return {"code": 0 if all(r["ok"] for r in results) else 1, "lines": said, "results": results}


def _for_main(hub, new: str) -> tuple[bool, str, list[str]]:
    git = GitRepo(hub.repo_path)  # a handle of this thread's own: the loop's is the loop's
    try:
        found, files = check_for_main(git, new)
        author = git.repo[new].author if not found.problems else None
    finally:
        git.close()
    if found.problems:
        return False, _summary(found.problems), told(found)[1]
    source = f"push to {FOR_MAIN} by {author.name} <{author.email}> ({new[:10]})"
    try:
        tasks = hub.call(Batch.submit_files, files, source)
    except InvalidTask as e:  # an id taken since the check: nothing of the push was queued
        problems = [f"{e.where}: {p}" for p in e.problems]
        return False, _summary(problems), told(Findings(problems, found.notes))[1]
    queued = [f"queued {t['id']} as {location(State.QUEUED, t['id'], lane=t['priority']).path} (from {path})"
              for (path, _), t in zip(files, tasks, strict=True)]
    return True, "", queued + found.notes


def _summary(problems: list[str]) -> str:
    """The one line git shows after `[remote rejected]`; the full list is printed above it."""
    first = problems[0] if len(problems[0]) <= 160 else problems[0][:157] + "..."
    more = len(problems) - 1
    return first + (f" (and {more} more, above)" if more else "")
