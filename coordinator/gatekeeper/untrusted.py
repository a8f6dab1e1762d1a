"""[pure] A pull request's title and body are untrusted text: find instruction-like text aimed at
the reviewer. It is recorded as a note; it never changes a verdict either way.
"""
from __future__ import annotations

import re
import unicodedata

MAX_TEXT = 65536
PATTERNS = (
    ("ignore previous instructions", r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:instructions?|rules?|"
                                     r"prompts?|guidelines|checks?|policy|policies)\b"),
    ("approve this", r"\b(?:approve|auto-?merge|merge)\b.{0,20}\b(?:this|it|now|immediately|right away|without)\b"),
    ("says it is safe or approved", r"\b(?:this|the)\s+(?:pr|pull request|change|diff)\s+is\s+"
                                    r"(?:safe|approved|pre-approved|trusted|harmless)\b"),
    ("skip the review", r"\b(?:skip|bypass|do not run|don't run|no need for)\b.{0,20}\b(?:review|checks?|tests?|"
                        r"gatekeeper|scan)\b"),
    ("speaks to the reviewer", r"\b(?:dear|attention|note to|hey)\s+(?:reviewer|gatekeeper|bot|ai|assistant|model)\b|"
                               r"\byou are (?:now )?(?:a|an|the)\b|\bsystem prompt\b|\bas an ai\b"),
    ("hidden text", r"<!--"),
)
_COMPILED = tuple((label, re.compile(rx, re.IGNORECASE | re.DOTALL)) for label, rx in PATTERNS)
_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")


def normalise(text) -> str:
    """Bounded, NFKC-folded, invisible characters dropped, whitespace collapsed."""
    text = text if isinstance(text, str) else ""
    text = unicodedata.normalize("NFKC", text[:MAX_TEXT])
    return " ".join(_INVISIBLE.sub("", text).split())


def instructions(title, body) -> list[str]:
    """Labels (our own words) of the instruction-like patterns found in the title and body."""
    text = normalise(title) + "\n" + normalise(body)
    return [label for label, pattern in _COMPILED if pattern.search(text)]
