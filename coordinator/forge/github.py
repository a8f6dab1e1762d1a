"""GitHub's REST API (or GitHub Enterprise's, or any server that answers like it) as a Forge:
plain HTTPS with a token. A rate limit (403 or 429 with Retry-After, or X-RateLimit-Remaining 0
and X-RateLimit-Reset) is waited out, within bounds; any other refusal is a ForgeError that
quotes GitHub's own message."""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request

from coordinator.core.prrecord import COMMENT_MAX, is_branch, label_problems
from coordinator.forge.base import (
    FILES_MAX,
    MERGE_METHODS,
    REVIEWS_MAX,
    BranchInUse,
    ForgeError,
    HeadMoved,
    NoCommits,
    NotMergeable,
    PrExists,
    PrNotFound,
    PullRequest,
    check_merge_text,
    check_pr_text,
    check_status,
)

API = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100
PAGES_MAX = FILES_MAX // PER_PAGE + 1  # GitHub lists 3,000 files at most: 30 pages, and one spare
MAX_RESPONSE = 16 << 20
_REPO = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only within the API's scheme, host and port: urllib would copy the
    Authorization header to wherever a redirect points, so the token never goes anywhere else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old = urllib.parse.urlsplit(req.full_url)
        new = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
        if (old.scheme, old.netloc) != (new.scheme, new.netloc):
            raise ForgeError(f"GitHub redirected {req.get_method()} {old.path[:200]} to another host "
                             f"({new.scheme}://{new.netloc[:100]}); the token is not sent there", code)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameOriginRedirects)


def repo_of(remote: str) -> str:
    """owner/name from a remote's URL or path: its last two parts (`.git` dropped)."""
    m = re.search(r"([^/:]+)/([^/]+?)(?:\.git)?/*$", remote.strip())
    name = f"{m.group(1)}/{m.group(2)}" if m else ""
    if not _REPO.fullmatch(name):
        raise ForgeError(f"cannot tell the GitHub owner/name from {remote!r}; its last two parts must be OWNER/NAME")
    return name


