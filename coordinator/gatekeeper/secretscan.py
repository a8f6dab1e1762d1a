"""[pure] Secrets in added lines: known token formats, private key blocks, and high-entropy values
assigned to names like password, secret or token. What is found is named, never echoed."""
from __future__ import annotations

import math
import re
from collections import Counter

KNOWN = (
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")),
    ("an AWS secret access key", re.compile(
        r"(?i)aws.{0,20}(?:secret|private).{0,20}[\"'=:\s]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b")),
    ("a GitHub fine-grained token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b")),
    ("a private key block", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Slack webhook address", re.compile(r"hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+")),
    ("a Stripe live key", re.compile(r"\b(?:sk|rk)_live_[0-9A-Za-z]{16,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
)
_ASSIGNED = re.compile(
    r"(?i)(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret"
    r"|auth[_-]?key|credentials?)[\w.-]*[\"']?\s*(?::=|=>|[:=])\s*[\"'`]?([^\s\"'`,;)]{16,})")
_PLACEHOLDER = re.compile(r"(?i)example|changeme|placeholder|dummy|fake|xxxx|\*\*\*\*|<|>|\$\{|\{\{|%\(|"
                          r"environ|getenv|process\.env|settings\.|config\.|\(\)")
MIN_ENTROPY = 3.5  # bits per character: random base64 is near 6, English words below 3.5


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values()) if text else 0.0


def find(line: str) -> str | None:
    """What kind of secret the line holds, in plain words, or None."""
    for label, pattern in KNOWN:
        if pattern.search(line):
            return label
    for m in _ASSIGNED.finditer(line):
        value = m.group(1)
        mixed = any(c.isdigit() for c in value) and any(c.isalpha() for c in value)  # not a plain name
        if mixed and not _PLACEHOLDER.search(value) and entropy(value) >= MIN_ENTROPY:
            return "a high-entropy value assigned to a secret-like name"
    return None
