"""A fake GitHub on 127.0.0.1 for tests: the REST API's pull request, label and comment endpoints,
answering with GitHub's documented status codes and JSON shapes (Enterprise-style base URL
`http://127.0.0.1:PORT/api/v3`).

State lives in `FakeGitHub`: repositories (each backed by a real bare git repo, which is where
branches and heads live, just as a push to GitHub would put them), pull requests, labels,
comments, users by token, queued rate-limit answers, commit statuses and check runs per SHA,
requested reviewers, merges, closes, label removals, branch deletions and reviews, and what
protects a branch (classic branch protection, readable by admins only, and rulesets). Changed
files are computed with the git CLI, independently of the forge code under test. As on GitHub:
`mergeable` is null on the first read after a push (computed in the background), a merge
answers 409 when the head moved from the SHA sent and 405 when the branch cannot merge, and a
PR's file list can be cut short (`truncate_files`).
"""
from __future__ import annotations

import itertools
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

DOCS = "https://docs.github.com/rest"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Pull:
    number: int
    title: str
    body: str | None
    head: str
    base: str
    user: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    comments: list[dict] = field(default_factory=list)
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    head_sha: str = ""     # the head when last read from git
    computed_for: str = ""  # the head whose mergeability has been worked out
    reviewers: list[str] = field(default_factory=list)
    team_reviewers: list[str] = field(default_factory=list)
    merged: bool = False
    merge_commit_sha: str | None = None
    merged_by: str | None = None
    reviews: list[dict] = field(default_factory=list)
    closed_at: str | None = None


