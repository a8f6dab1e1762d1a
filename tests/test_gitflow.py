"""The git workflow wrapper on real git: a bare "remote" (that moves on while start-task runs,
through a real hook), clones, refusals, pushes with a lease, and pull requests on the local forge
(through a real hub) and on the fake GitHub."""
from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from coordinator.forge.github import GitHubForge
from coordinator.forge.local import LocalForge
from coordinator.wire.client import HttpBackend
from sidecar.gitflow.flow import DirtyTree, GitflowError, NothingToSubmit, TaskInfo, start_task, status, submit
from sidecar.gitflow.workspace import cleanup, prepare
from tests.support.gitenv import git
from tests.support.held import agent_holding_a_task
from tests.support.processes import agentcom
from tests.support.targets import commit, write

TASK = TaskInfo("T-7", "Fix the login redirect!", "After login, users land on /home.\nKeep `next`.", "high")
BRANCH = "agent/ada/T-7-fix-the-login-redirect"



def clone_of(remote: Path, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(remote), str(where))
    return where


def main_of(remote: Path) -> str:
    return git(remote, "rev-parse", "refs/heads/main").stdout.strip()


def push_to_main(other: Path, files: dict, message: str) -> str:
    git(other, "pull", "-q")
    write(other, files)
    sha = commit(other, message)
    git(other, "push", "-q", "origin", "HEAD:main")
    return sha


# --- start-task ----------------------------------------------------------------------------

def test_start_task_branches_from_the_main_the_remote_has_after_it_moved_during_the_fetch(remote, tmp_path):
    work = clone_of(remote, tmp_path / "work")
    other = clone_of(remote, tmp_path / "other")
    push_to_main(other, {"a.txt": "1\n"}, "main moves before the fetch")
    # a real hook: as soon as the fetch has updated origin/main here, someone else pushes again
    hook = work / ".git" / "hooks" / "reference-transaction"
    hook.write_text(f"""#!/bin/sh
[ "$1" = committed ] || exit 0
grep -q ' refs/remotes/origin/main$' || exit 0
[ -e "{tmp_path}/moved" ] && exit 0
touch "{tmp_path}/moved"
cd "{other}" || exit 1
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
echo 2 > b.txt && git add b.txt && git commit -q -m "main moves between fetch and branch" \
&& git push -q origin HEAD:main
""")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)

    started = start_task(work, TASK, "ada")

    assert (tmp_path / "moved").exists()  # the hook did move main mid-way
    assert started.branch == BRANCH and not started.resumed and started.restarts == 1
    assert started.base_sha == main_of(remote)
    assert git(work, "rev-parse", "HEAD").stdout.strip() == main_of(remote)
    assert (work / "b.txt").read_text() == "2\n"
    assert git(work, "symbolic-ref", "--short", "HEAD").stdout.strip() == BRANCH


def test_start_task_refuses_a_dirty_tree_and_names_what_is_dirty(remote, tmp_path):
    work = clone_of(remote, tmp_path / "work")
    write(work, {"README.md": "changed\n", "notes.txt": "new\n"})
    with pytest.raises(DirtyTree, match=r"uncommitted changes: README.md \(modified\), notes.txt \(untracked\); "
                                        "commit or stash them first"):
        start_task(work, TASK, "ada")
    assert git(work, "symbolic-ref", "--short", "HEAD").stdout.strip() == "main"  # nothing was switched


def test_start_task_run_again_keeps_the_branch_and_the_work_on_it(remote, tmp_path):
    work = clone_of(remote, tmp_path / "work")
    start_task(work, TASK, "ada")
    write(work, {"fix.py": "x = 1\n"})
    mine = commit(work, "work in progress")
    push_to_main(clone_of(remote, tmp_path / "other"), {"c.txt": "3\n"}, "main moves on")

    again = start_task(work, TaskInfo(TASK.id, "A new title", TASK.prompt), "ada")

    assert again.branch == BRANCH and again.resumed
    assert git(work, "rev-parse", "HEAD").stdout.strip() == mine


