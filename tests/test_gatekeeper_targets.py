"""A local target named plainly: a `repos:` entry keyed by the target's path applies to it, an
entry that names no target is a health warning giving the exact names to use, and the hub says
at start whether its gatekeeper is on and with what settings. Real hub processes, real targets."""
from __future__ import annotations

import json

from coordinator.forge.local import LocalForge
from coordinator.wire.client import HttpBackend
from tests.support.gitenv import git
from tests.support.held import agent_holding_a_task
from tests.support.processes import HubProcess, agentcom
from tests.support.targets import make_remote, push_branch
from tests.test_gatekeeper_webhooks import SAFE, _push

CHECKED = "merge:\n  required_checks: [test]\ntrust:\n  logins: {}\n"


def _clone(repo, tmp_path):
    clone = tmp_path / "coord"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    return clone


def _start_block(hub) -> str:
    """The rest of what the hub printed once it listened, up to its last line."""
    lines = []
    while not lines or "stop with Ctrl-C" not in lines[-1]:
        line = hub.proc.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
    return "".join(lines)


def _ready_pr(hub, remote, tmp_path) -> tuple[int, str]:
    """An agent's PR on the local target, its required check green, its task waiting in review."""
    token, _ = agent_holding_a_task(hub, "ada", id="T-3", prompt="fix the login", repo=str(remote))
    head = push_branch(remote, tmp_path, "agent/ada/T-3-fix", SAFE)
    forge = LocalForge(HttpBackend(hub.url, token), str(remote), "T-3")
    pr = forge.open_pr("agent/ada/T-3-fix", "main", "Fix", "AgentCom task `T-3`, by agent `ada`.", ("agent:ada",))
    LocalForge(HttpBackend(hub.url, hub.token), str(remote)).set_status(head, "success", "test", "CI passed")
    for report in ({"kind": "accepted", "attempt": 1}, {"kind": "done", "attempt": 1, "pr_url": pr.url}):
        assert hub.request("POST", "/api/tasks/T-3/report", report, token=token)[0] == 200
    return pr.number, head


def test_a_repos_entry_keyed_by_the_targets_resolved_path_turns_auto_merge_on_for_it(hub, repo, tmp_path):
    remote = make_remote(tmp_path / "remotes")
    (tmp_path / "link").symlink_to(remote.parent)
    given = tmp_path / "link" / "web.git"   # the hub is given the target through a symbolic link
    _push(_clone(repo, tmp_path), {"gatekeeper.yaml": CHECKED + f"repos:\n  {remote}/: {{auto_merge: true}}\n"})
    number, head = _ready_pr(hub, given, tmp_path)
    done = agentcom("gatekeeper", "--once", "--forge", "local", "--target", str(given), "--hub", hub.url,
                    check=True, env={"AGENTCOM_TOKEN": hub.token})
    [line] = [json.loads(x) for x in done.stdout.splitlines()]
    assert (line["pull"], line["action"], line["head_sha"]) == (number, "merge", head)   # not advise-merge
    assert git(tmp_path, "--git-dir", str(remote), "show", "main:app/login.py").stdout == SAFE["app/login.py"]


def test_without_an_entry_for_it_the_same_pr_is_left_to_a_human(hub, repo, tmp_path):
    remote = make_remote(tmp_path / "remotes")
    _push(_clone(repo, tmp_path), {"gatekeeper.yaml": CHECKED + "repos:\n  /srv/elsewhere.git: {auto_merge: true}\n"})
    _ready_pr(hub, remote, tmp_path)
    done = agentcom("gatekeeper", "--once", "--forge", "local", "--target", str(remote), "--hub", hub.url,
                    check=True, env={"AGENTCOM_TOKEN": hub.token})
    assert json.loads(done.stdout)["action"] == "advise-merge"


def test_the_hub_says_at_start_its_gatekeeper_is_off_or_on_with_its_target_name_and_merge_settings(repo, tmp_path):
    off = HubProcess(repo)
    try:
        assert "  gatekeeper:        off (no forge set; docs/gatekeeper.md)\n" in _start_block(off)
    finally:
        off.stop()
    remote = make_remote(tmp_path / "remotes")
    _push(_clone(repo, tmp_path), {"gatekeeper.yaml": CHECKED + "repos:\n  acme/web: {auto_merge: true}\n"
                                                                "  acme/wbe: {}\n"})
    on = HubProcess(repo, args=("--forge", "local", "--target", str(remote)))
    try:
        out = _start_block(on)
        health = on.request("GET", "/api/state")[1]["health"]["items"]
        stray = [c for c in health if c["kind"] == "rules_repo_unmatched"]
    finally:
        on.stop()
    assert (f"  gatekeeper:        on: local forge, target {remote}, named acme/web (its key in gatekeeper.yaml "
            "repos:, or its path or URL); auto-merge on; required checks: test\n") in out
    assert [c["subject"] for c in stray] == ["acme/wbe"]
    assert f"this hub's gatekeeper target is {remote}, named acme/web: key the entry by either" in stray[0]["reason"]