@dataclass
class Repo:
    owner: str
    name: str
    path: Path             # the bare git repo holding its branches
    pulls: dict[int, Pull] = field(default_factory=dict)
    next_number: int = 1   # issues and pull requests share one sequence on GitHub
    statuses: dict[str, list[dict]] = field(default_factory=dict)    # sha → newest first
    check_runs: dict[str, list[dict]] = field(default_factory=dict)  # sha → runs
    truncate_files: dict[int, int] = field(default_factory=dict)     # PR number → files listed
    computing: set[int] = field(default_factory=set)                 # PRs whose mergeable stays null
    require_up_to_date: bool = False   # branch protection: a head behind its base may not merge
    collaborators: set[str] | None = None   # who may be asked to review (None: anyone)
    default_branch: str = "main"
    protection: dict[str, dict] = field(default_factory=dict)   # branch → classic protection, as set
    rulesets: list[dict] = field(default_factory=list)          # {id, name, enforcement, include, rules}
    admins: set[str] = field(default_factory=set)               # logins that may read protection settings

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def git(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(["git", f"--git-dir={self.path}", *args], capture_output=True, text=True, timeout=60)
        if check and done.returncode != 0:
            raise RuntimeError(f"git {args} failed: {done.stderr}")
        return done.stdout if done.returncode == 0 else ""

    def sha(self, branch: str) -> str | None:
        return self.git("rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False).strip() or None


_ROUTES: list[tuple[str, list[str], Callable]] = []   # (rule under a repo, methods, FakeGitHub method)


def _route(rule: str, methods: list[str]):
    """Add a FakeGitHub method to the route table; each instance's app serves it."""
    def wrap(fn):
        _ROUTES.append((rule, methods, fn))
        return fn
    return wrap


class FakeGitHub:
    """The server and its state; `url` is the API base to give a GitHub client."""

    def __init__(self):
        self.tokens: dict[str, str] = {}          # token → login
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.rate_limited: list[dict] = []        # headers of answers to give before serving again
        self.lock = threading.RLock()   # a test hook run inside a request may add state too
        self.app = self._build_app()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.root = f"http://127.0.0.1:{self._server.server_port}"
        self.url = self.root + "/api/v3"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-github", daemon=True)
        self._thread.start()
        self._ids = itertools.count(1000)
        self.before_merge = None                  # a test's hook run just before a merge is judged

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # --- test controls ---------------------------------------------------------------------

    def add_user(self, login: str, token: str) -> str:
        self.tokens[token] = login
        return token

    def add_repo(self, full_name: str, path: Path) -> Repo:
        owner, name = full_name.split("/")
        self.repos[full_name] = Repo(owner, name, Path(path))
        return self.repos[full_name]

    def rate_limit(self, times: int = 1, *, retry_after: int | None = None, reset_in: int | None = None,
                   status: int = 403) -> None:
        """Answer the next `times` requests with a rate-limit refusal."""
        for _ in range(times):
            headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Used": "5000"}
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            if reset_in is not None:
                headers.update({"X-RateLimit-Remaining": "0",
                                "X-RateLimit-Reset": str(int(datetime.now().timestamp()) + reset_in)})
            self.rate_limited.append({"status": status, "headers": headers})

    def add_status(self, full_name: str, sha: str, context: str, state: str) -> dict:
        """A commit status, as a CI system would post it."""
        with self.lock:
            return self._status(self.repos[full_name], sha, {"state": state, "context": context}, "ci")

    def add_review(self, full_name: str, number: int, login: str, state: str, body: str = "") -> dict:
        """A review, as a person would submit it on the PR's current head."""
        with self.lock:
            repo = self.repos[full_name]
            pull = repo.pulls[number]
            rid = next(self._ids)
            review = {"id": rid, "node_id": f"PRR_{rid}", "user": self._user_json(login), "body": body,
                      "state": state, "commit_id": repo.sha(pull.head) or pull.head_sha, "submitted_at": _now(),
                      "html_url": f"{self.root}/{full_name}/pull/{number}#pullrequestreview-{rid}",
                      "author_association": "MEMBER"}
            pull.reviews.append(review)
            return review

    def add_check_run(self, full_name: str, sha: str, name: str, status: str = "completed",
                      conclusion: str | None = "success", output: dict | None = None) -> dict:
        """A check run, as a GitHub App would create it (`output`: title, summary, text)."""
        with self.lock:
            return self._check_run(self.repos[full_name], sha, {"name": name, "head_sha": sha, "status": status,
                                                                **({"conclusion": conclusion} if conclusion else {}),
                                                                **({"output": output} if output else {})})

    def protect(self, full_name: str, branch: str | None = None, *, pull_request: bool = True,
                status_checks: tuple[str, ...] = (), enforce_admins: bool = False) -> dict:
        """Classic branch protection, as an admin would set it (PUT .../branches/{branch}/protection)."""
        with self.lock:
            repo = self.repos[full_name]
            branch = branch or repo.default_branch
            url = f"{self.url}/repos/{full_name}/branches/{branch}/protection"
            doc: dict = {"url": url, "enforce_admins": {"url": f"{url}/enforce_admins", "enabled": enforce_admins},
                         "required_linear_history": {"enabled": False}, "allow_force_pushes": {"enabled": False},
                         "allow_deletions": {"enabled": False}, "lock_branch": {"enabled": False}}
            if status_checks:
                doc["required_status_checks"] = {
                    "url": f"{url}/required_status_checks", "strict": False, "contexts": list(status_checks),
                    "contexts_url": f"{url}/required_status_checks/contexts",
                    "checks": [{"context": c, "app_id": None} for c in status_checks]}
            if pull_request:
                doc["required_pull_request_reviews"] = {"url": f"{url}/required_pull_request_reviews",
                                                        "dismiss_stale_reviews": False,
                                                        "require_code_owner_reviews": False,
                                                        "required_approving_review_count": 1}
            repo.protection[branch] = doc
            return doc

    def add_ruleset(self, full_name: str, rules: list[str], *, enforcement: str = "active",
                    include: tuple[str, ...] = ("~DEFAULT_BRANCH",)) -> dict:
        """A branch ruleset (rule types such as pull_request, required_status_checks, non_fast_forward)."""
        with self.lock:
            ruleset = {"id": next(self._ids), "name": f"ruleset {len(self.repos[full_name].rulesets) + 1}",
                       "enforcement": enforcement, "include": list(include), "rules": [{"type": r} for r in rules]}
            self.repos[full_name].rulesets.append(ruleset)
            return ruleset

    # --- the API ---------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask("fake-github")
        app.json.sort_keys = False
        base = "/api/v3/repos/<owner>/<name>"

        @app.before_request
        def _gate():
            if self.rate_limited:
                answer = self.rate_limited.pop(0)
                body = {"message": "API rate limit exceeded for user.", "documentation_url": DOCS}
                return jsonify(body), answer["status"], answer["headers"]
            header = request.headers.get("Authorization", "")
            token = header.split(" ", 1)[1] if header.startswith(("Bearer ", "token ")) else None
            if token is None:
                return _error(401, "Requires authentication")
            if token not in self.tokens:
                return _error(401, "Bad credentials")
            request.login = self.tokens[token]
            return None

        @app.after_request
        def _log(response):
            self.requests.append((request.method, request.full_path.rstrip("?"), response.status_code))
            return response

        for rule, methods, fn in _ROUTES:
            app.add_url_rule(base + rule, view_func=self._repo_view(fn), methods=methods)

        @app.errorhandler(404)
        def _nothing_here(_e):
            return _error(404, "Not Found")

        @app.errorhandler(405)
        def _bad_method(_e):
            return _error(404, "Not Found")

        return app

    def _repo_view(self, fn: Callable) -> Callable:
        """A route of one repository: a 404 for an unknown one, else `fn` under the lock."""
        def view(owner, name, **kwargs):
            repo = self.repos.get(f"{owner}/{name}")
            if repo is None:
                return _error(404, "Not Found")
            with self.lock:
                return fn(self, repo, **kwargs)
        view.__name__ = fn.__name__
        return view

    # --- the routes of a repository, under /api/v3/repos/<owner>/<name> -----------------------

    @_route("", ["GET"])
    def get_repo(self, repo: Repo):
        return jsonify({"id": abs(hash(repo.full_name)) % 10**7, "name": repo.name, "full_name": repo.full_name,
                        "owner": self._user_json(repo.owner), "default_branch": repo.default_branch,
                        "html_url": f"{self.root}/{repo.full_name}"})

    @_route("/branches/<path:branch>/protection", ["GET"])
    def get_protection(self, repo: Repo, branch: str):
        if request.login not in repo.admins:   # reading protection needs admin rights
            return _error(404, "Not Found")
        if repo.sha(branch) is None:
            return _error(404, "Branch not found")
        if branch not in repo.protection:
            return _error(404, "Branch not protected")
        return jsonify(repo.protection[branch])

    @_route("/branches/<path:branch>", ["GET"])
    def get_branch(self, repo: Repo, branch: str):
        sha = repo.sha(branch)
        if sha is None:
            return _error(404, "Branch not found")
        classic = repo.protection.get(branch)
        checks = (classic or {}).get("required_status_checks")
        url = f"{self.url}/repos/{repo.full_name}/branches/{branch}"
        commit = {"sha": sha, "url": f"{self.url}/repos/{repo.full_name}/commits/{sha}"}
        return jsonify({"name": branch, "commit": commit,
                        "_links": {"self": url, "html": f"{self.root}/{repo.full_name}/tree/{branch}"},
                        "protected": classic is not None or bool(self._rules_of(repo, branch)),
                        "protection": {"enabled": classic is not None, "required_status_checks": {
                            "enforcement_level": "non_admins" if checks else "off",
                            "contexts": list((checks or {}).get("contexts", [])),
                            "checks": list((checks or {}).get("checks", []))}},
                        "protection_url": f"{url}/protection"})

    @_route("/rules/branches/<path:branch>", ["GET"])
    def get_branch_rules(self, repo: Repo, branch: str):
        page, links = _page(self._rules_of(repo, branch))
        return jsonify(page), 200, links

    def _rules_of(self, repo: Repo, branch: str) -> list[dict]:
        """The active rules of every ruleset targeting `branch` (the branch need not exist)."""
        def targets(ruleset):
            return any(t == "~ALL" or t == f"refs/heads/{branch}" or (t == "~DEFAULT_BRANCH"
                       and branch == repo.default_branch) for t in ruleset["include"])
        return [{"type": r["type"], "ruleset_source_type": "Repository", "ruleset_source": repo.full_name,
                 "ruleset_id": rs["id"]} for rs in repo.rulesets if rs["enforcement"] == "active" and targets(rs)
                for r in rs["rules"]]

    @_route("/pulls/<int:number>", ["PATCH"])
    def update_pull(self, repo: Repo, number: int):
        pull = repo.pulls.get(number)
        if pull is None:
            return _error(404, "Not Found")
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict) or body.get("state", pull.state) not in ("open", "closed"):
            return _invalid([{"resource": "PullRequest", "field": "state", "code": "invalid"}])
        if body.get("state") == "closed" and pull.state == "open":
            pull.state, pull.closed_at = "closed", _now()
        elif body.get("state") == "open" and pull.state == "closed" and not pull.merged:
            pull.state, pull.closed_at = "open", None
        for key in ("title", "body"):
            if isinstance(body.get(key), str):
                setattr(pull, key, body[key])
        pull.updated_at = _now()
        return jsonify(self._pull_json(repo, pull, full=True))

    @_route("/issues/<int:number>/labels/<path:label>", ["DELETE"])
    def remove_label(self, repo: Repo, number: int, label: str):
        pull = repo.pulls.get(number)
        if pull is None or label not in pull.labels:
            return _error(404, "Label does not exist")
        pull.labels.remove(label)
        pull.updated_at = _now()
        return jsonify([self._label_json(repo, name) for name in pull.labels])

    @_route("/git/refs/heads/<path:branch>", ["DELETE"])
    def delete_ref(self, repo: Repo, branch: str):
        if repo.sha(branch) is None:
            return _invalid([{"resource": "Reference", "code": "custom", "message": "Reference does not exist"}])
        repo.git("update-ref", "-d", f"refs/heads/{branch}")
        return "", 204

    @_route("/pulls/<int:number>/reviews", ["GET"])
    def list_reviews(self, repo: Repo, number: int):
        pull = repo.pulls.get(number)
        if pull is None:
            return _error(404, "Not Found")
        page, links = _page(pull.reviews)
        return jsonify(page), 200, links

    @_route("/pulls", ["POST"])
    def create_pull(self, repo: Repo):
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return _error(400, "Problems parsing JSON")
        missing = [k for k in ("title", "head", "base") if not body.get(k)]
        if missing:
            return _invalid([{"resource": "PullRequest", "field": k, "code": "missing_field"} for k in missing])
        head = body["head"].split(":", 1)[-1]
        base_sha, head_sha = repo.sha(body["base"]), repo.sha(head)
        if base_sha is None:
            return _invalid([{"resource": "PullRequest", "field": "base", "code": "invalid"}])
        if head_sha is None:
            return _invalid([{"resource": "PullRequest", "field": "head", "code": "invalid"}])
        if any(p.head == head and p.state == "open" for p in repo.pulls.values()):
            return _invalid([{"resource": "PullRequest", "code": "custom",
                              "message": f"A pull request already exists for {repo.owner}:{head}."}])
        if not repo.git("rev-list", f"{base_sha}..{head_sha}", "--max-count=1").strip():
            return _invalid([{"resource": "PullRequest", "code": "custom",
                              "message": f"No commits between {body['base']} and {head}"}])
        pull = Pull(repo.next_number, body["title"], body.get("body"), head, body["base"], request.login)
        repo.next_number += 1
        repo.pulls[pull.number] = pull
        return jsonify(self._pull_json(repo, pull, full=True, compute=False)), 201

    @_route("/pulls", ["GET"])
    def list_pulls(self, repo: Repo):
        state = request.args.get("state", "open")
        head = request.args.get("head")
        found = [p for p in sorted(repo.pulls.values(), key=lambda p: -p.number)
                 if (state == "all" or p.state == state)
                 and (head is None or f"{repo.owner}:{p.head}" == head)]
        page, links = _page(found)
        return jsonify([self._pull_json(repo, p, full=False) for p in page]), 200, links

    @_route("/pulls/<int:number>", ["GET"])
    def get_pull(self, repo: Repo, number: int):
        pull = repo.pulls.get(number)
        if pull is None:
            return _error(404, "Not Found")
        return jsonify(self._pull_json(repo, pull, full=True))

    @_route("/pulls/<int:number>/files", ["GET"])
    def pull_files(self, repo: Repo, number: int):
        pull = repo.pulls.get(number)
        if pull is None:
            return _error(404, "Not Found")
        page, links = _page(self._files(repo, pull)[:repo.truncate_files.get(number, 3000)])
        return jsonify(page), 200, links

    @_route("/issues/<int:number>/labels", ["POST"])
    def add_labels(self, repo: Repo, number: int):
        pull = repo.pulls.get(number)
        if pull is None:
            return _error(404, "Not Found")
        body = request.get_json(force=True, silent=True)
        labels = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
            return _invalid([{"resource": "Label", "field": "name", "code": "invalid"}])
        pull.labels = list(dict.fromkeys(pull.labels + labels))
        pull.updated_at = _now()
        return jsonify([self._label_json(repo, name) for name in pull.labels])

    @_route("/issues/<int:number>/comments", ["POST"])
    def add_comment(self, repo: Repo, number: int):
        pull = repo.pulls.get(number)
        if pull is None:
            return _error(404, "Not Found")
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
            return _invalid([{"resource": "IssueComment", "field": "body", "code": "missing_field"}])
        cid = next(self._ids)
        comment = {"id": cid, "node_id": f"IC_{cid}",
                   "url": f"{self.url}/repos/{repo.full_name}/issues/comments/{cid}",
                   "html_url": f"{self.root}/{repo.full_name}/pull/{number}#issuecomment-{cid}",
                   "body": body["body"], "user": self._user_json(request.login),
                   "created_at": _now(), "updated_at": _now(), "author_association": "CONTRIBUTOR"}
        pull.comments.append(comment)
        return jsonify(comment), 201

    @_route("/issues/<int:number>/comments", ["GET"])
    def list_comments(self, repo: Repo, number: int):
        pull = repo.pulls.get(number)
        if pull is None:
            return _error(404, "Not Found")
        return jsonify(pull.comments)

    @_route("/statuses/<sha>", ["POST"])
    def create_status(self, repo: Repo, sha: str):
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict) or body.get("state") not in ("error", "failure", "pending", "success"):
            return _invalid([{"resource": "Status", "field": "state", "code": "invalid"}])
        if repo.git("cat-file", "-t", sha, check=False).strip() != "commit":
            return _invalid([{"resource": "Status", "field": "sha", "code": "invalid"}])
        return jsonify(self._status(repo, sha, body, request.login)), 201

    @_route("/commits/<ref>/statuses", ["GET"])
    def list_statuses(self, repo: Repo, ref: str):
        page, links = _page(repo.statuses.get(ref, []))
        return jsonify(page), 200, links

    @_route("/check-runs", ["POST"])
    def create_check_run(self, repo: Repo):
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict) or not body.get("name") or not body.get("head_sha"):
            return _invalid([{"resource": "CheckRun", "field": "name", "code": "missing_field"}])
        return jsonify(self._check_run(repo, body["head_sha"], body, request.login)), 201

    @_route("/commits/<ref>/check-runs", ["GET"])
    def list_check_runs(self, repo: Repo, ref: str):
        runs = repo.check_runs.get(ref, [])
        page, links = _page(runs)
        return jsonify({"total_count": len(runs), "check_runs": page}), 200, links

    @_route("/pulls/<int:number>/requested_reviewers", ["POST"])
    def request_reviewers(self, repo: Repo, number: int):
        pull = repo.pulls.get(number)
        if pull is None:
            return _error(404, "Not Found")
        body = request.get_json(force=True, silent=True) or {}
        users, teams = body.get("reviewers") or [], body.get("team_reviewers") or []
        if pull.user in users:  # GitHub: the author cannot review their own pull request
            return _invalid([{"resource": "PullRequest", "code": "custom",
                              "message": "Review cannot be requested from pull request author."}])
        if repo.collaborators is not None and any(u not in repo.collaborators for u in users):
            return _invalid([{"resource": "PullRequest", "code": "custom", "message":
                              "Reviews may only be requested from collaborators. One or more of the users "
                              "or teams you specified is not a collaborator of the "
                              f"{repo.full_name} repository."}])
        pull.reviewers = list(dict.fromkeys(pull.reviewers + users))
        pull.team_reviewers = list(dict.fromkeys(pull.team_reviewers + teams))
        doc = self._pull_json(repo, pull, full=False)
        doc["requested_reviewers"] = [self._user_json(u) for u in pull.reviewers]
        doc["requested_teams"] = [{"slug": t, "name": t} for t in pull.team_reviewers]
        return jsonify(doc), 201

    @_route("/pulls/<int:number>/merge", ["PUT"])
    def merge_pull(self, repo: Repo, number: int):
        pull = repo.pulls.get(number)
        if pull is None:
            return _error(404, "Not Found")
        body = request.get_json(force=True, silent=True) or {}
        if self.before_merge is not None:
            self.before_merge(repo, pull)
        head_sha = repo.sha(pull.head) or pull.head_sha
        base_sha = repo.sha(pull.base)
        if pull.state != "open" or pull.merged:
            return _error(405, "Pull Request is not mergeable")
        if body.get("sha") and body["sha"] != head_sha:
            return _error(409, "Head branch was modified. Review and try the merge again.")
        method = body.get("merge_method", "merge")
        if method not in ("merge", "squash", "rebase"):
            return _invalid([{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}])
        tree = subprocess.run(["git", f"--git-dir={repo.path}", "merge-tree", "--write-tree", base_sha, head_sha],
                              capture_output=True, text=True, timeout=60)
        if tree.returncode != 0:
            return _error(405, "Pull Request is not mergeable")
        if self._behind(repo, base_sha, head_sha):
            return _error(405, "Head branch is out of date. Review and try the merge again.")
        tree_id = tree.stdout.split("\n")[0].strip()
        parents = ["-p", base_sha] + (["-p", head_sha] if method == "merge" else [])
        title = body.get("commit_title") or f"{pull.title} (#{number})"
        message = title + (f"\n\n{body['commit_message']}" if body.get("commit_message") else "")
        sha = repo.git("commit-tree", tree_id, *parents, "-m", message).strip()
        repo.git("update-ref", f"refs/heads/{pull.base}", sha, base_sha)
        pull.state, pull.merged, pull.merge_commit_sha, pull.merged_by = "closed", True, sha, request.login
        return jsonify({"sha": sha, "merged": True, "message": "Pull Request successfully merged"})


    # --- shapes ----------------------------------------------------------------------------

    def _behind(self, repo: Repo, base_sha: str, head_sha: str) -> bool:
        """Branch protection that wants heads up to date, and this head lacks a commit of the base."""
        if not repo.require_up_to_date:
            return False
        return subprocess.run(["git", f"--git-dir={repo.path}", "merge-base", "--is-ancestor", base_sha, head_sha],
                              capture_output=True, timeout=60).returncode != 0

    def _status(self, repo: Repo, sha: str, body: dict, login: str) -> dict:
        sid = next(self._ids)
        status = {"url": f"{self.url}/repos/{repo.full_name}/statuses/{sha}", "id": sid, "node_id": f"SC_{sid}",
                  "state": body["state"], "description": body.get("description"),
                  "target_url": body.get("target_url"), "context": body.get("context") or "default",
                  "created_at": _now(), "updated_at": _now(), "creator": self._user_json(login)}
        repo.statuses.setdefault(sha, []).insert(0, status)
        return status

    def _check_run(self, repo: Repo, sha: str, body: dict, app: str = "ci") -> dict:
        rid = next(self._ids)
        status = body.get("status", "queued")
        run = {"id": rid, "node_id": f"CR_{rid}", "head_sha": sha, "name": body["name"], "status": status,
               "conclusion": body.get("conclusion") if status == "completed" else None,
               "started_at": _now(), "completed_at": _now() if status == "completed" else None,
               "url": f"{self.url}/repos/{repo.full_name}/check-runs/{rid}",
               "html_url": f"{self.root}/{repo.full_name}/runs/{rid}", "app": {"slug": app},
               "output": {k: (body.get("output") or {}).get(k) for k in ("title", "summary", "text")}}
        repo.check_runs.setdefault(sha, []).append(run)
        return run

    def _user_json(self, login: str) -> dict:
        return {"login": login, "id": abs(hash(login)) % 10**7, "type": "User",
                "url": f"{self.url}/users/{login}", "html_url": f"{self.root}/{login}"}

    def _label_json(self, repo: Repo, name: str) -> dict:
        return {"id": abs(hash((repo.full_name, name))) % 10**9, "node_id": f"LA_{name}", "name": name,
                "url": f"{self.url}/repos/{repo.full_name}/labels/{name}", "color": "ededed",
                "default": False, "description": None}

    def _branch_json(self, repo: Repo, branch: str, sha: str) -> dict:
        return {"label": f"{repo.owner}:{branch}", "ref": branch, "sha": sha, "user": self._user_json(repo.owner),
                "repo": {"name": repo.name, "full_name": repo.full_name, "owner": self._user_json(repo.owner)}}

    def _pull_json(self, repo: Repo, pull: Pull, full: bool, compute: bool = True) -> dict:
        head_sha = repo.sha(pull.head) or pull.head_sha
        pull.head_sha = head_sha
        base_sha = repo.sha(pull.base) or ""
        api = f"{self.url}/repos/{repo.full_name}"
        doc = {"url": f"{api}/pulls/{pull.number}", "id": 5000 + pull.number, "node_id": f"PR_{pull.number}",
               "html_url": f"{self.root}/{repo.full_name}/pull/{pull.number}",
               "diff_url": f"{self.root}/{repo.full_name}/pull/{pull.number}.diff",
               "issue_url": f"{api}/issues/{pull.number}", "number": pull.number, "state": pull.state,
               "locked": False, "title": pull.title, "user": self._user_json(pull.user), "body": pull.body,
               "labels": [self._label_json(repo, n) for n in pull.labels], "created_at": pull.created_at,
               "updated_at": pull.updated_at, "closed_at": pull.closed_at, "merged_at": None, "draft": False,
               "head": self._branch_json(repo, pull.head, head_sha),
               "base": self._branch_json(repo, pull.base, base_sha), "author_association": "CONTRIBUTOR"}
        if full:
            # GitHub computes mergeability in the background: null on the first read after a push
            mergeable = None
            if pull.number in repo.computing:
                pass
            elif compute and base_sha and head_sha and pull.computed_for != head_sha:
                pull.computed_for = head_sha if pull.state == "open" else ""
            elif compute and base_sha and head_sha:
                done = subprocess.run(["git", f"--git-dir={repo.path}", "merge-tree", "--write-tree", base_sha,
                                       head_sha], capture_output=True, timeout=60)
                mergeable = done.returncode == 0
            files = self._files(repo, pull)
            if pull.merged:
                mergeable = False
            state = {True: "clean", False: "dirty", None: "unknown"}[mergeable]
            if mergeable and self._behind(repo, base_sha, head_sha):
                state = "behind"
            doc.update({"merged": pull.merged, "mergeable": mergeable, "merge_commit_sha": pull.merge_commit_sha,
                        "merged_by": self._user_json(pull.merged_by) if pull.merged_by else None,
                        "mergeable_state": state,
                        "comments": len(pull.comments), "commits": int(repo.git(
                            "rev-list", "--count", f"{base_sha}..{head_sha}").strip() or 0),
                        "additions": sum(f["additions"] for f in files),
                        "deletions": sum(f["deletions"] for f in files), "changed_files": len(files)})
        return doc

    def _files(self, repo: Repo, pull: Pull) -> list[dict]:
        """The PR's files from the git CLI: name-status, numstat and each file's own patch."""
        head = repo.sha(pull.head) or pull.head_sha
        start = repo.git("merge-base", pull.base, head).strip()
        status = repo.git("diff", "-M", "--name-status", "-z", start, head).split("\0")
        numstat = repo.git("diff", "-M", "--numstat", "-z", start, head).split("\0")
        counts, i = [], 0
        while i < len(numstat) and numstat[i]:
            added, deleted, path = numstat[i].split("\t", 2)
            if path == "":   # a rename: old and new path follow
                i += 2
            counts.append((added, deleted))
            i += 1
        files, i = [], 0
        while i < len(status) and status[i]:
            letter = status[i][0]
            paths = [status[i + 1], status[i + 2]] if letter in "RC" else [status[i + 1]]
            i += 1 + len(paths)
            added, deleted = counts[len(files)]
            binary = added == "-"
            patch = repo.git("diff", "-M", start, head, "--", *paths)
            hunks = patch[patch.index("\n@@") + 1:] if "\n@@" in patch else ""
            kind = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied",
                    "T": "changed"}[letter]
            if kind == "modified" and not hunks and not binary:
                kind = "changed"  # only the mode changed
            item = {"sha": repo.git("rev-parse", f"{head}:{paths[-1]}", check=False).strip() or None,
                    "filename": paths[-1], "status": kind,
                    "additions": 0 if binary else int(added), "deletions": 0 if binary else int(deleted)}
            item["changes"] = item["additions"] + item["deletions"]
            item["blob_url"] = f"{self.root}/{repo.full_name}/blob/{head}/{paths[-1]}"
            if hunks and not binary and len(hunks) <= 1 << 20:
                item["patch"] = hunks.rstrip("\n")
            if kind in ("renamed", "copied"):
                item["previous_filename"] = paths[0]
            files.append(item)
        return files


def _error(status: int, message: str):
    return jsonify({"message": message, "documentation_url": DOCS, "status": str(status)}), status


def _invalid(errors: list[dict]):
    return jsonify({"message": "Validation Failed", "errors": errors, "documentation_url": DOCS,
                    "status": "422"}), 422


def _page(items: list) -> tuple[list, dict]:
    """One page of a list as GitHub pages it (per_page up to 100, a Link header to the next)."""
    try:
        per_page = max(1, min(100, int(request.args.get("per_page", 30))))
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        per_page, page = 30, 1
    chunk = items[(page - 1) * per_page: page * per_page]
    last = max(1, -(-len(items) // per_page))
    links = {}
    if page < last:
        def at(n):
            args = {**request.args.to_dict(), "per_page": str(per_page), "page": str(n)}
            query = "&".join(f"{k}={v}" for k, v in args.items())
            return f"<{request.base_url}?{query}>"
        links["Link"] = f'{at(page + 1)}; rel="next", {at(last)}; rel="last"'
    return chunk, links
