"""[pure] Whether a GitHub base branch is protected enough for the gatekeeper to mean anything:
a pull request required, or required status checks, so nobody (an agent's token included)
pushes to it directly. Judged from what the forge read (forge/github.py `protection`): the
branch (`protected`, `protection.required_status_checks`), the active ruleset rules that apply
to it, and the classic protection when the token may read it (it needs admin)."""
from __future__ import annotations

from dataclasses import dataclass

FIX = ("protect it on GitHub: Settings → Branches → add a branch protection rule for {branch} with "
       "\"Require a pull request before merging\" (or required status checks), or Settings → Rules → "
       "Rulesets → a branch ruleset targeting it with the same; docs/gatekeeper.md#protect-the-base-branch")


@dataclass(frozen=True)
class Protection:
    branch: str
    ok: bool | None        # None: could not tell
    why: str               # what protects it, or what is missing


def judge(seen: dict) -> Protection:
    """`seen`: {"branch": name, "branch_doc": GET .../branches/{b}, "rules": GET .../rules/branches/{b},
    "classic": GET .../branches/{b}/protection, {} when GitHub says "Branch not protected", None when
    this token may not read it}."""
    branch, doc, classic = seen["branch"], seen.get("branch_doc") or {}, seen.get("classic")
    types = {r.get("type") for r in seen.get("rules") or () if isinstance(r, dict)}
    has = []
    if "pull_request" in types or (isinstance(classic, dict) and classic.get("required_pull_request_reviews")):
        has.append("a pull request required")
    if "required_status_checks" in types or _checks(classic) or _checks(doc.get("protection")):
        has.append("required status checks")
    if has:
        return Protection(branch, True, " and ".join(has))
    if doc.get("protected") and classic is None:
        return Protection(branch, None, f"{branch} is protected, but this token cannot read whether the "
                          "protection requires a pull request or status checks (reading it needs admin "
                          "rights; a ruleset is readable by any token)")
    what = "its protection" if doc.get("protected") or types else "no protection at all"
    return Protection(branch, False, f"{branch} has {what} but requires neither a pull request nor status "
                      "checks, so anyone who may push (an agent's token too) can push to it directly")


def _checks(section) -> bool:
    """Whether a protection's required_status_checks is in force and names any check."""
    rsc = section.get("required_status_checks") if isinstance(section, dict) else None
    if not isinstance(rsc, dict) or rsc.get("enforcement_level") == "off":
        return False
    return bool(rsc.get("contexts") or rsc.get("checks"))


def condition(repo: str, p: Protection) -> dict | None:
    """The health condition for `repo`'s base branch, or None when it is protected enough."""
    if p.ok:
        return None
    if p.ok is None:
        return {"kind": "target_unprotected", "subject": repo,
                "reason": f"cannot tell whether {repo}'s base branch is protected: {p.why}; give the token read "
                          f"access to the repo's administration, or {FIX.format(branch=p.branch)}"}
    return {"kind": "target_unprotected", "subject": repo,
            "reason": f"{repo}'s base branch {p.why}; {FIX.format(branch=p.branch)}"}


def unreadable(repo: str, error: str) -> dict:
    """The condition when the forge could not be read at all (network, 403, a rate limit)."""
    return {"kind": "target_unprotected", "subject": repo,
            "reason": f"cannot tell whether {repo}'s base branch is protected: {error[:300]}; the gatekeeper "
                      "tries again on its next pass"}
