"""A GitHub target's base branch must be protected (a pull request or required status checks), or
an agent's token can push to it past the gatekeeper: read from the stateful fake GitHub as the
forge reads it, and shown as a health condition by a real hub process."""
from __future__ import annotations

import json

import pytest

from coordinator.forge.github import GitHubForge
from coordinator.gatekeeper.protection import condition, judge
from coordinator.reviewer.thread import target_conditions
from tests.support.gitenv import git
from tests.support.processes import HubProcess, agentcom, wait_for
from tests.support.targets import make_remote
from tests.test_gatekeeper_webhooks import SECRET, _local_settings, _push, _secret_file, _with_gatekeeper, deliver

ADMIN, READER = "ghp_admintoken", "ghp_readertoken"


@pytest.fixture
def github(fake_github, tmp_path):
    fake_github.add_user("grace", ADMIN)
    fake_github.add_user("agentcom-gatekeeper", READER)
    repo = fake_github.add_repo("acme/web", make_remote(tmp_path / "remotes"))
    repo.admins.add("grace")
    return fake_github


def _seen(github, token=READER):
    forge = GitHubForge("acme/web", token, github.url, sleep=lambda s: None)
    return target_conditions(forge, "acme/web")


def test_an_unprotected_base_branch_is_a_condition_naming_the_repo_the_branch_and_the_fix(github):
    found = _seen(github)
    assert [c["kind"] for c in found] == ["target_unprotected"] and found[0]["subject"] == "acme/web"
    reason = found[0]["reason"]
    assert "acme/web's base branch main has no protection at all but requires neither a pull request" in reason
    assert "Settings → Branches" in reason and "Settings → Rules → Rulesets" in reason


def test_classic_protection_requiring_a_pull_request_or_checks_is_enough(github):
    github.protect("acme/web", pull_request=True)
    assert _seen(github, ADMIN) == []                 # an admin's token reads the protection itself
    unsure = _seen(github, READER)                    # a token without admin rights cannot
    assert "cannot tell whether acme/web's base branch is protected" in unsure[0]["reason"]
    github.protect("acme/web", pull_request=False, status_checks=("test",))
    assert _seen(github, READER) == []                # required checks show on the branch itself


def test_a_ruleset_protects_it_only_while_active(github):
    github.add_ruleset("acme/web", ["deletion", "non_fast_forward"])
    assert "main has its protection but requires neither a pull request nor status checks" in \
        _seen(github, ADMIN)[0]["reason"]
    github.add_ruleset("acme/web", ["pull_request"], enforcement="evaluate")   # only evaluated: not in force
    assert _seen(github, ADMIN)
    github.add_ruleset("acme/web", ["pull_request"], include=("refs/heads/main",))
    assert _seen(github, READER) == []   # any token reads the rules that apply to a branch


def test_the_base_branch_is_the_repos_default_branch(github):
    repo = github.repos["acme/web"]
    git(repo.path.parent, "--git-dir", str(repo.path), "branch", "master", "main")
    repo.default_branch = "master"
    github.protect("acme/web", "main")
    forge = GitHubForge("acme/web", ADMIN, github.url)
    assert judge(forge.protection()).branch == "master"
    assert "base branch master has no protection" in _seen(github, ADMIN)[0]["reason"]


def test_a_read_that_fails_is_a_condition_saying_it_cannot_tell_never_a_crash(github):
    github.rate_limit(1, retry_after=3600)   # longer than the forge waits
    found = _seen(github)
    assert found[0]["kind"] == "target_unprotected" and "cannot tell whether acme/web's base branch" in \
        found[0]["reason"] and "rate limit" in found[0]["reason"]
    found = target_conditions(GitHubForge("acme/web", "ghp_unknown", github.url), "acme/web")
    assert "GitHub refused the token (401)" in found[0]["reason"]


def test_protection_answers_of_odd_shapes_are_judged_unprotected_not_trusted():
    odd = {"branch": "main", "branch_doc": {"protected": "yes", "protection": []}, "rules": ["pull_request", None],
           "classic": {"required_status_checks": {"enforcement_level": "off", "contexts": ["test"]}}}
    assert condition("acme/web", judge(odd))["kind"] == "target_unprotected"


@pytest.fixture
def github_hub(repo, clone, github, tmp_path):
    """A hub whose gatekeeper reviews acme/web on the fake GitHub, polling only hourly."""
    _secret_file(repo / "agentcom" / "secrets" / "github.token", READER)
    _secret_file(repo / "agentcom" / "secrets" / "webhook.secret", SECRET)
    _local_settings(repo, f"gatekeeper:\n  forge: github\n  target: acme/web\n  github_api: {github.url}\n"
                          "  github_token_file: github.token\n  webhook_secret_file: webhook.secret\n")
    _push(clone, {"gatekeeper.yaml": "merge:\n  required_checks: [test]\nrepos:\n  acme/wbe: {auto_merge: true}\n",
                  "agentcom.yaml": _with_gatekeeper(clone, "  interval: 1h\n")})
    hub = HubProcess(repo)
    yield hub
    hub.stop()


def _health(hub) -> list[dict]:
    status, body = hub.request("GET", "/api/state")
    assert status == 200
    return body["health"]["items"]


def test_a_hub_shows_its_unprotected_github_target_and_a_stray_repos_key_in_health(github_hub, github, repo):
    hub = github_hub
    found = wait_for(lambda: [c for c in _health(hub) if c["kind"] == "target_unprotected"], timeout=20)
    assert found[0]["subject"] == "acme/web" and "base branch main" in found[0]["reason"]
    stray = [c for c in _health(hub) if c["kind"] == "rules_repo_unmatched"]
    assert stray == [{"kind": "rules_repo_unmatched", "subject": "acme/wbe", "reason": stray[0]["reason"]}]
    assert "this hub's gatekeeper target is acme/web, named acme/web" in stray[0]["reason"]
    shown = agentcom("health", "--repo", str(repo))
    assert shown.returncode == 1 and "target_unprotected: acme/web's base branch main" in shown.stdout
    assert "rules_repo_unmatched: gatekeeper.yaml repos: entry 'acme/wbe'" in shown.stdout
    # protected on GitHub: GitHub tells the hub (a signed delivery), and the next pass clears it
    github.add_ruleset("acme/web", ["pull_request", "non_fast_forward"])
    status, body = deliver(hub, "repository_ruleset", {"action": "created", "repository": {"full_name": "acme/web"}},
                           "d-ruleset-1")
    assert (status, body["queued"]) == (202, ["all"])
    wait_for(lambda: not [c for c in _health(hub) if c["kind"] == "target_unprotected"], timeout=20)
    as_json = json.loads(agentcom("health", "--repo", str(repo), "--json").stdout)
    assert [c["kind"] for c in as_json["items"]] == ["rules_repo_unmatched"]