class GitHubForge:
    """Pull requests of one GitHub repository `owner/name`."""

    def __init__(self, repo: str, token: str, api: str = API, *, timeout: float = 30.0, retries: int = 3,
                 max_wait: float = 60.0, sleep=time.sleep, clock=time.time):
        if not _REPO.fullmatch(repo):
            raise ForgeError(f"{repo!r} is not a GitHub repository name; write OWNER/NAME")
        if not token:
            raise ForgeError("the GitHub forge needs a token (github_token_file in the sidecar config)")
        self.repo, self.token, self.api = repo, token, api.rstrip("/")
        self.timeout, self.retries, self.max_wait = timeout, retries, max_wait
        self.sleep, self.clock = sleep, clock

    # --- the Forge protocol ----------------------------------------------------------------

    def open_pr(self, head: str, base: str, title: str, body: str, labels: tuple[str, ...] = ()) -> PullRequest:
        check_pr_text(title, body, labels)
        status, doc, _ = self._request("POST", f"/repos/{self.repo}/pulls",
                                       {"title": title, "head": head, "base": base, "body": body})
        if status == 422:
            text = " ".join(e.get("message", "") for e in doc.get("errors", []) if isinstance(e, dict))
            if "already exists" in text:
                raise PrExists(head)
            if "No commits between" in text:
                raise NoCommits(head, base)
            raise ForgeError(f"GitHub refused the pull request: {doc.get('message')} {text}".strip(), 422)
        self._expect(status, doc, 201, "open a pull request")
        pr = self._pr(doc)
        if labels:
            pr = PullRequest(**{**pr.__dict__, "labels": self.add_labels(pr.number, labels)})
        return pr

    def find_open_pr(self, head: str) -> PullRequest | None:
        owner = self.repo.split("/")[0]
        status, doc, _ = self._request("GET", f"/repos/{self.repo}/pulls",
                                       query={"state": "open", "head": f"{owner}:{head}", "per_page": "1"})
        self._expect(status, doc, 200, "list pull requests")
        return self._pr(doc[0]) if doc else None

    def open_prs(self, limit: int = 1000) -> list[PullRequest]:
        return [self._pr(doc) for doc in self._pages(f"/repos/{self.repo}/pulls", None, "list open pull requests",
                                                     limit, {"state": "open"})]

    def get_pr(self, number: int) -> PullRequest:
        status, doc, _ = self._request("GET", f"/repos/{self.repo}/pulls/{int(number)}")
        if status == 404:
            raise PrNotFound(number)
        self._expect(status, doc, 200, f"read pull request #{number}")
        return self._pr(doc)

    def pr_files(self, number: int) -> list[dict]:
        path = f"/repos/{self.repo}/pulls/{int(number)}/files"
        query: dict | None = {"per_page": str(PER_PAGE)}
        files: list[dict] = []
        for _ in range(PAGES_MAX):
            status, doc, headers = self._request("GET", path, query=query)
            if status == 404:
                raise PrNotFound(number)
            self._expect(status, doc, 200, f"list the files of pull request #{number}")
            if not isinstance(doc, list):
                raise ForgeError(f"GitHub's list of the files of pull request #{number} is not a list")
            files += doc
            path, query = self._next_page(headers.get("Link", "")), None
            if not path or not doc or len(files) >= FILES_MAX:  # an empty page ends it, whatever Link says
                break
        return files[:FILES_MAX]

    def add_labels(self, number: int, labels: tuple[str, ...]) -> tuple[str, ...]:
        problems = label_problems(list(labels))
        if problems:
            raise ForgeError("; ".join(problems), 422)
        status, doc, _ = self._request("POST", f"/repos/{self.repo}/issues/{int(number)}/labels",
                                       {"labels": list(labels)})
        if status == 404:
            raise PrNotFound(number)
        self._expect(status, doc, 200, f"label pull request #{number}")
        return tuple(label["name"] for label in doc)

    def comment(self, number: int, body: str) -> None:
        if not isinstance(body, str) or not body.strip() or len(body) > COMMENT_MAX:
            raise ForgeError(f"a comment is 1-{COMMENT_MAX} characters")
        status, doc, _ = self._request("POST", f"/repos/{self.repo}/issues/{int(number)}/comments", {"body": body})
        if status == 404:
            raise PrNotFound(number)
        self._expect(status, doc, 201, f"comment on pull request #{number}")

    def statuses(self, sha: str) -> list[dict]:
        return self._pages(f"/repos/{self.repo}/commits/{_ref(sha)}/statuses", None, "list commit statuses")

    def check_runs(self, sha: str) -> list[dict]:
        return self._pages(f"/repos/{self.repo}/commits/{_ref(sha)}/check-runs", "check_runs", "list check runs")

    def set_status(self, sha: str, state: str, context: str, description: str = "") -> dict:
        check_status(sha, state, context, description)
        status, doc, _ = self._request("POST", f"/repos/{self.repo}/statuses/{sha}",
                                       {"state": state, "context": context, "description": description})
        self._expect(status, doc, 201, f"set a status on {sha[:12]}")
        return doc

    def request_reviewers(self, number: int, reviewers: tuple[str, ...], teams: tuple[str, ...] = ()) -> None:
        if not reviewers and not teams:
            return
        status, doc, _ = self._request("POST", f"/repos/{self.repo}/pulls/{int(number)}/requested_reviewers",
                                       {"reviewers": list(reviewers), "team_reviewers": list(teams)})
        if status == 404:
            raise PrNotFound(number)
        self._expect(status, doc, 201, f"request reviewers for pull request #{number}")

    def merge(self, number: int, sha: str, method: str, title: str | None = None, message: str | None = None) -> str:
        if method not in MERGE_METHODS:
            raise ForgeError(f"merge method {method!r} is not one of {', '.join(MERGE_METHODS)}")
        check_merge_text(title, message)
        body = {"sha": sha, "merge_method": method}
        if method != "rebase":  # a rebase makes no commit of its own to carry them
            body.update({k: v for k, v in (("commit_title", title), ("commit_message", message)) if v is not None})
        status, doc, _ = self._request("PUT", f"/repos/{self.repo}/pulls/{int(number)}/merge", body)
        if status == 404:
            raise PrNotFound(number)
        if status == 409:
            raise HeadMoved(number, sha)
        if status == 405:
            raise NotMergeable(number, doc.get("message", "GitHub says it is not mergeable"))
        self._expect(status, doc, 200, f"merge pull request #{number}")
        return doc["sha"]

    def close(self, number: int) -> PullRequest:
        status, doc, _ = self._request("PATCH", f"/repos/{self.repo}/pulls/{int(number)}", {"state": "closed"})
        if status == 404:
            raise PrNotFound(number)
        self._expect(status, doc, 200, f"close pull request #{number}")
        return self._pr(doc)

    def remove_label(self, number: int, label: str) -> None:
        problems = label_problems([label])
        if problems:
            raise ForgeError("; ".join(problems), 422)
        name = urllib.parse.quote(label, safe="")
        status, doc, _ = self._request("DELETE", f"/repos/{self.repo}/issues/{int(number)}/labels/{name}")
        if status == 404:  # GitHub: "Label does not exist" on this PR (or no such PR): nothing to take off
            return
        self._expect(status, doc, 200, f"remove label {label!r} from pull request #{number}")

    def delete_branch(self, branch: str) -> bool:
        if not is_branch(branch):
            raise ForgeError(f"{str(branch)[:80]!r} is not a branch name", 422)
        status, doc, _ = self._request("GET", f"/repos/{self.repo}")
        self._expect(status, doc, 200, "read the repository")
        if branch == doc.get("default_branch"):
            raise BranchInUse(branch, f"it is the default branch of {self.repo}")
        for pr in self.open_prs():
            if branch == pr.base:
                raise BranchInUse(branch, f"it is the base of open pull request #{pr.number}")
            if branch == pr.head:
                raise BranchInUse(branch, f"it is the head of open pull request #{pr.number}; close it first")
        ref = urllib.parse.quote(branch, safe="/")
        status, doc, _ = self._request("DELETE", f"/repos/{self.repo}/git/refs/heads/{ref}")
        if status in (404, 422):  # 422 "Reference does not exist": deleted already
            return False
        self._expect(status, doc, 204, f"delete branch {branch}")
        return True

    def reviews(self, number: int) -> list[dict]:
        items = self._pages(f"/repos/{self.repo}/pulls/{int(number)}/reviews", None,
                            f"list the reviews of pull request #{number}", REVIEWS_MAX)
        return [{"id": r.get("id"), "user": {"login": (r.get("user") or {}).get("login")}, "state": r.get("state"),
                 "body": r.get("body") or "", "commit_id": r.get("commit_id"), "submitted_at": r.get("submitted_at")}
                for r in items if isinstance(r, dict)]

    def protection(self, branch: str | None = None) -> dict:
        """What protects `branch` (the repo's default branch when None), for gatekeeper/protection.py:
        {"branch", "branch_doc": the branch as GitHub lists it, "rules": the active ruleset rules that
        apply to it, "classic": its classic protection, {} when GitHub says it has none, None when
        this token may not read it (that needs admin: a 403 or 404 there is no error)}."""
        if branch is None:
            status, doc, _ = self._request("GET", f"/repos/{self.repo}")
            self._expect(status, doc, 200, "read the repository")
            branch = doc.get("default_branch")
        if not is_branch(branch):
            raise ForgeError(f"GitHub named no usable default branch for {self.repo} ({str(branch)[:80]!r})")
        ref = urllib.parse.quote(branch, safe="/")
        status, doc, _ = self._request("GET", f"/repos/{self.repo}/branches/{ref}")
        self._expect(status, doc, 200, f"read branch {branch}")
        rules = self._pages(f"/repos/{self.repo}/rules/branches/{ref}", None, f"list the rules of branch {branch}")
        status, classic, _ = self._request("GET", f"/repos/{self.repo}/branches/{ref}/protection")
        if status == 404 and "not protected" in str(classic.get("message", "")).lower():
            classic = {}
        elif status != 200 or not isinstance(classic, dict):
            classic = None   # 403, or a 404 GitHub gives a token without admin rights
        return {"branch": branch, "branch_doc": doc if isinstance(doc, dict) else {}, "rules": rules,
                "classic": classic}

    def _pages(self, path: str, key: str | None, what: str, limit: int = 1000, query: dict | None = None) -> list:
        """Every item of a paged list (at most `limit`); `key` names the list in an object answer."""
        query = {**(query or {}), "per_page": str(PER_PAGE)}
        items: list[dict] = []
        while path and len(items) < limit:
            status, doc, headers = self._request("GET", path, query=query)
            self._expect(status, doc, 200, what)
            page = doc.get(key, []) if key and isinstance(doc, dict) else doc
            if not isinstance(page, list):
                raise ForgeError(f"GitHub's answer to {what} in {self.repo} is not a list")
            items += page
            path, query = self._next_page(headers.get("Link", "")), None
        return items[:limit]

    # --- HTTP ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict | None = None, query: dict | None = None):
        """(status, JSON, headers) of one call, a rate limit waited out (bounded)."""
        url = path if path.startswith(self.api) else self.api + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        waited = 0.0
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=data, method=method, headers={
                "Accept": "application/vnd.github+json", "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": API_VERSION, "User-Agent": "agentcom",
                **({"Content-Type": "application/json"} if data is not None else {})})
            try:
                with _OPENER.open(req, timeout=self.timeout) as resp:
                    return resp.status, _json(resp.read(MAX_RESPONSE + 1)), resp.headers
            except urllib.error.HTTPError as e:
                status, doc, headers = e.code, _json(e.read(MAX_RESPONSE + 1)), e.headers
            except (urllib.error.URLError, OSError) as e:
                raise ForgeError(f"GitHub API at {self.api} did not answer: {getattr(e, 'reason', e)}") from None
            wait = self._rate_limit_wait(status, headers)
            if wait is None:
                if status == 401:
                    raise ForgeError(f"GitHub refused the token (401): {doc.get('message', '')}; "
                                     "check github_token_file", 401)
                return status, doc, headers
            if attempt == self.retries or waited + wait > self.max_wait:
                raise ForgeError(f"GitHub rate limit: {method} {path} refused ({status}) after {attempt} "
                                 f"wait(s) of {waited:.0f}s in all; waiting {wait:.0f}s more would pass the "
                                 f"{self.retries} waits or {self.max_wait:.0f}s allowed; try later", status)
            self.sleep(wait)
            waited += wait
        raise AssertionError("unreachable")

    def _rate_limit_wait(self, status: int, headers) -> float | None:
        """Seconds to wait before trying again, or None when this is no rate limit."""
        if status not in (403, 429):
            return None
        if headers.get("Retry-After", "").strip().isdigit():
            return float(headers["Retry-After"])
        if headers.get("X-RateLimit-Remaining") == "0" and headers.get("X-RateLimit-Reset", "").isdigit():
            return max(1.0, float(headers["X-RateLimit-Reset"]) - self.clock())
        return 60.0 if status == 429 else None  # GitHub: with no header, wait at least a minute

    def _next_page(self, link: str) -> str | None:
        m = re.search(r'<([^>]+)>;\s*rel="next"', link)
        if not m:
            return None
        if not m.group(1).startswith(self.api + "/"):  # never send the token anywhere else
            raise ForgeError(f"GitHub's next page is on another host: {m.group(1)[:200]}")
        return m.group(1)

    def _expect(self, status: int, doc, wanted: int, what: str) -> None:
        if status != wanted:
            message = doc.get("message", "") if isinstance(doc, dict) else ""
            raise ForgeError(f"GitHub could not {what} in {self.repo}: {status} {message}".strip(), status)

    def _pr(self, doc: dict) -> PullRequest:
        return PullRequest(number=doc["number"], url=doc["html_url"], state=doc["state"], head=doc["head"]["ref"],
                           head_sha=doc["head"]["sha"], base=doc["base"]["ref"], title=doc["title"],
                           body=doc.get("body") or "", author=(doc.get("user") or {}).get("login", ""),
                           labels=tuple(label["name"] for label in doc.get("labels", ())),
                           mergeable=doc.get("mergeable"), merged=bool(doc.get("merged")),
                           changed_files=doc.get("changed_files") if isinstance(doc.get("changed_files"), int)
                           else None,
                           mergeable_state=doc.get("mergeable_state") if isinstance(doc.get("mergeable_state"), str)
                           else None,
                           merged_by=((doc.get("merged_by") or {}).get("login") or None)
                           if isinstance(doc.get("merged_by"), dict) else None,
                           merge_sha=doc.get("merge_commit_sha") if doc.get("merged") and
                           isinstance(doc.get("merge_commit_sha"), str) else None)


def _ref(sha: str) -> str:
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", sha):
        raise ForgeError(f"{str(sha)[:80]!r} is not a full commit id")
    return sha


def _json(data: bytes):
    if len(data) > MAX_RESPONSE:
        raise ForgeError(f"GitHub's answer is over {MAX_RESPONSE} bytes")
    try:
        return json.loads(data) if data else {}
    except ValueError:
        return {"message": data[:200].decode(errors="replace")}
