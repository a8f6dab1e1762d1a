"""Where the gatekeeper works and with what credentials: the `gatekeeper:` section of the hub's
agentcom.yaml, or the same settings as options of `agentcom gatekeeper`. Secrets (the GitHub token,
the webhook secret, the operator's notification address) are never in the coordination repo: they are files on the hub's machine that
only their owner may read (mode 0600), named here."""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

SECRET_MAX = 4096
FORGES = ("github", "local")


@dataclass(frozen=True)
class Setup:
    forge: str            # github | local
    target: str           # OWNER/NAME on GitHub, or the local forge's bare repo
    github_api: str = "https://api.github.com"
    github_token_file: str = ""
    webhook_secret_file: str = ""
    interval: int = 300   # seconds between polls, the fallback for a missed webhook
    notify_webhook_file: str = ""   # the operator's notification address (often a secret, e.g. Slack's)

    def notify_webhook(self) -> str | None:
        """The address escalations are POSTed to, read from its 0600 file; None when unset."""
        if not self.notify_webhook_file:
            return None
        url = read_secret(self.notify_webhook_file, "notify webhook address")
        if not re.fullmatch(r"https?://[^\s]{1,2000}", url):
            raise UsageError(f"the notify webhook file {self.notify_webhook_file} must hold one http:// or "
                             "https:// address")
        return url

    @property
    def name(self) -> str:
        """OWNER/NAME, the key of the rules' `repos:` settings."""
        from ..forge.github import repo_of

        return repo_of(self.target)


def from_config(section) -> Setup | None:
    """The hub's `gatekeeper:` settings, or None when no forge is set (the gatekeeper is off)."""
    if not section.forge:
        return None
    return check(Setup(section.forge, section.target, section.github_api, section.github_token_file,
                       section.webhook_secret_file, section.interval, section.notify_webhook_file))


def check(setup: Setup) -> Setup:
    if setup.forge not in FORGES:
        raise UsageError(f"gatekeeper forge {setup.forge!r} is not one of {', '.join(FORGES)}")
    if not setup.target:
        raise UsageError("the gatekeeper needs a target: OWNER/NAME on GitHub, or the local forge's bare repo")
    if setup.forge == "github" and not setup.github_token_file:
        raise UsageError("the GitHub forge needs github_token_file: a file (mode 0600) holding the token")
    if not 10 <= setup.interval <= 86400:
        raise UsageError("the gatekeeper's interval is from 10s to 1d")
    if not setup.name:  # repo_of refuses a target without OWNER/NAME, naming it
        raise UsageError(f"cannot tell OWNER/NAME from the gatekeeper target {setup.target!r}")
    return setup


def read_secret(path: str, what: str) -> str:
    """A secret from a file only its owner can read; refuses anything looser, empty or too long."""
    p = Path(path).expanduser()
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise UsageError(f"cannot read the {what} from {p}: {e.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UsageError(f"the {what} file {p} is not a regular file")
        if mode & 0o077:
            raise UsageError(f"the {what} file {p} can be read by others (mode {mode & 0o777:o}); "
                             f"run: chmod 600 {p}")
        data = os.read(fd, SECRET_MAX + 1)
    finally:
        os.close(fd)
    text = data.decode(errors="replace").strip()
    if not text or len(data) > SECRET_MAX:
        raise UsageError(f"the {what} file {p} must hold one secret of 1-{SECRET_MAX} bytes")
    return text
