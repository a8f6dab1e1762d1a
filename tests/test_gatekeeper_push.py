"""gatekeeper.yaml in the coordination repo: pushed through the real hooks like agentcom.yaml."""
from __future__ import annotations

import json

from coordinator.hub.hub import Hub
from tests.support.gitenv import git
from tests.support.processes import agentcom, wait_for


def _push(clone, text: str | None, extra: dict[str, bytes] | None = None):
    path = clone / "gatekeeper.yaml"
    if text is None:
        path.unlink()
    else:
        path.write_text(text)
    for name, data in (extra or {}).items():
        (clone / name).write_bytes(data)
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "gatekeeper rules")
    return git(clone, "push", check=False)


def test_a_new_repo_holds_the_default_rules_file(clone):
    assert (clone / "gatekeeper.yaml").read_text().startswith("# AgentCom gatekeeper rules")


def test_a_push_of_an_invalid_rules_file_is_refused_with_the_parsers_message(repo, clone):
    before = git(repo, "rev-parse", "main").stdout
    push = _push(clone, "merge:\n  auto_merg: true\n")
    assert push.returncode != 0
    assert "gatekeeper.yaml: merge.auto_merg: unknown key; did you mean 'merge.auto_merge'?" in push.stderr
    assert git(repo, "rev-parse", "main").stdout == before
    git(clone, "reset", "-q", "--hard", "origin/main")
    refused = _push(clone, "protected:\n  extra: ['infra/', \"\\\\\"]\n")
    assert refused.returncode != 0 and "gatekeeper.yaml: protected.extra: Invalid git pattern" in refused.stderr


def test_a_repos_key_that_is_no_name_path_or_url_is_refused_with_the_forms_accepted(repo, clone):
    before = git(repo, "rev-parse", "main").stdout
    push = _push(clone, "repos:\n  web: {auto_merge: true}\n")
    assert push.returncode != 0 and git(repo, "rev-parse", "main").stdout == before
    assert ("gatekeeper.yaml: repos.web: 'web' is not a repo: OWNER/NAME (acme/web), or the gatekeeper target's "
            "path or URL as the hub's gatekeeper is given it (/srv/git/web.git, https://github.com/acme/web)") \
        in push.stderr
    git(clone, "reset", "-q", "--hard", "origin/main")
    assert _push(clone, "repos:\n  /srv/git/web.git: {auto_merge: true}\n").returncode == 0   # a path is a name


def test_the_rules_file_cannot_be_deleted_by_a_push(clone):
    push = _push(clone, None)
    assert push.returncode != 0 and "gatekeeper.yaml cannot be deleted" in push.stderr


def test_a_valid_rules_change_lands_and_a_running_hub_keeps_it(hub, repo, clone):
    text = "merge:\n  required_checks: [test]\nrepos:\n  acme/web: {auto_merge: true}\n"
    push = _push(clone, text, {"inbox/fix.yaml": b"prompt: fix the login redirect\n"})
    assert push.returncode == 0, push.stderr
    wait_for(lambda: hub.request("GET", "/api/status")[1]["lanes"]["normal"] == 1, timeout=10)
    assert git(repo, "show", "main:gatekeeper.yaml").stdout == text
    assert [p for p in git(repo, "ls-tree", "-r", "--name-only", "main").stdout.split() if p.startswith("rejected/")] \
        == ["rejected/.keep"]


def test_a_task_declares_its_scope_and_a_bad_pattern_is_refused(repo):
    task_id = agentcom("submit", "Fix the login redirect", "--scope", "src/login/", "--scope", "docs/*.md",
                       "--repo", str(repo), check=True).stdout.strip()
    shown = json.loads(agentcom("show", task_id, "--repo", str(repo), "--json", check=True).stdout)
    assert shown["task"]["scope"] == ["src/login/", "docs/*.md"]
    refused = agentcom("submit", "x", "--scope", "\\", "--repo", str(repo))
    assert refused.returncode == 1 and "scope.0: '\\\\' is not a .gitignore-style pattern" in refused.stderr


def test_an_invalid_rules_file_that_lands_anyway_is_put_back_and_kept_in_rejected(repo, clone):
    template = git(repo, "show", "main:gatekeeper.yaml").stdout
    hook = repo / "hooks" / "pre-receive"
    saved = hook.read_bytes()
    hook.unlink()  # as if the hooks were missing: only the hub's intake stands guard
    try:
        assert _push(clone, "merge:\n  method: fast-forward\n").returncode == 0
    finally:
        hook.write_bytes(saved)
        hook.chmod(0o755)
    h = Hub(repo)
    try:
        h.call(lambda batch: None)
        assert git(repo, "show", "main:gatekeeper.yaml").stdout == template
        [reason] = [r for r in h.status()["rejected"] if r["file"] == "gatekeeper.yaml"]
        assert "gatekeeper.yaml: merge.method: 'fast-forward' is not one of merge, squash, rebase" in str(reason)
    finally:
        h.close()
