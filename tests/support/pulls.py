"""Pull requests as GitHub describes them: changed-file items, statuses and check runs, built the
way GitHub's REST API shapes them, for the gatekeeper's tests."""
from __future__ import annotations

from coordinator.gatekeeper import rules as gk_rules
from coordinator.gatekeeper import verdict

HEAD = "3f9c2b1e" + "0" * 32
ENDED = "2026-11-30T01:00:00Z"


def changed(filename: str, patch: str | None = None, status: str = "modified", previous: str | None = None,
            additions: int | None = None, deletions: int | None = None) -> dict:
    """One item of GET /repos/{o}/{r}/pulls/{n}/files; counts come from the patch as GitHub's do."""
    lines = (patch or "").split("\n")
    added = sum(1 for line in lines if line.startswith("+"))
    removed = sum(1 for line in lines if line.startswith("-"))
    item = {"sha": "b" * 40, "filename": filename, "status": status,
            "additions": added if additions is None else additions,
            "deletions": removed if deletions is None else deletions,
            "blob_url": f"https://github.com/acme/web/blob/{HEAD}/{filename}",
            "raw_url": f"https://github.com/acme/web/raw/{HEAD}/{filename}",
            "contents_url": f"https://api.github.com/repos/acme/web/contents/{filename}?ref={HEAD}"}
    item["changes"] = item["additions"] + item["deletions"]
    if patch is not None:
        item["patch"] = patch
    if previous is not None:
        item["previous_filename"] = previous
    return item


def hunk(removed: list[str] = (), added: list[str] = (), start: int = 10, context: str = "    pass") -> str:
    """A one-hunk patch: a context line, the removed lines, the added lines, a context line."""
    body = [f" {context}"] + [f"-{r}" for r in removed] + [f"+{a}" for a in added] + [f" {context}"]
    return f"@@ -{start},{len(removed) + 2} +{start},{len(added) + 2} @@ def handler():\n" + "\n".join(body)


def status(context: str, state: str, at: str = ENDED, ident: int = 1, by: str = "ci-bot") -> dict:
    """One item of GET /repos/{o}/{r}/commits/{ref}/statuses, posted by the login `by`."""
    return {"id": ident, "state": state, "context": context, "description": None, "target_url": None,
            "created_at": at, "updated_at": at, "creator": {"login": by, "id": 7, "type": "User"}}


def run(name: str, status_: str = "completed", conclusion: str | None = "success", at: str = ENDED,
        ident: int = 1, app: str = "github-actions") -> dict:
    """One item of the check_runs list of GET /repos/{o}/{r}/commits/{ref}/check-runs, by app `app`."""
    return {"id": ident, "name": name, "head_sha": HEAD, "status": status_, "conclusion": conclusion,
            "started_at": at, "completed_at": at if status_ == "completed" else None,
            "app": {"id": 15368, "slug": app, "name": app}}


GREEN = verdict.Checks(check_runs=(run("test"),), mergeable=True, elapsed=120)
TASK = {"id": "T-42", "attempt": 1, "max_retries": 3, "token_budget": 100000, "tokens_used": 5000}


def rules_for(text: str = "") -> gk_rules.Rules:
    """Rules with one required check `test` on acme/web, plus any YAML given (merge settings)."""
    base = "repos:\n  acme/web: {required_checks: [test]}\n"
    return gk_rules.parse((text or base).encode())


def judge(files: list[dict], *, rules: gk_rules.Rules | None = None, checks: verdict.Checks = GREEN,
          task: dict | None = TASK, agent: str = "ada", title: str = "Fix the login redirect",
          body: str = "Keeps `next` through the form.", truncated: bool = False) -> verdict.Verdict:
    """Scan and judge one pull request to acme/web, head HEAD."""
    pr = {"number": 12, "title": title, "body": body, "head": {"sha": HEAD, "ref": "agent/ada/T-42"},
          "user": {"login": "agentcom-bot"}}
    return verdict.review(files, truncated, pr=pr, task=task, agent=agent, checks=checks,
                          rules=rules or rules_for(), repo="acme/web")


def fired(v: verdict.Verdict) -> set[str]:
    return {f.rule for f in v.reasons}
