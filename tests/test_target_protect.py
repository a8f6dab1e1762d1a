"""A protected local target, as agents and the hub meet it: real bare targets, real clones, real
pushes through the installed hook. An agent's push to the base branch is refused with the way to
go; task branches move freely; other branches and tags are never deleted or rewritten; the hub's
own merges still land; `agentcom target protect|check` and the hub's start-up install and inspect."""
from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from coordinator.repo import targethook
from tests.support.gitenv import git
from tests.support.held import agent_holding_a_task
from tests.support.processes import HubProcess, agentcom
from tests.support.targets import commit, make_remote, push_branch, write

REFUSED_MAIN = ("agents do not push to main; push your task branch and report done: the sidecar opens the "
                "pull request, and the hub merges it once the gatekeeper approves")


def _hook_module():
    spec = importlib.util.spec_from_file_location("target_pre_receive", targethook.SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _clone(remote: Path, work: Path) -> Path:
    git(work.parent, "clone", "-q", str(remote), str(work))
    return work


def _push(work: Path, *refspecs: str, agent: str | None = None) -> subprocess.CompletedProcess:
    """`git push origin REFSPEC...` as an agent would run it, AGENTCOM_AGENT set when given."""
    env = {k: v for k, v in os.environ.items() if k != "AGENTCOM_AGENT"}
    if agent is not None:
        env["AGENTCOM_AGENT"] = agent
    return subprocess.run(["git", "push", "origin", *refspecs], cwd=work, capture_output=True, text=True,
                          timeout=60, env=env)


def _ref(remote: Path, name: str) -> str:
    return git(remote, "rev-parse", "--verify", "-q", name, check=False).stdout.strip()


def _new_commit(work: Path, name: str) -> str:
    write(work, {name: f"{name}\n"})
    return commit(work, f"add {name}")


@pytest.fixture
def target(tmp_path) -> Path:
    remote = make_remote(tmp_path / "remotes")
    agentcom("target", "protect", str(remote), check=True)
    return remote


@pytest.fixture
def work(target, tmp_path) -> Path:
    return _clone(target, tmp_path / "work")


def test_a_direct_push_to_main_is_refused_with_the_way_to_go_and_main_stays(target, work):
    before = _ref(target, "main")
    _new_commit(work, "curl-pipe.sh")
    done = _push(work, "HEAD:main")
    assert done.returncode != 0 and f"agentcom: refs/heads/main: {REFUSED_MAIN}" in done.stderr
    assert _ref(target, "main") == before
    # nor deleted, nor pushed with a task branch in the same push, nor under the agent's own name
    assert REFUSED_MAIN in _push(work, ":main").stderr and _ref(target, "main") == before
    both = _push(work, "HEAD:main", "HEAD:refs/heads/agent/ada/T-1", agent="ada")
    assert both.returncode != 0 and REFUSED_MAIN in both.stderr
    assert _ref(target, "main") == before and not _ref(target, "refs/heads/agent/ada/T-1")


def test_a_task_branch_is_pushed_force_pushed_and_deleted(target, work):
    git(work, "checkout", "-q", "-b", "agent/ada/T-1-fix")
    first = _new_commit(work, "one.txt")
    assert _push(work, "HEAD:refs/heads/agent/ada/T-1-fix").returncode == 0
    git(work, "commit", "-q", "--amend", "-m", "rework: the same change, rewritten")
    rewritten = git(work, "rev-parse", "HEAD").stdout.strip()
    done = _push(work, f"--force-with-lease=refs/heads/agent/ada/T-1-fix:{first}", "HEAD:refs/heads/agent/ada/T-1-fix")
    assert done.returncode == 0, done.stderr
    assert _ref(target, "refs/heads/agent/ada/T-1-fix") == rewritten
    assert _push(work, ":refs/heads/agent/ada/T-1-fix").returncode == 0
    assert not _ref(target, "refs/heads/agent/ada/T-1-fix")


def test_another_branch_may_be_made_and_fast_forwarded_never_deleted_or_rewritten(target, work):
    git(work, "checkout", "-q", "-b", "release")
    first = _new_commit(work, "r1.txt")
    assert _push(work, "HEAD:refs/heads/release").returncode == 0
    second = _new_commit(work, "r2.txt")
    assert _push(work, "HEAD:refs/heads/release").returncode == 0 and _ref(target, "release") == second

    rewrite = _push(work, f"+{first}:refs/heads/release")
    assert rewrite.returncode != 0
    assert ("refs/heads/release: only your task branches (agent/NAME/...) may be rewritten here; fetch, merge and "
            "push again (a fast-forward)") in rewrite.stderr
    deleted = _push(work, ":refs/heads/release")
    assert "refs/heads/release: only your task branches (agent/NAME/...) may be deleted here" in deleted.stderr
    assert _ref(target, "release") == second


def test_a_tag_may_be_made_never_moved_or_deleted(target, work):
    git(work, "tag", "v1")
    assert _push(work, "refs/tags/v1").returncode == 0
    tagged = _ref(target, "refs/tags/v1")
    _new_commit(work, "later.txt")
    git(work, "tag", "-f", "v1")
    moved = _push(work, "+refs/tags/v1")
    assert moved.returncode != 0 and "refs/tags/v1: a tag is never moved or deleted here" in moved.stderr
    assert "a tag is never moved or deleted here" in _push(work, ":refs/tags/v1").stderr
    assert _ref(target, "refs/tags/v1") == tagged


def test_agentcom_agent_narrows_the_task_branches_to_the_pushers_own(target, work):
    git(work, "checkout", "-q", "-b", "mine")
    first = _new_commit(work, "a.txt")
    pushed = _new_commit(work, "b.txt")
    for branch in ("agent/ada/T-1", "agent/bob/T-2"):
        assert _push(work, f"HEAD:refs/heads/{branch}", agent="ada").returncode == 0   # making one is no harm
    git(work, "reset", "-q", "--hard", first)
    _new_commit(work, "c.txt")   # diverged from what both branches hold: a rewrite

    assert _push(work, "+HEAD:refs/heads/agent/ada/T-1", agent="ada").returncode == 0
    theirs = _push(work, "+HEAD:refs/heads/agent/bob/T-2", agent="ada")
    assert theirs.returncode != 0 and "only your task branches (agent/ada/...) may be rewritten" in theirs.stderr
    assert "only your task branches (agent/ada/...) may be deleted" in _push(work, ":refs/heads/agent/bob/T-2",
                                                                             agent="ada").stderr
    assert _ref(target, "refs/heads/agent/bob/T-2") == pushed
    # a name that is no agent's refuses the whole push, whatever it holds
    bad = _push(work, "HEAD:refs/heads/fresh", agent="../bob")
    assert bad.returncode != 0 and "AGENTCOM_AGENT '../bob' is not an agent name" in bad.stderr
    assert not _ref(target, "refs/heads/fresh")


def test_a_target_whose_main_branch_is_master_is_protected_with_no_option(tmp_path):
    remote = tmp_path / "old.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "master", str(remote))
    work = _clone(remote, tmp_path / "old")
    _new_commit(work, "README")
    assert _push(work, "HEAD:master").returncode == 0

    done = agentcom("target", "protect", str(remote), check=True)
    assert f"protected: {remote} (base master)" in done.stdout
    _new_commit(work, "more")
    refused = _push(work, "HEAD:master")
    assert refused.returncode != 0 and "agents do not push to master;" in refused.stderr
    assert agentcom("target", "check", str(remote)).stdout.strip() == f"protected: {remote} (base master)"


def test_protecting_again_changes_nothing_and_an_older_copy_is_refreshed(target):
    hook = target / "hooks" / "pre-receive"
    installed, stat = hook.read_bytes(), hook.stat()
    again = agentcom("target", "protect", str(target), check=True)
    assert again.stdout.startswith("already protected:")
    assert hook.read_bytes() == installed and hook.stat().st_mtime_ns == stat.st_mtime_ns

    hook.write_bytes(installed.replace(b"MAX_REFS = 1000", b"MAX_REFS = 10"))   # ours, from an older version
    stale = agentcom("target", "check", str(target))
    assert stale.returncode == 1 and "its hook is an older copy of ours" in stale.stdout
    assert agentcom("target", "protect", str(target), check=True).stdout.startswith("protected:")
    assert hook.read_bytes() == installed and os.access(hook, os.X_OK)


def test_a_pre_receive_not_ours_is_kept_and_runs_after_ours_once_moved_aside(tmp_path):
    remote = make_remote(tmp_path / "remotes")
    theirs = remote / "hooks" / "pre-receive"
    theirs.write_text("#!/bin/sh\necho 'their policy: no pushes on Fridays' >&2\nexit 1\n")
    theirs.chmod(0o755)
    done = agentcom("target", "protect", str(remote))
    assert done.returncode == 1
    assert ("hooks/pre-receive is not AgentCom's and is left as it is; to keep it and protect main, move it to "
            "hooks/pre-receive.local (it then runs after ours) and run this again") in done.stderr
    assert theirs.read_text().startswith("#!/bin/sh\necho 'their policy")
    assert "its pre-receive hook is not AgentCom's" in agentcom("target", "check", str(remote)).stdout

    theirs.rename(remote / "hooks" / "pre-receive.local")
    agentcom("target", "protect", str(remote), check=True)
    work = _clone(remote, tmp_path / "work")
    _new_commit(work, "x.txt")
    to_branch = _push(work, "HEAD:refs/heads/agent/ada/T-1")
    assert to_branch.returncode != 0 and "their policy: no pushes on Fridays" in to_branch.stderr
    to_main = _push(work, "HEAD:main")   # ours refuses first; theirs never runs
    assert REFUSED_MAIN in to_main.stderr and "their policy" not in to_main.stderr


def test_check_and_protect_say_what_is_wrong_and_change_nothing(tmp_path, target):
    fresh = make_remote(tmp_path / "fresh")
    missing = agentcom("target", "check", str(fresh))
    assert missing.returncode == 1 and "NOT protected" in missing.stdout
    assert "it has no pre-receive hook" in missing.stdout and f"agentcom target protect {fresh}" in missing.stdout
    assert agentcom("target", "check", str(target)).returncode == 0
    elsewhere = make_remote(tmp_path / "elsewhere")
    git(elsewhere, "config", "core.hooksPath", str(tmp_path / "shared-hooks"))   # git would not run ours

    cases = {
        (str(elsewhere),): "core.hooksPath is set (" + str(tmp_path / "shared-hooks") + "), so git would not run",
        (str(tmp_path / "nowhere"),): "is not a git repo; give the path of the target's bare repo",
        (str(tmp_path / "remotes" / "acme-web-seed"),): "is a clone with a working tree; protect the bare repo",
        (str(fresh), "--base", "develop"): "it has no branch develop; push its first commit to develop",
        (str(fresh), "--base", "a..b"): "'a..b' is not a branch name git accepts",
    }
    for args, why in cases.items():
        done = agentcom("target", "protect", *args)
        assert done.returncode == 1 and why in done.stderr, (args, done.stderr)
    assert not (fresh / "hooks" / "pre-receive").exists() and not (elsewhere / "hooks" / "pre-receive").exists()
    assert git(fresh, "config", "--get", "agentcom.base", check=False).returncode == 1


def test_a_hook_that_lost_its_setting_refuses_every_push(target, work):
    git(target, "config", "--unset", "agentcom.base")
    done = _push(work, "HEAD:refs/heads/agent/ada/T-1")
    assert done.returncode != 0 and "this repo's base branch is not set (git config agentcom.base)" in done.stderr
    assert "agentcom target protect" in agentcom("target", "check", str(target)).stdout


def test_odd_ref_names_are_judged_and_shown_plainly(target, work):
    odd = "feature/ünïcode-" + "x" * 180
    assert _push(work, f"HEAD:refs/heads/{odd}", "HEAD:refs/heads/agent/ada").returncode == 0   # made: no harm
    deleted = _push(work, f":refs/heads/{odd}", ":refs/heads/agent/ada")
    assert deleted.returncode != 0 and f"refs/heads/{odd[:100]}" in deleted.stderr
    assert "refs/heads/agent/ada: only your task branches" in deleted.stderr   # no task part: not a task branch
    assert _ref(target, f"refs/heads/{odd}")


def test_the_hooks_input_is_bounded_and_a_line_it_cannot_read_refuses_all():
    hook = _hook_module()
    zero, sha = "0" * 40, "a" * 40
    many = "".join(f"{zero} {sha} refs/heads/b{i}\n" for i in range(1001)).encode()
    assert hook.problems(many, "main", None) == ["a push here updates at most 1000 refs; push fewer at a time"]
    assert hook.problems(b"".join(many.splitlines(keepends=True)[:1000]), "main", None) == []
    for line in (b"nonsense\n", f"{zero} {sha}\n".encode(), f"{zero} {sha} refs/heads/a b\n".encode(),
                 f"{zero} ZZ refs/heads/a\n".encode()):
        assert hook.problems(line, "main", None) == ["git handed this hook a line it cannot read; nothing was accepted"]
    assert hook.problems(f"{zero} {sha} refs/heads/\xff\n".encode("latin-1"), "main", None) == []


def test_the_hubs_merge_lands_on_a_protected_main_and_it_deletes_the_merged_head(hub, target, tmp_path):
    token, task_id = agent_holding_a_task(hub, "ada", repo=str(target))
    branch = f"agent/ada/{task_id}"
    head = push_branch(target, tmp_path, branch, {"ada.txt": "work\n"}, "the agent's work")
    status, pr = hub.request("POST", "/api/prs", {"repo": str(target), "head": branch, "base": "main",
                                                  "title": "Fix the login", "task": task_id}, token=token)
    assert status == 201, pr
    for report in ({"kind": "accepted", "attempt": 1},
                   {"kind": "done", "attempt": 1, "summary": "fixed", "pr_url": f"{hub.url}/api/prs/{pr['number']}"}):
        assert hub.request("POST", f"/api/tasks/{task_id}/report", report, token=token)[0] == 200

    done = agentcom("pr", "merge", str(pr["number"]), "--hub", hub.url, "--repo", str(hub.repo), check=True)
    assert f"merged {target}#{pr['number']} at {head[:12]}" in done.stdout
    assert git(tmp_path, "--git-dir", str(target), "show", "main:ada.txt").stdout == "work\n"
    # the merged head is the hub's to delete, as it did after the merge: no hook stands in its way
    assert not _ref(target, f"refs/heads/{branch}")
    assert hub.request("GET", f"/api/prs/{pr['number']}")[1]["head_deleted"]["sha"] == head
    assert agentcom("target", "check", str(target)).returncode == 0   # still protected, hook untouched


def _startup(repo: Path, remote: Path) -> str:
    """The start-up output of a hub on the local forge with `remote` as its target (then stopped)."""
    hub = HubProcess(repo, args=("--forge", "local", "--target", str(remote)))
    try:
        lines = list(hub.output)
        while lines[-1] and "stop with Ctrl-C" not in lines[-1]:   # printed at once with the first line
            lines.append(hub.proc.stdout.readline())
        # stop only once it serves: its gatekeeper's first call to it is answered, not left to time out
        assert hub.request("GET", "/api/prs?state=open")[0] == 200
        return "".join(lines)
    finally:
        hub.stop()


def test_a_hub_with_the_local_forge_protects_its_target_at_start(repo, tmp_path):
    remote = make_remote(tmp_path / "remotes")
    assert f"  target protected: {remote} (base main)\n" in _startup(repo, remote)
    assert targethook.inspect(remote).protected

    theirs = remote / "hooks" / "pre-receive"
    theirs.write_text("#!/bin/sh\nexit 0\n")   # a hook of the operator's own: left alone, and said so
    assert f"  target NOT protected: {remote}: hooks/pre-receive is not AgentCom's" in _startup(repo, remote)
    assert theirs.read_text() == "#!/bin/sh\nexit 0\n"
