"""Driving a real hub through its HTTP API as agents and an operator would: register, heartbeat,
submit, take work and report; and `populate`, a small fleet with something in every section of
the status page (used by the state, page and screenshot tests)."""
from __future__ import annotations

from tests.support.gitenv import git
from tests.support.processes import wait_for


def register(hub, name, **fields) -> str:
    status, body = hub.request("POST", "/api/agents", {"name": name, **fields})
    assert status == 201, body
    return body["token"]


def beat(hub, name, token, **body):
    status, answer = hub.request("POST", f"/api/agents/{name}/heartbeat", body, token=token)
    assert status == 200, answer
    return answer


def report(hub, task_id, token, **body):
    status, answer = hub.request("POST", f"/api/tasks/{task_id}/report", body, token=token)
    assert status == 200, answer
    return answer


def submit(hub, **fields) -> str:
    status, body = hub.request("POST", "/api/tasks", {"prompt": "do it", **fields})
    assert status == 201, body
    return body["id"]


def take(hub, name, token, task_id) -> int:
    """Wait until `name` holds task_id, accept it; returns the attempt."""
    def held():
        mine = hub.request("GET", f"/api/agents/{name}/assignments", token=token)[1]["assignments"]
        return next((a["attempt"] for a in mine if a["id"] == task_id), None)
    attempt = wait_for(held)
    report(hub, task_id, token, kind="accepted", attempt=attempt)
    return attempt


def holding(hub, name) -> tuple[str, str, int]:
    """A registered agent holding one accepted task of its own: (token, task id, attempt)."""
    token = register(hub, name, capabilities=["fuzz"])
    beat(hub, name, token)
    held = submit(hub, id=f"held-by-{name}", pin=name, needs=["fuzz"])
    return token, held, take(hub, name, token, held)


def push_without_hook(repo, clone, files: dict[str, bytes] | None = None, *, symlink=False, edit=None,
                      delete=None) -> None:
    """Commit files straight to main, as a mirror or a hook removed by hand would: `files` to
    write, a symlink in inbox/, a file to `edit` by hand, one to `delete`."""
    hook = repo / "hooks" / "pre-receive"
    saved = hook.read_bytes()
    hook.unlink()
    try:
        git(clone, "pull", "-q")
        for name, data in (files or {}).items():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            (clone / name).write_bytes(data)
        if symlink:
            (clone / "inbox" / "link.yaml").symlink_to("/etc/passwd")
        if edit:
            (clone / edit).write_text("prompt: edited by hand\n")
        if delete:
            (clone / delete).unlink()
        git(clone, "add", "-A")
        git(clone, "commit", "-q", "-m", "unchecked")
        git(clone, "push", "-q")
    finally:
        hook.write_bytes(saved)
        hook.chmod(0o755)


def populate(hub) -> dict:
    """Agents working, blocked, idle and offline; completions with PR links and tokens; a dead
    task; queued work in every lane (needing a capability nobody has, so it stays queued); a
    task pinned to an agent that does not exist. Returns the agents' tokens and the task ids."""
    tokens = {name: register(hub, name, **fields) for name, fields in (
        ("ada", {"capabilities": ["git", "python"], "description": "Claude Code on build1"}),
        ("bob", {"capabilities": ["git", "python"], "description": "Codex on build2"}),
        ("cyd", {"capabilities": ["docs"], "description": "Aider on laptop"}),
        ("hal", {"capabilities": ["go"], "description": "spare, switched off"}))}
    for name in ("ada", "bob", "cyd"):
        beat(hub, name, tokens[name], url="http://127.0.0.1:9/notify")
    ids = {}
    for i, (who, title, pr, spent) in enumerate((
            ("ada", "Fix the login redirect", 12, 48210), ("bob", "Add a health check to the API", 13, 30550),
            ("ada", "Speed up the test suite", 14, 61200), ("bob", "Document the retry policy", None, 9120))):
        task_id = submit(hub, id=f"done-{i + 1}", title=title, pin=who, prompt=title)
        attempt = take(hub, who, tokens[who], task_id)
        link = {"pr_url": f"https://github.com/acme/web/pull/{pr}"} if pr else {}
        report(hub, task_id, tokens[who], kind="done", attempt=attempt, summary=f"{title}: done", **link,
               model="claude-sonnet-4", tokens={"input": spent - spent // 8, "output": spent // 8})
        ids.setdefault("done", []).append(task_id)
    ids["dead"] = submit(hub, id="migrate-db", title="Migrate the orders table", pin="bob")
    attempt = take(hub, "bob", tokens["bob"], ids["dead"])
    report(hub, ids["dead"], tokens["bob"], kind="failed", attempt=attempt, permanent=True,
           reason="the migration needs a production credential the agent does not have",
           tokens={"total": 7300})
    ids["working"] = submit(hub, id="refactor-auth", title="Refactor the auth middleware", pin="ada")
    attempt = take(hub, "ada", tokens["ada"], ids["working"])
    report(hub, ids["working"], tokens["ada"], kind="progress", attempt=attempt, note="tests pass; writing the PR text")
    ids["blocked"] = submit(hub, id="rotate-keys", title="Rotate the signing keys", pin="cyd")
    attempt = take(hub, "cyd", tokens["cyd"], ids["blocked"])
    report(hub, ids["blocked"], tokens["cyd"], kind="blocked", attempt=attempt,
           note="asks whether to revoke the old keys now")
    for lane, titles in (("urgent", ["Hotfix the checkout crash"]),
                         ("high", ["Port the CLI to Rust", "Add a Rust linter"]),
                         ("normal", ["Rewrite the parser in Rust"]), ("low", ["Rust benchmarks"])):
        for title in titles:
            ids.setdefault("queued", []).append(submit(hub, title=title, priority=lane, needs=["rust"], prompt=title))
    ids["pinned"] = submit(hub, id="ghost-work", title="Work for an agent that left", pin="ghost")
    return {"tokens": tokens, "ids": ids}
