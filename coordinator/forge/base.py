"""The Forge protocol: what the git workflow wrapper and the PR gatekeeper ask of a forge, and
the pull request they get back. Changed files come in exactly the item shape of GitHub's
`GET /repos/{owner}/{repo}/pulls/{n}/files`, whichever forge answers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from coordinator.core.prrecord import BODY_MAX, TITLE_MAX, label_problems, text_problems
from coordinator.wire.errors import AgentcomError

FILES_MAX = 3000           # GitHub lists at most 3000 files of a pull request
FILE_STATUSES = ("added", "removed", "modified", "renamed", "copied", "changed", "unchanged")


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str                     # where a human reads it
    state: str                   # open | closed
    head: str                    # the head branch
    head_sha: str                # its commit now
    base: str
    title: str
    body: str
    author: str
    labels: tuple[str, ...] = ()
    mergeable: bool | None = None   # None: not known (yet)
    merged: bool = False
    changed_files: int | None = None  # how many files the PR changes, when the forge says
    mergeable_state: str | None = None  # GitHub's: clean, dirty, behind (protection wants it up to date), ...
    merged_by: str | None = None    # who merged it (a login), once merged
    merge_sha: str | None = None    # the commit the merge made, once merged


class Forge(Protocol):
    """A place that holds pull requests for one repository."""

    def open_pr(self, head: str, base: str, title: str, body: str, labels: tuple[str, ...] = ()) -> PullRequest:
        """Open a PR from `head` into `base`; PrExists if one is open for `head`, NoCommits if
        `head` holds nothing `base` lacks."""

    def find_open_pr(self, head: str) -> PullRequest | None:
        """The open PR whose head branch is `head`, if any."""

    def open_prs(self, limit: int = 1000) -> list[PullRequest]:
        """Every open PR, newest first (at most `limit`)."""

    def get_pr(self, number: int) -> PullRequest:
        """One PR; PrNotFound if there is none with that number."""

    def pr_files(self, number: int) -> list[dict]:
        """The PR's changed files, as GitHub lists them (filename, status, additions, deletions,
        changes, patch when not binary or too large, previous_filename for renames)."""

    def add_labels(self, number: int, labels: tuple[str, ...]) -> tuple[str, ...]:
        """Add labels; returns every label the PR has now."""

    def comment(self, number: int, body: str) -> None:
        """Add a comment to the PR's conversation."""

    def statuses(self, sha: str) -> list[dict]:
        """Commit statuses of `sha`, newest first, in the item shape of GitHub's
        `GET /repos/{o}/{r}/commits/{ref}/statuses` (state, context, created_at, updated_at, id)."""

    def check_runs(self, sha: str) -> list[dict]:
        """Check runs of `sha`, items of GitHub's `check_runs` list (name, status, conclusion, ...)."""

    def set_status(self, sha: str, state: str, context: str, description: str = "") -> dict:
        """Record a commit status (error | failure | pending | success) on `sha`."""

    def request_reviewers(self, number: int, reviewers: tuple[str, ...], teams: tuple[str, ...] = ()) -> None:
        """Ask these people (and teams) to review the PR."""

    def merge(self, number: int, sha: str, method: str, title: str | None = None, message: str | None = None) -> str:
        """Merge the PR if and only if its head is still `sha`; returns the merge commit, which
        carries `title` and `message` when given (GitHub's commit_title, commit_message).
        HeadMoved (409) if the head is another commit now, NotMergeable (405) if it cannot merge."""

    def close(self, number: int) -> PullRequest:
        """Close the PR unmerged (a closed one stays closed); PrNotFound if there is none."""

    def remove_label(self, number: int, label: str) -> None:
        """Take one label off the PR; a label it does not carry is no error."""

    def delete_branch(self, branch: str) -> bool:
        """Delete a head branch of a merged or closed PR; False if it was gone already. Never
        the base branch, nor the head of an open PR (BranchInUse)."""

    def reviews(self, number: int) -> list[dict]:
        """The PR's reviews, oldest first, in GitHub's item shape (user.login, state such as
        APPROVED or CHANGES_REQUESTED, body, commit_id, submitted_at), at most REVIEWS_MAX."""


class ForgeError(AgentcomError):
    """A forge refused or failed a request; carries the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


class PrExists(ForgeError):
    def __init__(self, head: str, number: int | None = None):
        self.head, self.number = head, number
        where = f" (#{number})" if number else ""
        super().__init__(f"a pull request from {head} is already open{where}; update that one", 422)


class NoCommits(ForgeError):
    def __init__(self, head: str, base: str):
        self.head, self.base = head, base
        super().__init__(f"no commits between {base} and {head}; commit your work on {head} first", 422)


class PrNotFound(ForgeError):
    def __init__(self, number: int):
        self.number = number
        super().__init__(f"no pull request #{number}", 404)


class HeadMoved(ForgeError):
    def __init__(self, number: int, sha: str):
        self.number, self.sha = number, sha
        super().__init__(f"pull request #{number} moved past {sha[:12]}; review its new head before merging", 409)


class NotMergeable(ForgeError):
    def __init__(self, number: int, why: str = "it conflicts with its base or is closed"):
        self.number = number
        super().__init__(f"pull request #{number} cannot be merged: {why}", 405)


class BranchInUse(ForgeError):
    """A branch the forge will not delete: the base, or the head of an open pull request."""

    def __init__(self, branch: str, why: str):
        self.branch = branch
        super().__init__(f"branch {branch} is not deleted: {why}", 422)


REVIEWS_MAX = 300          # reviews read of one PR; a longer conversation is for a human anyway
MERGE_TITLE_MAX = 256
MERGE_MESSAGE_MAX = 65536
STATUS_STATES = ("error", "failure", "pending", "success")
MERGE_METHODS = ("merge", "squash", "rebase")


def check_status(sha: str, state: str, context: str, description: str) -> None:
    """Bounds on a commit status, the same for every forge."""
    problems = []
    if not isinstance(sha, str) or not (len(sha) in (40, 64) and all(c in "0123456789abcdef" for c in sha)):
        problems.append("sha must be a full commit id (40 or 64 hex digits)")
    if state not in STATUS_STATES:
        problems.append(f"state must be one of {', '.join(STATUS_STATES)}")
    if not isinstance(context, str) or not 0 < len(context) <= 255 or not context.isprintable():
        problems.append("context must be one line of 1-255 characters")
    if not isinstance(description, str) or len(description) > 140:
        problems.append("description must be text of at most 140 characters")
    if problems:
        raise ForgeError("commit status refused: " + "; ".join(problems), 422)


def check_merge_text(title: str | None, message: str | None) -> None:
    """Bounds on a merge commit's title and message, the same for every forge."""
    problems = []
    if title is not None and (not isinstance(title, str) or not title.strip() or len(title) > MERGE_TITLE_MAX
                              or "\n" in title):
        problems.append(f"a merge's title is one line of 1-{MERGE_TITLE_MAX} characters")
    if message is not None and (not isinstance(message, str) or len(message) > MERGE_MESSAGE_MAX):
        problems.append(f"a merge's message is text of at most {MERGE_MESSAGE_MAX} characters")
    if problems:
        raise ForgeError("merge refused: " + "; ".join(problems), 422)


def check_pr_text(title: str, body: str, labels: tuple[str, ...]) -> None:
    """Bounds on what a PR carries, the same for every forge."""
    problems = (text_problems(title, "title", TITLE_MAX, required=True) + text_problems(body, "body", BODY_MAX)
                + label_problems(list(labels)))
    if problems:
        raise ForgeError("pull request refused: " + "; ".join(problems), 422)
