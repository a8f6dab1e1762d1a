"""The gatekeeper inside a real hub process: GitHub's webhook deliveries (signed, badly signed,
duplicated) to POST /api/webhooks/github, reviews against the fake GitHub on 127.0.0.1, and
`agentcom gatekeeper --once` with the local forge through a running hub."""
from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request

import pytest

from coordinator.forge.github import GitHubForge
from coordinator.forge.local import LocalForge
from coordinator.wire.client import HttpBackend
from tests.support.gitenv import git
from tests.support.held import agent_holding_a_task
from tests.support.openapi import validator
from tests.support.processes import HubProcess, agentcom, wait_for
from tests.support.targets import make_remote, push_branch

SECRET = "a webhook secret of some length"
AGENT_TOKEN, GATE_TOKEN = "ghp_agentadatoken", "ghp_gatekeepertoken"
SAFE = {"app/login.py": "def login(user):\n    return '/dashboard'\n"}
RULES = ("merge:\n  required_checks: [test]\nrepos:\n  acme/web: {auto_merge: true}\n"
         "trust:\n  logins: {ada-bot: ada}\n")


def _push(clone, files: dict[str, str]) -> None:
    git(clone, "pull", "-q", "--ff-only")
    for name, text in files.items():
        (clone / name).write_text(text)
    git(clone, "commit", "-qam", "settings")
    pushed = git(clone, "push", "-q", "origin", "HEAD:main", check=False)
    assert pushed.returncode == 0, pushed.stderr


def _with_gatekeeper(clone, settings: str) -> str:
    """agentcom.yaml with its gatekeeper section replaced by `settings`."""
    text = (clone / "agentcom.yaml").read_text()
    return text[:text.index("\ngatekeeper:")] + "\ngatekeeper:\n" + settings


def _secret_file(path, text: str, mode: int = 0o600):
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def _local_settings(repo, text: str):
    """The hub's local settings file, agentcom/local.yaml in the bare repo (never in git)."""
    path = repo / "agentcom" / "local.yaml"
    path.write_text(text)
    path.chmod(0o600)


