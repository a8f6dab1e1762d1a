"""Agents never hold the operator's token: `add-agent` runs as the agent's user, so a token
file that user can read is one the agent can read too. It is said (a note, not a failure: a
one-user trial is allowed), with what the token allows and the fix. docs/operations.md."""
from __future__ import annotations

import os
from pathlib import Path

from coordinator.wire.client import default_repo

DOCS = "docs/operations.md#which-user-runs-what"


def readable_operator_tokens(token_file: Path | None) -> list[Path]:
    """The operator token files this user can read: the local hub's (REPO/agentcom/operator.token)
    and the --token-file given, if it is a file (a pipe, `<(sudo cat FILE)`, is gone after the run)."""
    candidates = [default_repo() / "agentcom" / "operator.token"]
    if token_file is not None:
        candidates.append(token_file)
    found = []
    for path in candidates:
        path = path.expanduser().absolute()
        if path not in found and path.is_file() and os.access(path, os.R_OK):
            found.append(path)
    return found


def warning(token_file: Path | None) -> str | None:
    """The note for the separation step, or None when this user can read no operator token."""
    readable = readable_operator_tokens(token_file)
    if not readable:
        return None
    return (f"this user can read the operator token ({', '.join(map(str, readable))}), and so can the agent that "
            "runs as this user: with it, the agent could merge pull requests, post check statuses and use every "
            f"operator verb; run the agent as another user, and give add-agent the token through a file only the "
            f"operator can read or $AGENTCOM_TOKEN ({DOCS})")
