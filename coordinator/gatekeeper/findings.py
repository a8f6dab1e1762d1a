"""[pure] A finding: one reason the gatekeeper gives, with its rule id, weight and place."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    NOTE = "note"        # recorded; changes neither the score nor the action
    RISK = "risk"        # escalates to a human
    UNSURE = "unsure"    # could not be judged, so it escalates (fail closed)
    BLOCK = "block"      # a hard gate: the pull request is blocked


@dataclass(frozen=True)
class Finding:
    """`explanation` is our own wording and never holds text from the pull request; `path` does
    (a file name the agent chose), so whoever shows it escapes it."""

    rule: str
    severity: Severity
    points: int
    explanation: str
    path: str | None = None
    line: int | None = None

    @property
    def gate(self) -> bool:
        """True when this finding alone keeps the pull request from being merged."""
        return self.severity is not Severity.NOTE


def make(weights, rule: str, severity: Severity, explanation: str, path: str | None = None,
         line: int | None = None) -> Finding:
    """A finding weighted by its rule family (`protected.ci` → weights.protected); notes weigh 0."""
    family = rule.split(".")[0]
    points = 0 if severity is Severity.NOTE else getattr(weights, family)
    return Finding(rule, severity, points, explanation, path, line)