def deliver(hub, event: str, payload: dict | bytes, delivery: str, secret: str | None = SECRET,
            extra: dict | None = None) -> tuple[int, dict]:
    """One delivery as GitHub makes it: `payload` as UTF-8 JSON (or these very bytes), signed."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    headers = {**(extra or {}), "Content-Type": "application/json", "X-GitHub-Event": event,
               "X-GitHub-Delivery": delivery, "User-Agent": "GitHub-Hookshot/test"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(hub.url + "/api/webhooks/github", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _decisions(repo) -> list[str]:
    return git(repo, "log", "--format=%s", "--grep=^gatekeeper:", "main").stdout.splitlines()


@pytest.fixture
def github_hub(repo, clone, fake_github, tmp_path):
    """A hub whose gatekeeper reviews acme/web on the fake GitHub, polling only hourly."""
    remote = make_remote(tmp_path / "remotes")
    fake_github.add_user("ada-bot", AGENT_TOKEN)
    fake_github.add_user("agentcom-gatekeeper", GATE_TOKEN)
    fake_github.add_repo("acme/web", remote)
    _secret_file(repo / "agentcom" / "secrets" / "github.token", GATE_TOKEN)
    _secret_file(repo / "agentcom" / "secrets" / "webhook.secret", SECRET)
    _local_settings(repo, f"gatekeeper:\n  forge: github\n  target: acme/web\n  github_api: {fake_github.url}\n"
                          "  github_token_file: github.token\n  webhook_secret_file: webhook.secret\n")
    _push(clone, {"gatekeeper.yaml": RULES, "agentcom.yaml": _with_gatekeeper(clone, "  interval: 1h\n")})
    hub = HubProcess(repo)
    yield hub, remote, tmp_path
    hub.stop()


def test_a_signed_delivery_gets_the_pr_reviewed_and_merged_and_a_repeat_is_ignored(github_hub, fake_github, repo):
    hub, remote, tmp = github_hub
    token, _ = agent_holding_a_task(hub, "ada", id="T-1", prompt="send users to the dashboard", repo="acme/web")
    head = push_branch(remote, tmp, "agent/ada/T-1-fix", SAFE)
    agent = GitHubForge("acme/web", AGENT_TOKEN, fake_github.url)
    pr = agent.open_pr("agent/ada/T-1-fix", "main", "Fix", "AgentCom task `T-1`, by agent `ada`.", ("agent:ada",))
    fake_github.add_check_run("acme/web", head, "test")
    for report in ({"kind": "accepted", "attempt": 1}, {"kind": "done", "attempt": 1, "pr_url": pr.url}):
        assert hub.request("POST", "/api/tasks/T-1/report", report, token=token)[0] == 200   # it waits in review
    payload = {"action": "opened", "number": pr.number, "repository": {"full_name": "acme/web"},
               "pull_request": {"number": pr.number, "head": {"sha": head}}}
    status, body = deliver(hub, "pull_request", payload, "d-1")
    assert (status, body["queued"]) == (202, [pr.number])
    wait_for(lambda: fake_github.repos["acme/web"].pulls[pr.number].merged, timeout=20)
    wait_for(lambda: _decisions(repo) == [f"gatekeeper: acme/web#{pr.number} merge (score 0)",
                                          f"gatekeeper: acme/web#{pr.number} merging (score 0)"], timeout=10)
    assert deliver(hub, "pull_request", payload, "d-1") == (200, {"delivery": "d-1", "duplicate": True})
    log = agentcom("log", "T-1", "--hub", hub.url, check=True).stdout
    assert "gatekeeper: merge" in log and head[:12] in log
    stages = {s["stage"]: s["count"] for s in hub.request("GET", "/api/state")[1]["pipeline"]}
    assert stages["merged"] == 1
    state = hub.request("GET", "/api/reviews")[1]["reviews"]
    assert [(r["pull"], r["action"], r["merged_by"]) for r in state] == [(pr.number, "merge", "agentcom-gatekeeper")]
    wait_for(lambda: hub.request("GET", "/api/tasks/T-1")[1]["state"] == "done")   # its PR merged
    wait_for(lambda: fake_github.repos["acme/web"].sha("agent/ada/T-1-fix") is None)   # its branch deleted


def test_badly_signed_and_unsigned_deliveries_are_refused_and_change_nothing(github_hub, repo):
    hub, _, _ = github_hub
    before = git(repo, "rev-parse", "main").stdout
    payload = {"action": "opened", "number": 1, "repository": {"full_name": "acme/web"}}
    status, body = deliver(hub, "pull_request", payload, "d-2", secret="not the secret")
    assert status == 401 and "X-Hub-Signature-256" in body["message"]
    assert deliver(hub, "pull_request", payload, "d-3", secret=None)[0] == 401
    # exempt from the cross-site check, and judged by its signature alone
    assert deliver(hub, "pull_request", payload, "d-7", secret="wrong",
                   extra={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})[0] == 401
    # a refused delivery is not remembered: the same id, signed, is then taken
    assert deliver(hub, "ping", {"zen": "hi"}, "d-2") == (200, {"delivery": "d-2", "event": "ping", "ignored": True})
    assert git(repo, "rev-parse", "main").stdout == before


def test_a_legal_pr_body_of_65536_emoji_is_taken_not_refused_as_too_large(github_hub):
    hub, _, _ = github_hub
    payload = {"action": "edited", "number": 7, "repository": {"full_name": "acme/web"},
               "pull_request": {"number": 7, "body": "\U0001F600" * 65536},
               "changes": {"body": {"from": "\U0001F4A9" * 65536}}}  # GitHub sends the old body too
    assert len(json.dumps(payload, ensure_ascii=False).encode()) > 512 * 1024
    status, body = deliver(hub, "pull_request", payload, "d-big")
    assert (status, body["queued"]) == (202, [7])


def test_a_delivery_first_refused_for_its_body_is_taken_when_github_redelivers_it(github_hub):
    hub, _, _ = github_hub
    payload = {"action": "opened", "number": 8, "repository": {"full_name": "acme/web"}}
    for broken in (b"{not json", b'{"number": 8, "number": 9}', b"[" * 1000 + b"]" * 1000,
                   b'{"number": 8, "repository": {"full_name": "\\ud800"}}', b'{"n": ' + b"9" * 5000 + b"}"):
        status, body = deliver(hub, "pull_request", broken, "d-9")
        assert (status, body["error"], body["delivery"]) == (400, "BadJson", "d-9"), broken[:30]
    assert deliver(hub, "pull_request", payload, "d-9", secret="not the secret")[0] == 401
    status, body = deliver(hub, "pull_request", payload, "d-9")
    assert (status, body["queued"]) == (202, [8])  # not dropped as a duplicate of the broken ones
    assert deliver(hub, "pull_request", payload, "d-9") == (200, {"delivery": "d-9", "duplicate": True})
    assert "Traceback" not in hub.stop()


def test_a_check_run_or_status_event_reviews_the_pr_with_that_head(github_hub, fake_github, repo):
    hub, remote, tmp = github_hub
    head = push_branch(remote, tmp, "agent/ada/T-2-ci", {".github/workflows/ci.yml": "on: push\n"})
    agent = GitHubForge("acme/web", AGENT_TOKEN, fake_github.url)
    pr = agent.open_pr("agent/ada/T-2-ci", "main", "CI", "", ("agent:ada",))
    run = fake_github.add_check_run("acme/web", head, "test")
    status, body = deliver(hub, "check_run", {"action": "completed", "repository": {"full_name": "acme/web"},
                                              "check_run": {**run, "pull_requests": []}}, "d-4")
    assert (status, body["queued"]) == (202, [head])
    wait_for(lambda: any("escalate" in d for d in _decisions(repo)), timeout=20)
    assert "agentcom:needs-human" in fake_github.repos["acme/web"].pulls[pr.number].labels
    state = hub.request("GET", "/api/state")[1]
    validator("State").validate(state)
    [shown] = state["escalations"]["items"]
    assert (shown["pull"], shown["action"], shown["url"]) == (pr.number, "escalate",
                                                              fake_github.root + f"/acme/web/pull/{pr.number}")
    assert any("ci" in reason for reason in shown["reasons"])
    [waiting] = [c for c in state["health"]["items"] if c["kind"].startswith("pr_")]
    assert (waiting["kind"], waiting["subject"], waiting["url"]) == ("pr_escalated", f"acme/web#{pr.number}",
                                                                     shown["url"])
    other = deliver(hub, "status", {"sha": head, "repository": {"full_name": "acme/other"}}, "d-5")
    assert other[1]["ignored"] is True


def test_with_no_secret_configured_every_delivery_is_refused(hub):
    status, body = deliver(hub, "ping", {}, "d-6")
    assert status == 403 and "webhook_secret_file" in body["message"]


def test_a_secret_file_others_can_read_is_refused_at_start(repo, tmp_path):
    loose = _secret_file(tmp_path / "secrets" / "loose.secret", SECRET, 0o644)
    _secret_file(tmp_path / "secrets" / "t", "x")
    done = agentcom("hub", "--repo", str(repo), "--port", "0", "--forge", "github", "--target", "acme/web",
                    "--github-token-file", "t", "--webhook-secret-file", "loose.secret", timeout=30,
                    env={"AGENTCOM_GATEKEEPER_SECRET_DIR": str(tmp_path / "secrets")})
    assert done.returncode == 2 and f"chmod 600 {loose}" in done.stderr


def test_agentcom_gatekeeper_once_reviews_local_forge_prs_through_a_running_hub(hub, repo, tmp_path):
    remote = make_remote(tmp_path / "remotes")
    clone = tmp_path / "coord"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    _push(clone, {"gatekeeper.yaml": RULES})
    token, _ = agent_holding_a_task(hub, "ada", id="T-3", prompt="fix the login", repo=str(remote))
    head = push_branch(remote, tmp_path, "agent/ada/T-3-fix", SAFE)
    forge = LocalForge(HttpBackend(hub.url, token), str(remote), "T-3")
    pr = forge.open_pr("agent/ada/T-3-fix", "main", "Fix", "AgentCom task `T-3`, by agent `ada`.", ("agent:ada",))
    LocalForge(HttpBackend(hub.url, hub.token), str(remote)).set_status(head, "success", "test", "CI passed")  # CI
    for report in ({"kind": "accepted", "attempt": 1}, {"kind": "done", "attempt": 1, "pr_url": pr.url}):
        assert hub.request("POST", "/api/tasks/T-3/report", report, token=token)[0] == 200   # it waits in review
    done = agentcom("gatekeeper", "--once", "--forge", "local", "--target", str(remote), "--hub", hub.url,
                    check=True, env={"AGENTCOM_TOKEN": hub.token})
    assert done.stdout.strip(), done.stderr
    [line] = [json.loads(x) for x in done.stdout.splitlines()]
    assert (line["pull"], line["action"], line["head_sha"], line["recorded"]) == (pr.number, "merge", head, True)
    assert git(tmp_path, "--git-dir", str(remote), "show", "main:app/login.py").stdout == SAFE["app/login.py"]
    record = hub.request("GET", f"/api/prs/{pr.number}")[1]
    assert (record["state"], record["merged"], record["merged_by"]) == ("closed", True, "local operator")
    again = agentcom("gatekeeper", "--once", "--forge", "local", "--target", str(remote), "--hub", hub.url,
                     check=True, env={"AGENTCOM_TOKEN": hub.token})
    assert again.stdout == ""   # a merged PR is no longer open: nothing to review
    assert hub.request("GET", "/api/tasks/T-3")[1]["state"] == "done"   # its task settled through the hub


def test_delivery_ids_are_remembered_within_a_bound():
    from coordinator.web.webhooks import Deliveries, signed, targets

    seen = Deliveries(kept=3)
    assert [seen.first_time(d) for d in ("a", "b", "a", "c", "d")] == [True, True, False, True, True]
    assert seen.first_time("a") is True and len(seen._seen) == 3   # the oldest was forgotten
    body = b'{"zen": "x"}'
    good = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert signed(b"k", body, good) and not signed(b"k", body + b" ", good)
    assert not signed(b"k", body, good.replace("sha256=", "sha1=")) and not signed(b"k", body, None)
    sha = "a" * 40
    assert targets("check_suite", {"check_suite": {"head_sha": sha, "pull_requests": [{"number": 4}]}}) == [4]
    assert targets("status", {"sha": "not-a-sha"}) == []
    assert targets("check_run", {"check_run": {"head_sha": sha, "pull_requests": []}}) == [sha]


def test_agentcom_gatekeeper_once_without_a_hub_becomes_the_coordinator_for_its_run(repo, clone, fake_github,
                                                                                 tmp_path):
    remote = make_remote(tmp_path / "remotes")
    fake_github.add_user("ada-bot", AGENT_TOKEN)
    fake_github.add_user("agentcom-gatekeeper", GATE_TOKEN)
    fake_github.add_repo("acme/web", remote)
    _secret_file(repo / "agentcom" / "secrets" / "github.token", GATE_TOKEN)
    _push(clone, {"gatekeeper.yaml": RULES})
    head = push_branch(remote, tmp_path, "agent/ada/T-4-ci", {".github/workflows/ci.yml": "on: push\n"})
    pr = GitHubForge("acme/web", AGENT_TOKEN, fake_github.url).open_pr("agent/ada/T-4-ci", "main", "CI", "",
                                                                       ("agent:ada",))
    fake_github.add_check_run("acme/web", head, "test")
    args = ["gatekeeper", "--once", "--repo", str(repo), "--forge", "github", "--target", "acme/web",
            "--github-api", fake_github.url, "--github-token-file", "github.token"]
    done = agentcom(*args, check=True)
    assert json.loads(done.stdout)["action"] == "escalate"
    [decided] = _decisions(repo)
    assert decided.startswith(f"gatekeeper: acme/web#{pr.number} escalate (score ")
    _secret_file(repo / "agentcom" / "secrets" / "loose", "x", 0o640)
    bad = agentcom(*args[:-2], "--github-token-file", "loose")
    assert bad.returncode == 2 and "chmod 600" in bad.stderr
    worse = agentcom(*args, "--interval", "soon")
    assert worse.returncode == 2 and "--interval" in worse.stderr


def test_the_notify_webhook_address_comes_from_a_0600_file_never_the_rules(tmp_path):
    from coordinator.reviewer.options import Setup
    from coordinator.wire.errors import UsageError

    good = _secret_file(tmp_path / "notify.url", "https://hooks.example/services/T0/B0/s3cret")
    assert Setup("github", "acme/web", notify_webhook_file=str(good)).notify_webhook() == \
        "https://hooks.example/services/T0/B0/s3cret"
    assert Setup("github", "acme/web").notify_webhook() is None
    loose = _secret_file(tmp_path / "loose.url", "https://hooks.example/x", 0o644)
    with pytest.raises(UsageError, match="chmod 600"):
        Setup("github", "acme/web", notify_webhook_file=str(loose)).notify_webhook()
    odd = _secret_file(tmp_path / "odd.url", "ftp://hooks.example/x")
    with pytest.raises(UsageError, match="http:// or https:// address"):
        Setup("github", "acme/web", notify_webhook_file=str(odd)).notify_webhook()


def test_a_delivery_whose_review_cannot_be_queued_is_not_marked_seen_so_a_redelivery_is_taken(repo):
    from coordinator.hub.hub import Hub
    from coordinator.repo.tokens import TokenStore
    from coordinator.reviewer.reviewer import Reviewer
    from coordinator.reviewer.thread import QUEUE_MAX, GatekeeperService
    from coordinator.web import create_app

    hub = Hub(repo, role="cli")
    try:
        service = GatekeeperService(Reviewer(None, None, "acme/web", "acme/web"), 3600)  # never started
        app = create_app(hub, TokenStore(repo), gatekeeper=service, webhook_secret=SECRET)
        body = json.dumps({"action": "opened", "number": 7, "repository": {"full_name": "acme/web"}}).encode()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d-9",
                   "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}
        for _ in range(QUEUE_MAX):
            service.wanted("all")   # the queue is full
        client = app.test_client()
        full = client.post("/api/webhooks/github", data=body, headers=headers)
        assert full.status_code == 503 and full.headers["Retry-After"] == "60" and full.get_json()["queued"] == []
        while not service._wanted.empty():
            service._wanted.get_nowait()   # the queue drains
        again = client.post("/api/webhooks/github", data=body, headers=headers)
        assert again.status_code == 202 and again.get_json()["queued"] == [7]
        assert client.post("/api/webhooks/github", data=body, headers=headers).get_json()["duplicate"] is True
    finally:
        hub.close()
