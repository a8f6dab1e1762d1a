"""One contract for every forge (the local forge through a real hub, and the GitHub forge against
the fake GitHub on 127.0.0.1), then what is particular to each: GitHub's codes and rate limits,
the local forge's records in the coordination repo."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from coordinator.core.prrecord import path_of
from coordinator.forge.base import (
    BranchInUse,
    ForgeError,
    HeadMoved,
    NoCommits,
    NotMergeable,
    PrExists,
    PrNotFound,
)
from coordinator.forge.github import GitHubForge, repo_of
from coordinator.forge.local import LocalForge
from coordinator.hub.batch import Batch
from coordinator.wire.client import HttpBackend
from tests.support.gitenv import git
from tests.support.held import agent_holding_a_task
from tests.support.targets import make_remote, push_branch

TOKEN = "ghp_agentcomtesttoken"


@dataclass
class Env:
    kind: str
    forge: object
    remote: Path
    root: Path
    comments: object    # number → the comment bodies the forge holds
    operator: object = None   # the same forge as the account that reviews and merges
    reviewers: object = None  # number → (people, teams) asked to review

    def push(self, branch: str, files: dict, message: str = "work") -> str:
        return push_branch(self.remote, self.root, branch, files, message)


def local_env(hub, tmp_path) -> Env:
    remote = make_remote(tmp_path / "remotes")
    token, task = agent_holding_a_task(hub, "ada", repo=str(remote))  # an agent opens PRs for its own task only
    forge = LocalForge(HttpBackend(hub.url, token), str(remote), task)

    def comments(n):
        return [c["body"] for c in hub.request("GET", f"/api/prs/{n}")[1]["comments"]]

    def reviewers(n):
        record = hub.request("GET", f"/api/prs/{n}")[1]
        return record.get("reviewers", []), record.get("team_reviewers", [])
    return Env("local", forge, remote, tmp_path, comments, LocalForge(HttpBackend(hub.url, hub.token), str(remote)),
               reviewers)


@pytest.fixture(params=["local", "github"])
def env(request, tmp_path):
    if request.param == "local":
        return local_env(request.getfixturevalue("hub"), tmp_path)
    remote = make_remote(tmp_path / "remotes")
    github = request.getfixturevalue("fake_github")
    github.add_user("ada", TOKEN)
    repo = github.add_repo("acme/web", remote)
    github.add_user("gatekeeper-bot", "ghp_gatekeepertoken")
    forge = GitHubForge("acme/web", TOKEN, github.url, sleep=lambda s: None)
    return Env("github", forge, remote, tmp_path, lambda n: [c["body"] for c in repo.pulls[n].comments],
               GitHubForge("acme/web", "ghp_gatekeepertoken", github.url, sleep=lambda s: None),
               lambda n: (repo.pulls[n].reviewers, repo.pulls[n].team_reviewers))


# --- the contract --------------------------------------------------------------------------

def test_an_opened_pr_reads_back_with_everything_it_was_opened_with(env):
    head = env.push("agent/ada/T-1-fix-login", {"app/login.py": "def login(user, next):\n    return next\n"})
    pr = env.forge.open_pr("agent/ada/T-1-fix-login", "main", "Fix the login redirect", "Task T-1\nbody",
                           ("agent:ada", "priority:high"))
    assert pr.number >= 1 and pr.url.startswith("http")
    got = env.forge.get_pr(pr.number)
    assert (got.number, got.state, got.head, got.head_sha, got.base) == (pr.number, "open",
                                                                         "agent/ada/T-1-fix-login", head, "main")
    assert (got.title, got.body, got.author) == ("Fix the login redirect", "Task T-1\nbody", "ada")
    assert got.labels == ("agent:ada", "priority:high") and got.merged is False
    assert got.mergeable in (True, None)  # None: not computed yet, as GitHub may say
    assert got.url == pr.url


def test_a_second_pr_from_the_same_branch_is_refused_and_the_first_is_found(env):
    env.push("agent/ada/T-2", {"README.md": "# web\nmore\n"})
    first = env.forge.open_pr("agent/ada/T-2", "main", "One", "")
    with pytest.raises(PrExists):
        env.forge.open_pr("agent/ada/T-2", "main", "Again", "")
    found = env.forge.find_open_pr("agent/ada/T-2")
    assert found is not None and found.number == first.number
    assert env.forge.find_open_pr("agent/ada/nothing-here") is None


def test_a_branch_with_no_commits_ahead_of_main_is_refused(env):
    git(env.root / "remotes", "--git-dir", str(env.remote), "branch", "empty", "main")
    with pytest.raises(NoCommits):
        env.forge.open_pr("empty", "main", "Nothing", "")
    assert env.forge.find_open_pr("empty") is None


def test_an_unknown_pr_is_not_found(env):
    with pytest.raises(PrNotFound):
        env.forge.get_pr(999)
    with pytest.raises(PrNotFound):
        env.forge.pr_files(999)


def test_changed_files_come_in_githubs_item_shape_for_every_kind_of_change(env):
    env.push("agent/ada/T-3", {"app/login.py": "def login(user, next):\n    return next\n", "gone.txt": None,
                               "new.txt": "a\nb\n", "logo.png": bytes(range(256)) * 4})
    work = env.root / "push-agent-ada-T-3"
    (work / "new").mkdir()
    git(work, "mv", "old/name.txt", "new/name.txt")
    (work / "run.sh").chmod(0o755)
    git(work, "commit", "-q", "-am", "rename and chmod")
    git(work, "push", "-q", "origin", "HEAD:refs/heads/agent/ada/T-3")
    pr = env.forge.open_pr("agent/ada/T-3", "main", "Many kinds", "")

    files = {f["filename"]: f for f in env.forge.pr_files(pr.number)}
    assert set(files) == {"app/login.py", "gone.txt", "new.txt", "logo.png", "new/name.txt", "run.sh"}
    login = files["app/login.py"]
    assert (login["status"], login["additions"], login["deletions"], login["changes"]) == ("modified", 2, 2, 4)
    assert login["patch"].startswith("@@ -1,2 +1,2 @@") and not login["patch"].endswith("\n")
    assert "+    return next" in login["patch"]
    assert (files["gone.txt"]["status"], files["gone.txt"]["deletions"]) == ("removed", 1)
    assert (files["new.txt"]["status"], files["new.txt"]["additions"], files["new.txt"]["patch"]) == \
        ("added", 2, "@@ -0,0 +1,2 @@\n+a\n+b")
    assert files["logo.png"]["status"] == "added" and "patch" not in files["logo.png"]
    assert files["logo.png"]["changes"] == 0
    assert files["new/name.txt"]["status"] == "renamed"
    assert files["new/name.txt"]["previous_filename"] == "old/name.txt"
    assert files["run.sh"]["status"] == "changed" and files["run.sh"]["changes"] == 0
    for item in files.values():
        assert {"filename", "status", "additions", "deletions", "changes"} <= set(item)
        assert ("previous_filename" in item) == (item["status"] in ("renamed", "copied"))


def test_changed_files_follow_the_branch_as_it_is_pushed_again(env):
    env.push("agent/ada/T-4", {"a.txt": "1\n"})
    pr = env.forge.open_pr("agent/ada/T-4", "main", "Grows", "")
    later = env.push("agent/ada/T-4", {"b.txt": "2\n"})
    assert env.forge.get_pr(pr.number).head_sha == later
    assert sorted(f["filename"] for f in env.forge.pr_files(pr.number)) == ["a.txt", "b.txt"]


@pytest.mark.slow
def test_a_pr_of_more_than_a_hundred_files_lists_them_all(env):
    env.push("agent/ada/T-5", {f"many/f{i:03}.txt": f"{i}\n" for i in range(130)})
    pr = env.forge.open_pr("agent/ada/T-5", "main", "Many files", "")
    files = env.forge.pr_files(pr.number)
    assert [f["filename"] for f in files] == [f"many/f{i:03}.txt" for i in range(130)]


def test_labels_add_up_and_comments_are_kept(env):
    env.push("agent/ada/T-6", {"c.txt": "3\n"})
    pr = env.forge.open_pr("agent/ada/T-6", "main", "Labelled", "", ("agent:ada",))
    assert env.forge.add_labels(pr.number, ("priority:low", "agent:ada")) == ("agent:ada", "priority:low")
    assert env.forge.get_pr(pr.number).labels == ("agent:ada", "priority:low")
    env.forge.comment(pr.number, "gatekeeper: looks safe")
    assert env.comments(pr.number) == ["gatekeeper: looks safe"]
    with pytest.raises(ForgeError):
        env.forge.add_labels(pr.number, ("bad,label",))


def _settled(forge, number):
    """The PR once the forge has worked out whether it merges (GitHub: null on the first read)."""
    for _ in range(3):
        pr = forge.get_pr(number)
        if pr.mergeable is not None:
            return pr
    raise AssertionError("mergeable stayed unknown")


def test_statuses_are_kept_per_commit_newest_first(env):
    head = env.push("agent/ada/T-9", {"f.txt": "6\n"})
    pr = env.forge.open_pr("agent/ada/T-9", "main", "Checked", "")
    assert env.forge.statuses(head) == [] and env.forge.check_runs(head) == []
    env.operator.set_status(head, "pending", "test", "running")   # as CI does, with its own account
    env.operator.set_status(head, "success", "test", "all passed")
    found = env.operator.statuses(head)
    assert [(s["context"], s["state"]) for s in found] == [("test", "success"), ("test", "pending")]
    assert all({"id", "created_at", "updated_at", "description"} <= set(s) for s in found)
    later = env.push("agent/ada/T-9", {"g.txt": "7\n"})
    assert env.forge.statuses(later) == []          # a new head starts with none
    with pytest.raises(ForgeError, match="state must be one of"):
        env.operator.set_status(later, "green", "test")
    assert pr.number >= 1


def test_on_the_local_forge_an_agent_cannot_set_a_status_on_its_own_pr(hub, tmp_path):
    env = local_env(hub, tmp_path)
    head = env.push("agent/ada/T-19", {"f.txt": "6\n"})
    env.forge.open_pr("agent/ada/T-19", "main", "Mine", "")
    with pytest.raises(ForgeError) as refused:
        env.forge.set_status(head, "success", "test", "trust me")
    assert refused.value.status == 403 and env.operator.statuses(head) == []


def test_a_pr_is_merged_only_at_the_head_that_was_given(env):
    first = env.push("agent/ada/T-10", {"h.txt": "8\n"})
    pr = env.forge.open_pr("agent/ada/T-10", "main", "Merge me", "")
    assert _settled(env.operator, pr.number).mergeable is True
    second = env.push("agent/ada/T-10", {"h.txt": "9\n"})
    with pytest.raises(HeadMoved) as moved:
        env.operator.merge(pr.number, first, "squash")
    assert moved.value.status == 409 and not env.operator.get_pr(pr.number).merged
    merged = env.operator.merge(pr.number, second, "squash")
    main = git(env.root, "--git-dir", str(env.remote), "rev-parse", "main").stdout.strip()
    assert merged == main
    shown = git(env.root, "--git-dir", str(env.remote), "show", "main:h.txt").stdout
    assert shown == "9\n"
    assert git(env.root, "--git-dir", str(env.remote), "rev-list", "--count", f"main^..{main}").stdout.strip() == "1"
    after = env.operator.get_pr(pr.number)
    assert (after.state, after.merged) == ("closed", True)
    with pytest.raises(NotMergeable):
        env.operator.merge(pr.number, second, "squash")


def test_a_conflicting_pr_is_not_mergeable_and_its_merge_is_refused(env):
    head = env.push("agent/ada/T-11", {"README.md": "# web, by the agent\n"})
    pr = env.forge.open_pr("agent/ada/T-11", "main", "Conflicts", "")
    env.push("someone-else", {"README.md": "# web, by a human\n"})
    git(env.root, "--git-dir", str(env.remote), "update-ref", "refs/heads/main", "refs/heads/someone-else")
    assert _settled(env.operator, pr.number).mergeable is False
    with pytest.raises(NotMergeable) as refused:
        env.operator.merge(pr.number, head, "merge")
    assert refused.value.status == 405 and not env.operator.get_pr(pr.number).merged


def test_reviewers_are_requested_and_add_up(env):
    env.push("agent/ada/T-12", {"i.txt": "10\n"})
    pr = env.forge.open_pr("agent/ada/T-12", "main", "Review me", "")
    env.operator.request_reviewers(pr.number, ("grace",), ("maintainers",))
    env.operator.request_reviewers(pr.number, ("linus", "grace"))
    assert env.reviewers(pr.number) == (["grace", "linus"], ["maintainers"])


# --- GitHub in particular --------------------------------------------------------------------

def _raw(fake_github, method: str, path: str, token: str | None) -> tuple[int, dict]:
    req = urllib.request.Request(fake_github.url + path, method=method, data=b"{}" if method == "POST" else None)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_fake_github_refuses_without_a_token_and_names_unknown_repos_not_found(fake_github, tmp_path):
    fake_github.add_user("ada", TOKEN)
    fake_github.add_repo("acme/web", make_remote(tmp_path))
    assert _raw(fake_github, "GET", "/repos/acme/web/pulls", None) == \
        (401, {"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest",
               "status": "401"})
    assert _raw(fake_github, "GET", "/repos/acme/web/pulls", "wrong")[0] == 401
    assert _raw(fake_github, "GET", "/repos/acme/nope/pulls", TOKEN)[0] == 404
    status, body = _raw(fake_github, "POST", "/repos/acme/web/pulls", TOKEN)
    assert status == 422 and body["message"] == "Validation Failed"


def test_a_bad_token_is_a_clear_error(fake_github, tmp_path):
    fake_github.add_repo("acme/web", make_remote(tmp_path))
    forge = GitHubForge("acme/web", "not-a-token", fake_github.url)
    with pytest.raises(ForgeError, match="GitHub refused the token \\(401\\): Bad credentials"):
        forge.get_pr(1)


def test_a_rate_limit_is_waited_out_within_its_bound(fake_github, tmp_path):
    fake_github.add_user("ada", TOKEN)
    fake_github.add_repo("acme/web", make_remote(tmp_path))
    waits: list[float] = []
    forge = GitHubForge("acme/web", TOKEN, fake_github.url, sleep=waits.append, max_wait=60)
    fake_github.rate_limit(1, retry_after=7)
    fake_github.rate_limit(1, reset_in=20, status=429)
    assert forge.find_open_pr("nothing") is None
    assert waits[0] == 7 and 15 <= waits[1] <= 21
    assert [s for _, _, s in fake_github.requests] == [403, 429, 200]

    fake_github.rate_limit(1, retry_after=3600)
    with pytest.raises(ForgeError, match="rate limit.*waiting 3600s"):
        forge.find_open_pr("nothing")
    assert waits[2:] == []  # it never slept an hour


def test_github_says_mergeable_null_on_the_first_read_after_a_push(fake_github, tmp_path):
    fake_github.add_user("ada", TOKEN)
    remote = make_remote(tmp_path / "remotes")
    fake_github.add_repo("acme/web", remote)
    forge = GitHubForge("acme/web", TOKEN, fake_github.url)
    push_branch(remote, tmp_path, "b", {"x.txt": "1\n"})
    pr = forge.open_pr("b", "main", "t", "")
    assert [forge.get_pr(pr.number).mergeable for _ in range(2)] == [None, True]
    push_branch(remote, tmp_path, "b", {"x.txt": "2\n"})
    assert [forge.get_pr(pr.number).mergeable for _ in range(2)] == [None, True]


def test_check_runs_are_read_from_githubs_own_list_shape(fake_github, tmp_path):
    fake_github.add_user("ada", TOKEN)
    remote = make_remote(tmp_path / "remotes")
    fake_github.add_repo("acme/web", remote)
    forge = GitHubForge("acme/web", TOKEN, fake_github.url)
    head = push_branch(remote, tmp_path, "b", {"x.txt": "1\n"})
    fake_github.add_check_run("acme/web", head, "lint", "in_progress", None)
    fake_github.add_check_run("acme/web", head, "test", "completed", "failure")
    runs = forge.check_runs(head)
    assert [(r["name"], r["status"], r["conclusion"]) for r in runs] == [("lint", "in_progress", None),
                                                                        ("test", "completed", "failure")]
    with pytest.raises(ForgeError, match="not a full commit id"):
        forge.check_runs("main")


def test_a_truncated_file_list_is_shorter_than_the_prs_changed_files(fake_github, tmp_path):
    fake_github.add_user("ada", TOKEN)
    remote = make_remote(tmp_path / "remotes")
    repo = fake_github.add_repo("acme/web", remote)
    forge = GitHubForge("acme/web", TOKEN, fake_github.url)
    push_branch(remote, tmp_path, "b", {f"f{i}.txt": f"{i}\n" for i in range(5)})
    pr = forge.open_pr("b", "main", "t", "")
    repo.truncate_files[pr.number] = 3
    assert len(forge.pr_files(pr.number)) == 3 and forge.get_pr(pr.number).changed_files == 5


def test_owner_and_name_come_from_the_remote(tmp_path):
    assert repo_of("https://github.com/acme/web.git") == "acme/web"
    assert repo_of("git@github.com:acme/web.git") == "acme/web"
    assert repo_of(str(tmp_path / "acme" / "web.git")) == "acme/web"
    with pytest.raises(ForgeError, match="OWNER/NAME"):
        repo_of("web")


# --- the local forge in particular -----------------------------------------------------------

def test_the_local_forge_records_each_pr_on_main_through_the_hub(hub, tmp_path):
    env = local_env(hub, tmp_path)
    env.push("agent/ada/T-7", {"d.txt": "4\n"})
    pr = env.forge.open_pr("agent/ada/T-7", "main", "Recorded", "body text", ("agent:ada",))
    assert pr.url == f"{hub.url}/api/prs/{pr.number}"
    clone = tmp_path / "coord"
    git(tmp_path, "clone", "-q", str(hub.repo), str(clone))
    record = (clone / path_of(pr.number)).read_text()
    assert "head: agent/ada/T-7" in record and "author: ada" in record and "body: body text" in record
    log = git(clone, "log", "-1", "--format=%s", "--", path_of(pr.number)).stdout.strip()
    assert log == f"pr #{pr.number}: opened agent/ada/T-7 → main"


def test_a_push_that_writes_prs_is_refused(hub, clone):
    (clone / "prs").mkdir()
    (clone / "prs" / "1.yaml").write_text("number: 1\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "forge a PR")
    pushed = git(clone, "push", "origin", "HEAD:main", check=False)
    assert pushed.returncode != 0
    assert "prs/1.yaml: prs/ is written by the coordinator only" in pushed.stderr


def test_opening_a_local_pr_needs_a_token_and_a_valid_request(hub):
    status, body = hub.request("POST", "/api/prs", {"repo": "x"}, token=None)
    assert status == 401
    status, body = hub.request("POST", "/api/prs", {"repo": "/r", "head": "a..b", "base": "main",
                                                     "head_sha": "xyz", "title": "", "color": 1})
    assert status == 422
    assert body["problems"] == ["unknown field 'color' (known: repo, head, base, head_sha, title, body, labels, task)",
                                "head must be a branch name (letters, digits, . _ / + -; at most 200)",
                                "head_sha must be the head commit's 40-character hex id",
                                "title must be text of 1-256 characters"]


def test_the_hub_bounds_labels_and_comments_and_knows_no_pr_it_never_recorded(hub, tmp_path):
    env = local_env(hub, tmp_path)
    env.push("agent/ada/T-8", {"e.txt": "5\n"})
    pr = env.forge.open_pr("agent/ada/T-8", "main", "Bounded", "")
    status, body = hub.request("POST", f"/api/prs/{pr.number}/labels", {"labels": [f"l{i}" for i in range(21)]})
    assert status == 400 and body["message"] == "labels must be a list of at most 20 names"
    first = [f"a{i}" for i in range(15)]
    assert hub.request("POST", f"/api/prs/{pr.number}/labels", {"labels": first}) == (200, {"labels": first})
    status, body = hub.request("POST", f"/api/prs/{pr.number}/labels", {"labels": [f"b{i}" for i in range(6)]})
    assert status == 400 and body["message"] == "a pull request holds at most 20 labels"
    status, body = hub.request("POST", f"/api/prs/{pr.number}/comments", {"body": "x" * 65537})
    assert status == 400 and body["message"] == "body must be text of 1-65536 characters"
    record = hub.request("GET", f"/api/prs/{pr.number}")[1]
    assert (record["labels"], record["comments"]) == (first, [])  # the refused changes changed nothing
    status, body = hub.request("POST", "/api/prs/77/comments", {"body": "hello"})
    assert (status, body["error"]) == (404, "PrNotFound")
    status, body = hub.request("POST", "/api/prs", {"repo": str(env.remote), "head": "agent/ada/T-8", "base": "main",
                                                     "head_sha": "a" * 40, "title": "again"})
    assert (status, body["error"], body["number"]) == (422, "PrExists", pr.number)


def test_a_pr_number_is_never_given_twice_even_past_a_record_the_hub_cannot_read(repo, tmp_path):
    from coordinator.hub.hub import Hub

    remote = make_remote(tmp_path / "remotes")
    for branch in ("b-1", "b-2"):
        push_branch(remote, tmp_path, branch, {f"{branch}.txt": "1\n"})
    hub = Hub(repo, role="cli")
    try:
        request = {"repo": str(remote), "head": "b-1", "base": "main", "title": "t"}
        assert hub.call(Batch.open_pr, request, "ada")["number"] == 1
        hub.call(lambda batch: hub.store.stage({"prs/5.yaml": b"not: [a record"}, "a damaged record"))
        record = hub.call(Batch.open_pr, {**request, "head": "b-2"}, "ada")
        assert record["number"] == 6 and [r["number"] for r in hub.prs.find()] == [6, 1]
    finally:
        hub.close()


def test_only_the_operator_merges_or_asks_reviewers_on_the_local_forge(hub, tmp_path):
    env = local_env(hub, tmp_path)
    head = env.push("agent/ada/T-13", {"j.txt": "11\n"})
    pr = env.forge.open_pr("agent/ada/T-13", "main", "Mine", "")
    with pytest.raises(ForgeError) as refused:
        env.forge.merge(pr.number, head, "squash")   # the agent's own token
    assert refused.value.status == 403
    with pytest.raises(ForgeError):
        env.forge.request_reviewers(pr.number, ("grace",))
    assert not env.operator.get_pr(pr.number).merged


def test_the_hub_checks_the_branches_and_serves_what_they_hold_now(hub, tmp_path):
    from tests.support.openapi import validator

    env = local_env(hub, tmp_path)
    first = env.push("agent/ada/T-20", {"app/login.py": "def login(user, next):\n    return next\n"})
    request = {"repo": str(env.remote), "head": "agent/ada/T-20", "base": "main", "title": "Live"}
    assert hub.request("POST", "/api/prs", {**request, "base": "nope"})[1]["message"] == \
        f"{env.remote} has no branch nope"
    status, body = hub.request("POST", "/api/prs", {**request, "repo": str(tmp_path / "none")})
    assert (status, body["error"]) == (422, "ForgeError") and "is not a git repo" in body["message"]
    git(tmp_path / "remotes", "--git-dir", str(env.remote), "branch", "level", "main")
    status, body = hub.request("POST", "/api/prs", {**request, "head": "level"})
    assert (status, body["error"]) == (422, "NoCommits")

    status, opened = hub.request("POST", "/api/prs", request)   # no head_sha: the hub records the branch's
    assert status == 201 and (opened["head_sha"], opened["mergeable"], opened["changed_files"]) == (first, True, 1)
    validator("PullRequest").validate(opened)
    second = env.push("agent/ada/T-20", {"new.txt": "a\n"})
    record = hub.request("GET", f"/api/prs/{opened['number']}")[1]
    validator("PullRequest").validate(record)
    assert (record["head_sha"], record["changed_files"]) == (second, 2)
    [listed] = hub.request("GET", "/api/prs")[1]["prs"]
    validator("PullRequestSummary").validate(listed)
    assert listed["head_sha"] == second
    status, body = hub.request("GET", f"/api/prs/{opened['number']}/files")
    assert status == 200 and [f["filename"] for f in body["files"]] == ["app/login.py", "new.txt"]
    for item in body["files"]:
        validator("ChangedFile").validate(item)
    assert body["files"] == env.operator.pr_files(opened["number"])
    assert hub.request("GET", "/api/prs/99/files")[0] == 404


def test_a_target_the_hub_cannot_read_is_a_clear_422_and_never_breaks_the_list(hub, tmp_path):
    from coordinator.hub import prtarget

    unknown = "~no-such-user-agentcom/web.git"   # expanduser cannot resolve it (RuntimeError)
    request = {"repo": unknown, "head": "agent/ada/T-1", "base": "main", "title": "t"}
    status, body = hub.request("POST", "/api/prs", request)
    assert (status, body["error"]) == (422, "ForgeError")
    assert body["message"].startswith(f"cannot read the target {unknown}")
    assert hub.request("POST", "/api/prs", {**request, "repo": "web\u0000.git"})[0] == 422
    # a record stored before the hub checked targets: served with what it recorded, nulls for the rest
    record = {"number": 7, "repo": unknown, "head": "b", "base": "main", "head_sha": "a" * 40, "state": "open"}
    assert prtarget.with_heads([record]) == [record]
    assert prtarget.with_live(record) == {**record, "mergeable": None, "changed_files": None}


# --- closing, labels off, branches deleted, reviews (the contract again) -----------------------

def _branch(env, name: str) -> str:
    return git(env.root, "--git-dir", str(env.remote), "rev-parse", "--verify", "-q", f"refs/heads/{name}",
               check=False).stdout.strip()


def test_a_closed_pr_stays_closed_and_only_then_its_branch_may_be_deleted(env):
    env.push("agent/ada/T-30", {"k.txt": "1\n"})
    pr = env.forge.open_pr("agent/ada/T-30", "main", "Not wanted", "")
    with pytest.raises(BranchInUse) as in_use:
        env.operator.delete_branch("agent/ada/T-30")
    assert in_use.value.status == 422 and f"#{pr.number}" in str(in_use.value) and _branch(env, "agent/ada/T-30")
    closed = env.operator.close(pr.number)
    assert (closed.state, closed.merged) == ("closed", False)
    assert env.operator.get_pr(pr.number).state == "closed" and env.operator.find_open_pr("agent/ada/T-30") is None
    assert env.operator.close(pr.number).state == "closed"  # again: nothing new
    with pytest.raises(BranchInUse):
        env.operator.delete_branch("main")
    assert _branch(env, "main")
    assert env.operator.delete_branch("agent/ada/T-30") is True and not _branch(env, "agent/ada/T-30")
    assert env.operator.delete_branch("agent/ada/T-30") is False   # gone already: no error


def test_labels_come_off_one_at_a_time_and_one_not_there_is_no_error(env):
    env.push("agent/ada/T-31", {"l.txt": "1\n"})
    pr = env.forge.open_pr("agent/ada/T-31", "main", "Labelled", "", ("agentcom:needs-human",))
    env.operator.add_labels(pr.number, ("agentcom:blocked", "keep"))
    env.operator.remove_label(pr.number, "agentcom:needs-human")
    env.operator.remove_label(pr.number, "agentcom:blocked")
    env.operator.remove_label(pr.number, "never-there")
    assert env.operator.get_pr(pr.number).labels == ("keep",)


def test_a_merge_commit_carries_the_title_and_message_given(env):
    head = env.push("agent/ada/T-32", {"m.txt": "1\n"})
    pr = env.forge.open_pr("agent/ada/T-32", "main", "Squash me", "")
    _settled(env.operator, pr.number)
    with pytest.raises(ForgeError):
        env.operator.merge(pr.number, head, "squash", "two\nlines", None)
    env.operator.merge(pr.number, head, "squash", f"Squash me (#{pr.number})", "Why it is so.\n\nTask: T-32\n")
    text = git(env.root, "--git-dir", str(env.remote), "log", "-1", "--format=%B", "main").stdout
    assert text.startswith(f"Squash me (#{pr.number})\n\nWhy it is so.") and "Task: T-32" in text


def test_reviews_come_in_githubs_shape_and_the_local_forge_has_none(env, request):
    env.push("agent/ada/T-33", {"n.txt": "1\n"})
    pr = env.forge.open_pr("agent/ada/T-33", "main", "Reviewed", "")
    if env.kind == "local":
        assert env.operator.reviews(pr.number) == []
        return
    github = request.getfixturevalue("fake_github")
    github.add_review("acme/web", pr.number, "grace", "CHANGES_REQUESTED", "rename it")
    github.add_review("acme/web", pr.number, "linus", "APPROVED")
    found = env.operator.reviews(pr.number)
    assert [(r["user"]["login"], r["state"], r["body"]) for r in found] == [
        ("grace", "CHANGES_REQUESTED", "rename it"), ("linus", "APPROVED", "")]
    assert all(r["commit_id"] == pr.head_sha and r["submitted_at"] for r in found)


def test_on_the_local_forge_an_agent_can_neither_close_nor_unlabel_nor_delete(hub, tmp_path):
    env = local_env(hub, tmp_path)
    env.push("agent/ada/T-34", {"o.txt": "1\n"})
    pr = env.forge.open_pr("agent/ada/T-34", "main", "Mine", "", ("agentcom:needs-human",))
    for call in (lambda: env.forge.close(pr.number), lambda: env.forge.remove_label(pr.number, "agentcom:needs-human")):
        with pytest.raises(ForgeError) as refused:
            call()
        assert refused.value.status == 403
    env.operator.close(pr.number)
    with pytest.raises(ForgeError) as refused:
        env.forge.delete_branch("agent/ada/T-34")
    assert refused.value.status == 403 and _branch(env, "agent/ada/T-34")
    assert env.operator.get_pr(pr.number).labels == ("agentcom:needs-human",)