def test_start_task_on_another_machine_carries_on_the_branch_already_pushed(remote, tmp_path):
    first = clone_of(remote, tmp_path / "first")
    start_task(first, TASK, "ada")
    write(first, {"fix.py": "x = 1\n"})
    pushed = commit(first, "half done")
    git(first, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")

    second = clone_of(remote, tmp_path / "second")
    again = start_task(second, TASK, "ada")
    assert again.resumed and again.branch == BRANCH
    assert git(second, "rev-parse", "HEAD").stdout.strip() == pushed


def test_a_branch_name_is_the_agent_the_task_and_a_short_slug():
    from sidecar.gitflow.flow import branch_name, slug

    assert slug("Fix: the login-redirect (again)!") == "fix-the-login-redirect-again"
    assert len(slug("word " * 40)) <= 40 and branch_name("ada", TaskInfo("T", "???", "")) == "agent/ada/T"


# --- submit --------------------------------------------------------------------------------

@pytest.fixture
def local(hub, remote):
    token, task = agent_holding_a_task(hub, "ada", repo=str(remote))  # an agent opens PRs for its own task only
    return LocalForge(HttpBackend(hub.url, token), str(remote), task)


def test_submit_refuses_main_a_dirty_tree_and_a_branch_with_nothing_ahead(remote, tmp_path, local):
    work = clone_of(remote, tmp_path / "work")
    with pytest.raises(GitflowError, match="refusing to submit from main"):
        submit(work, TASK, "ada", local)
    start_task(work, TASK, "ada")
    with pytest.raises(NothingToSubmit, match=f"{BRANCH} has no commits ahead of origin/main"):
        submit(work, TASK, "ada", local)
    write(work, {"fix.py": "x = 1\n"})
    with pytest.raises(DirtyTree, match=r"fix.py \(untracked\)"):
        submit(work, TASK, "ada", local)
    assert git(remote, "branch", "--list", "agent/*").stdout == ""  # nothing was pushed


def test_submit_pushes_and_opens_one_pr_with_the_task_in_its_body_on_the_local_forge(remote, tmp_path, local, hub):
    work = clone_of(remote, tmp_path / "work")
    start_task(work, TASK, "ada")
    write(work, {"app/login.py": "def login(user, next):\n    return next\n"})
    first = commit(work, "keep next")

    done = submit(work, TASK, "ada", local)

    assert done.opened and done.head_sha == first and done.url == f"{hub.url}/api/prs/{done.number}"
    assert git(remote, "rev-parse", f"refs/heads/{BRANCH}").stdout.strip() == first
    pr = local.get_pr(done.number)
    assert (pr.head, pr.base, pr.title, pr.author) == (BRANCH, "main", TASK.title, "ada")
    assert pr.labels == ("agent:ada", "priority:high")
    assert "AgentCom task `T-7`, by agent `ada`, priority high." in pr.body
    assert "> After login, users land on /home.\n> Keep `next`." in pr.body
    assert "app/login.py | 4 ++--" in pr.body and "1 file changed, 2 insertions(+), 2 deletions(-)" in pr.body

    write(work, {"app/test_login.py": "assert True\n"})
    second = commit(work, "a test")
    again = submit(work, TASK, "ada", local)  # a re-run: the branch moves on, the PR stays
    assert (again.number, again.opened, again.head_sha) == (done.number, False, second)
    assert local.get_pr(done.number).head_sha == second
    assert len(hub.request("GET", "/api/prs")[1]["prs"]) == 1


def test_submit_never_pushes_over_commits_someone_else_pushed_to_the_branch(remote, tmp_path, local):
    work = clone_of(remote, tmp_path / "work")
    start_task(work, TASK, "ada")
    write(work, {"fix.py": "x = 1\n"})
    commit(work, "mine")
    submit(work, TASK, "ada", local)
    other = clone_of(remote, tmp_path / "other")
    git(other, "checkout", "-q", BRANCH)
    write(other, {"theirs.txt": "keep me\n"})
    theirs = commit(other, "theirs")
    git(other, "push", "-q", "origin", BRANCH)
    git(work, "commit", "-q", "--amend", "-m", "mine, rewritten")  # a rewrite that would drop theirs

    with pytest.raises(GitflowError, match="someone else pushed to it"):
        submit(work, TASK, "ada", local)
    assert git(remote, "rev-parse", f"refs/heads/{BRANCH}").stdout.strip() == theirs


def test_submit_opens_the_pr_on_github(remote, tmp_path, fake_github):
    fake_github.add_user("ada-bot", "ghp_token")
    repo = fake_github.add_repo("acme/web", remote)
    forge = GitHubForge("acme/web", "ghp_token", fake_github.url)
    work = clone_of(remote, tmp_path / "work")
    start_task(work, TASK, "ada")
    write(work, {"app/login.py": "def login(user, next):\n    return next\n"})
    commit(work, "keep next")

    done = submit(work, TASK, "ada", forge)

    assert done.opened and done.url == f"{fake_github.root}/acme/web/pull/1"
    pull = repo.pulls[1]
    assert (pull.head, pull.base, pull.user, pull.labels) == (BRANCH, "main", "ada-bot", ["agent:ada", "priority:high"])
    assert "AgentCom task `T-7`" in pull.body
    assert submit(work, TASK, "ada", forge).number == 1 and len(repo.pulls) == 1


# --- status --------------------------------------------------------------------------------

def test_status_says_where_the_branch_stands_and_why_it_is_not_ready(remote, tmp_path):
    work = clone_of(remote, tmp_path / "work")
    start_task(work, TASK, "ada")
    write(work, {"fix.py": "x = 1\n"})
    commit(work, "one")
    write(work, {"wip.py": "y\n"})
    push_to_main(clone_of(remote, tmp_path / "other"), {"c.txt": "3\n"}, "main moves on")

    found = status(work).as_dict()
    assert found == {"branch": BRANCH, "base": "main", "ahead": 1, "behind": 1, "uncommitted": ["wip.py (untracked)"],
                     "ready": False, "problems": ["1 uncommitted file(s)"]}
    (work / "wip.py").unlink()
    assert status(work).ready


def test_the_cli_starts_a_task_from_its_task_file_and_status_exits_by_readiness(remote, tmp_path):
    work = clone_of(remote, tmp_path / "work")
    task_file = tmp_path / "task.json"
    task_file.write_text(json.dumps({"id": "T-9", "title": "Add a health page", "prompt": "p", "priority": "low"}))
    done = agentcom("git", "start-task", "T-9", "--agent", "bob", "--task-file", str(task_file), "-C", str(work))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("On agent/bob/T-9-add-a-health-page, from origin/main at ")

    shown = agentcom("git", "status", "--json", "-C", str(work))
    assert shown.returncode == 1 and json.loads(shown.stdout)["problems"] == ["no commits ahead of origin/main"]

    write(work, {"dirty.txt": "x\n"})
    refused = agentcom("git", "start-task", "T-9", "--agent", "bob", "--task-file", str(task_file), "-C", str(work))
    assert refused.returncode == 1 and "dirty.txt (untracked)" in refused.stderr


# --- the sidecar's workspaces -----------------------------------------------------------------

def test_a_worktree_is_removed_only_when_everything_in_it_is_pushed(remote, tmp_path):
    state = tmp_path / "state"
    tree, started = prepare(state, str(remote), TASK, "ada")
    assert started.branch == BRANCH and (tree / "README.md").exists()
    write(tree, {"fix.py": "x = 1\n"})
    assert cleanup(tree) == (False, "kept: 1 uncommitted file(s)")
    sha = commit(tree, "unpushed")
    assert cleanup(tree) == (False, "kept: 1 commit(s) not on origin")
    assert git(tree, "rev-parse", "HEAD").stdout.strip() == sha

    again, resumed = prepare(state, str(remote), TASK, "ada")  # a re-run finds the work as it was
    assert again == tree and resumed.resumed
    git(tree, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
    assert cleanup(tree) == (True, "removed")
    assert not tree.exists()
    clone = tree.parent.parent / "clone"
    assert git(clone, "branch", "--list", BRANCH).stdout == ""
    assert git(remote, "rev-parse", f"refs/heads/{BRANCH}").stdout.strip() == sha  # the work is on the remote


def test_two_tasks_on_one_target_get_worktrees_of_their_own(remote, tmp_path):
    state = tmp_path / "state"
    one, _ = prepare(state, str(remote), TASK, "ada")
    two, started = prepare(state, str(remote), TaskInfo("T-8", "Other", ""), "ada")
    assert one != two and one.parent == two.parent and started.branch == "agent/ada/T-8-other"
    write(one, {"only-in-one.txt": "1\n"})
    assert not (two / "only-in-one.txt").exists()


# --- settings and the CLI's submit ------------------------------------------------------------

def _sidecar_config(tmp_path, extra: str, token_mode: int = 0o600):
    from sidecar.runtime.config import load_config

    (tmp_path / "gh.token").write_text("ghp_x\n")
    (tmp_path / "gh.token").chmod(token_mode)
    path = tmp_path / "sidecar.yaml"
    path.write_text("hub: http://127.0.0.1:1\nagent: ada\ntoken: t\ncommand: x\n" + extra)
    path.chmod(0o600)
    return load_config(path)


def test_the_forge_settings_default_to_the_local_forge_and_github_needs_a_private_token_file(tmp_path):
    from coordinator.wire.errors import ConfigError

    config = _sidecar_config(tmp_path, "")
    assert (config.git_workflow, config.forge, config.github_api, config.base_branch, config.github_token) == \
        (True, "local", "https://api.github.com", None, None)  # base: found per target
    config = _sidecar_config(tmp_path, "forge: github\ngithub_token_file: gh.token\ngithub_api: https://gh.example/api/v3/\n")
    assert (config.github_token, config.github_api) == ("ghp_x", "https://gh.example/api/v3")
    assert "ghp_x" not in repr(config)
    with pytest.raises(ConfigError, match="github_token_file: is required with forge: github"):
        _sidecar_config(tmp_path, "forge: github\n")
    with pytest.raises(ConfigError, match="gh.token can be read by others; chmod 600 it"):
        _sidecar_config(tmp_path, "forge: github\ngithub_token_file: gh.token\n", token_mode=0o644)
    with pytest.raises(ConfigError, match="forge: 'gitlab' is not one of local, github"):
        _sidecar_config(tmp_path, "forge: gitlab\n")
    with pytest.raises(ConfigError, match="forje: unknown key; did you mean 'forge'"):
        _sidecar_config(tmp_path, "forje: local\n")


def test_the_cli_submits_to_the_local_forge_knowing_the_task_from_start_task(remote, tmp_path, hub):
    work = clone_of(remote, tmp_path / "work")
    task_file = tmp_path / "task.json"
    task_file.write_text(json.dumps({"id": "T-9", "title": "Add a health page", "prompt": "p", "priority": "low"}))
    agentcom("git", "start-task", "T-9", "--agent", "bob", "--task-file", str(task_file), "-C", str(work), check=True)
    write(work, {"health.py": "ok = True\n"})
    commit(work, "health")

    done = agentcom("git", "submit", "--agent", "bob", "--task-file", str(task_file), "--forge", "local",
                    "--hub", hub.url, "--json", "-C", str(work), env={"AGENTCOM_TOKEN": hub.token})

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["branch"] == "agent/bob/T-9-add-a-health-page" and answer["opened"] is True
    record = hub.request("GET", f"/api/prs/{answer['number']}")[1]
    assert (record["author"], record["labels"]) == ("local operator", ["agent:bob", "priority:low"])
    again = agentcom("git", "submit", "--agent", "bob", "--task-file", str(task_file), "--forge", "local",
                     "--hub", hub.url, "-C", str(work), env={"AGENTCOM_TOKEN": hub.token})
    assert again.returncode == 0
    assert again.stdout.strip() == f"Updated pull request #{answer['number']}: {answer['url']}"


def test_the_cli_reads_the_task_from_the_hub_and_the_forge_from_a_sidecar_config(remote, tmp_path, hub):
    token, task_id = agent_holding_a_task(hub, "cy", prompt="Tidy the docs", priority="urgent", repo=str(remote))
    config = tmp_path / "cy.yaml"
    config.write_text(f"hub: {hub.url}\nagent: cy\ntoken: {token}\ncommand: x\n")
    config.chmod(0o600)
    work = clone_of(remote, tmp_path / "work")

    agentcom("git", "start-task", task_id, "--agent", "cy", "--hub", hub.url, "-C", str(work), check=True)
    write(work, {"docs.md": "tidy\n"})
    commit(work, "tidy")
    done = agentcom("git", "submit", "--hub", hub.url, "--config", str(config), "--json", "-C", str(work))

    assert done.returncode == 0, done.stderr
    record = hub.request("GET", f"/api/prs/{json.loads(done.stdout)['number']}")[1]
    assert (record["head"], record["author"]) == (f"agent/cy/{task_id}-tidy-the-docs", "cy")
    assert record["labels"] == ["agent:cy", "priority:urgent"] and record["title"] == "Tidy the docs"


# --- others' commits on the task branch -------------------------------------------------------

def _push_a_fixup(remote: Path, where: Path) -> str:
    """Someone else (a reviewer) pushes a commit on top of the task branch."""
    other = clone_of(remote, where)
    git(other, "checkout", "-q", BRANCH)
    write(other, {"fixup.txt": "a reviewer's fix-up\n"})
    theirs = commit(other, "fix-up")
    git(other, "push", "-q", "origin", BRANCH)
    return theirs


def test_start_task_again_takes_in_commits_someone_else_pushed_and_submit_keeps_them(remote, tmp_path, local):
    work = clone_of(remote, tmp_path / "work")
    start_task(work, TASK, "ada")
    write(work, {"fix.py": "x = 1\n"})
    commit(work, "mine")
    submit(work, TASK, "ada", local)
    theirs = _push_a_fixup(remote, tmp_path / "other")

    again = start_task(work, TASK, "ada")  # fetches: the remote branch is ahead of the local one
    assert again.resumed and git(work, "rev-parse", "HEAD").stdout.strip() == theirs
    write(work, {"more.py": "y = 2\n"})
    mine = commit(work, "more")
    submit(work, TASK, "ada", local)

    assert git(remote, "rev-parse", f"refs/heads/{BRANCH}").stdout.strip() == mine
    assert git(remote, "merge-base", "--is-ancestor", theirs, mine, check=False).returncode == 0


def test_submit_after_a_fetch_refuses_to_drop_commits_someone_else_pushed(remote, tmp_path, local):
    work = clone_of(remote, tmp_path / "work")
    start_task(work, TASK, "ada")
    write(work, {"fix.py": "x = 1\n"})
    commit(work, "mine")
    submit(work, TASK, "ada", local)
    theirs = _push_a_fixup(remote, tmp_path / "other")
    write(work, {"more.py": "y = 2\n"})
    commit(work, "more, on the old head")
    status(work)  # any fetch moves origin/BRANCH to their commit

    with pytest.raises(GitflowError, match="has commits this branch never had; someone else pushed to it"):
        submit(work, TASK, "ada", local)
    assert git(remote, "rev-parse", f"refs/heads/{BRANCH}").stdout.strip() == theirs


def test_start_task_refuses_a_branch_that_diverged_from_the_remote_one(remote, tmp_path, local):
    work = clone_of(remote, tmp_path / "work")
    start_task(work, TASK, "ada")
    write(work, {"fix.py": "x = 1\n"})
    commit(work, "mine")
    submit(work, TASK, "ada", local)
    theirs = _push_a_fixup(remote, tmp_path / "other")
    write(work, {"more.py": "y = 2\n"})
    mine = commit(work, "more, not pushed")

    with pytest.raises(GitflowError, match=f"{BRANCH} here and origin/{BRANCH} have diverged"):
        start_task(work, TASK, "ada")
    assert git(work, "rev-parse", BRANCH).stdout.strip() == mine
    assert git(remote, "rev-parse", f"refs/heads/{BRANCH}").stdout.strip() == theirs


def test_submit_may_rewrite_commits_this_branch_pushed_itself(remote, tmp_path, local):
    work = clone_of(remote, tmp_path / "work")
    start_task(work, TASK, "ada")
    write(work, {"fix.py": "x = 1\n"})
    commit(work, "mine")
    submit(work, TASK, "ada", local)
    status(work)
    git(work, "commit", "-q", "--amend", "-m", "mine, reworded")

    done = submit(work, TASK, "ada", local)
    assert git(remote, "rev-parse", f"refs/heads/{BRANCH}").stdout.strip() == done.head_sha


def test_a_task_never_takes_the_branch_of_a_task_whose_id_starts_with_its_own(remote, tmp_path):
    other_task = TaskInfo("T-7-1", "Add docs", "")
    first = clone_of(remote, tmp_path / "first")
    start_task(first, other_task, "ada")
    write(first, {"docs.md": "docs\n"})
    commit(first, "docs for T-7-1")
    git(first, "push", "-q", "origin", "HEAD:refs/heads/agent/ada/T-7-1-add-docs")
    second = clone_of(remote, tmp_path / "second")  # sees T-7-1's branch only on the remote

    for work in (first, second):
        git(work, "checkout", "-q", "main")
        started = start_task(work, TASK, "ada")
        assert (started.branch, started.resumed) == (BRANCH, False)
        assert git(work, "rev-parse", "HEAD").stdout.strip() == main_of(remote)
        assert not (work / "docs.md").exists()


def test_submit_refuses_a_branch_other_than_the_tasks_and_pushes_nothing(remote, tmp_path, local):
    work = clone_of(remote, tmp_path / "work")
    start_task(work, TASK, "ada")
    git(work, "checkout", "-q", "-b", "agent/ada/T-8-someone-elses")  # the agent switched branches
    write(work, {"fix.py": "x = 1\n"})
    commit(work, "on the wrong branch")

    with pytest.raises(GitflowError, match=f"is on agent/ada/T-8-someone-elses, not on the task's branch {BRANCH}"):
        submit(work, TASK, "ada", local, branch=BRANCH)
    assert git(remote, "branch", "--list", "agent/*").stdout == ""


def test_the_sidecar_reports_a_failure_when_the_agent_left_the_tasks_branch(remote, tmp_path, hub):
    from sidecar.runtime.workflow import after_run, before_run

    sidecar = _sidecar_at(tmp_path, hub)
    config = sidecar.config
    run = sidecar.runs.create({"id": "T-7", "title": TASK.title, "prompt": "p", "repo": str(remote)}, 1)
    before_run(config, run)
    tree = Path(run.notes["workdir"])
    git(tree, "checkout", "-q", "-b", "elsewhere")
    write(tree, {"fix.py": "x = 1\n"})
    commit(tree, "on the wrong branch")

    report = after_run(config, run, {"kind": "done", "attempt": 1, "summary": "ok"})

    assert report["kind"] == "failed" and report["permanent"] is False
    assert f"is on elsewhere, not on the task's branch {BRANCH}" in report["reason"]
    assert git(remote, "branch", "--list", "elsewhere", "agent/*").stdout == ""


def test_closing_an_old_attempt_leaves_the_worktree_a_newer_attempt_works_in(remote, tmp_path, hub):
    from sidecar.runtime.workflow import before_run

    sidecar = _sidecar_at(tmp_path, hub)
    task = {"id": "T-7", "title": TASK.title, "prompt": "p", "repo": str(remote)}
    old, new = sidecar.runs.create(task, 1), sidecar.runs.create(task, 2)
    before_run(sidecar.config, old)
    before_run(sidecar.config, new)  # the same worktree, found again (clean, nothing unpushed)
    tree = Path(new.notes["workdir"])
    assert Path(old.notes["workdir"]) == tree

    sidecar._close(old, "the hub took attempt 1 back")

    assert (tree / "README.md").exists() and git(tree, "symbolic-ref", "--short", "HEAD").stdout.strip() == BRANCH
    sidecar._close(new, "done")  # the last attempt's close tidies it
    assert not tree.exists()


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.slow
def test_a_git_that_times_out_takes_its_children_with_it_and_the_push_never_lands(remote, tmp_path, local,
                                                                                 monkeypatch):
    import time

    from sidecar.gitflow import gitrun

    work = clone_of(remote, tmp_path / "work")
    start_task(work, TASK, "ada")
    write(work, {"fix.py": "x = 1\n"})
    commit(work, "mine")
    # a slow link: the remote's receive-pack (a child of git push) runs a hook that takes its time
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/hook.pid\ncat >/dev/null\nsleep 6\n")
    hook.chmod(0o755)
    monkeypatch.setattr(gitrun, "TRANSFER_TIMEOUT", 2)

    with pytest.raises(GitflowError, match="git push in .* took over 2s"):
        submit(work, TASK, "ada", local)

    pid = int((tmp_path / "hook.pid").read_text())
    assert not _running(pid)  # gone at once, with git
    time.sleep(5)  # past the moment the hook would have let the push through
    assert git(remote, "branch", "--list", "agent/*").stdout == ""


def test_submit_puts_the_labels_on_a_pr_an_earlier_run_opened_without_them(remote, tmp_path, fake_github):
    fake_github.add_user("ada-bot", "ghp_token")
    repo = fake_github.add_repo("acme/web", remote)
    forge = GitHubForge("acme/web", "ghp_token", fake_github.url)
    work = clone_of(remote, tmp_path / "work")
    start_task(work, TASK, "ada")
    write(work, {"app/login.py": "def login(user, next):\n    return next\n"})
    commit(work, "keep next")
    git(work, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
    forge.open_pr(BRANCH, "main", TASK.title, "opened; then the label call was lost")

    done = submit(work, TASK, "ada", forge)

    assert (done.number, done.opened) == (1, False)
    assert repo.pulls[1].labels == ["agent:ada", "priority:high"]


def test_a_worktree_whose_pushed_branch_was_deleted_from_the_remote_is_kept(remote, tmp_path):
    tree, _ = prepare(tmp_path / "state", str(remote), TASK, "ada")
    write(tree, {"fix.py": "x = 1\n"})
    commit(tree, "pushed, then deleted there")
    git(tree, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
    git(remote, "branch", "-q", "-D", BRANCH)  # someone deletes the branch on the remote

    assert cleanup(tree) == (False, "kept: 1 commit(s) not on origin")
    assert (tree / "fix.py").exists()


def test_a_task_id_that_makes_an_invalid_branch_name_fails_permanently_and_branches_nothing(remote, tmp_path, hub):
    sidecar = _sidecar_at(tmp_path, hub)
    run = sidecar.runs.create({"id": "T..7", "title": "Fix", "prompt": "p", "repo": str(remote)}, 1)

    sidecar._start(run)

    [report] = [json.loads(p.read_text())["body"] for p in (tmp_path / "st" / "outbox").glob("*.json")]
    assert report["kind"] == "failed" and report["permanent"] is True
    assert "task T..7 makes the branch name 'agent/ada/T..7-fix', which git refuses" in json.dumps(report)
    clone = next((tmp_path / "st" / "workspaces").glob("*/clone"))
    assert git(clone, "branch", "--list", "agent/*").stdout == ""


def _sidecar_at(tmp_path, hub, extra: str = ""):
    from sidecar.runtime.config import load_config
    from sidecar.runtime.reconcile import Sidecar

    status_code, body = hub.request("POST", "/api/agents", {"name": "ada"})
    assert status_code == 201, body
    path = tmp_path / "ada.yaml"
    path.write_text(f"hub: {hub.url}\nagent: ada\ntoken: {body['token']}\ncommand: x\n"
                    f"state_dir: {tmp_path / 'st'}\n{extra}")
    path.chmod(0o600)
    return Sidecar(load_config(path))


def _outbox(tmp_path) -> list[dict]:
    return [json.loads(p.read_text())["body"] for p in sorted((tmp_path / "st" / "outbox").glob("*.json"))]


def test_git_may_not_reach_a_target_over_plain_http_or_any_other_transport(tmp_path, hub):
    from tests.support.http_stub import send, serving

    sidecar = _sidecar_at(tmp_path, hub)
    with serving(lambda h: send(h, 404)) as (url, seen):
        run = sidecar.runs.create({"id": "T-7", "title": "Fix", "prompt": "p", "repo": f"{url}/acme/web.git"}, 1)
        sidecar._start(run)
    [report] = _outbox(tmp_path)
    assert report["kind"] == "failed" and "transport 'http' not allowed" in report["reason"]
    assert seen == []  # git never even asked


def test_a_sidecar_without_local_targets_fails_a_task_naming_a_path_permanently(remote, tmp_path, hub):
    sidecar = _sidecar_at(tmp_path, hub, "local_targets: false\n")
    for n, repo in enumerate((str(remote), f"file://{remote}"), start=1):
        sidecar._start(sidecar.runs.create({"id": f"T-{n}", "title": "Fix", "prompt": "p", "repo": repo}, 1))

    reports = _outbox(tmp_path)
    assert [r["permanent"] for r in reports] == [True, True]
    assert all("is a path on this machine, and this sidecar has local_targets: false" in r["reason"] for r in reports)
    assert not (tmp_path / "st" / "workspaces").exists()  # nothing was cloned


def test_the_sidecar_runs_no_git_in_a_worktree_whose_git_file_leads_elsewhere(remote, tmp_path, hub):
    from sidecar.runtime.workflow import after_run, before_run

    sidecar = _sidecar_at(tmp_path, hub)
    run = sidecar.runs.create({"id": "T-7", "title": TASK.title, "prompt": "p", "repo": str(remote)}, 1)
    before_run(sidecar.config, run)
    tree = Path(run.notes["workdir"])
    # the agent aims the worktree at another repo: a clone of its own, on a branch named like the task's
    victim = clone_of(remote, tmp_path / "victim")
    git(victim, "checkout", "-q", "-b", BRANCH)
    write(victim, {"other.txt": "not for this task\n"})
    commit(victim, "someone else's work")
    (tree / ".git").write_text(f"gitdir: {victim / '.git'}\n")

    report = after_run(sidecar.config, run, {"kind": "done", "attempt": 1, "summary": "ok"})

    assert report["kind"] == "failed" and "is no longer a worktree of the sidecar's clone" in report["reason"]
    assert git(remote, "branch", "--list", "agent/*").stdout == ""  # nothing pushed from the other repo
    with pytest.raises(GitflowError, match="leads to .*victim/.git, outside"):
        cleanup(tree)
    assert (victim / "other.txt").exists() and git(victim, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip() == BRANCH
