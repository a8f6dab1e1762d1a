"""Where the gatekeeper works and with what credentials, all set on the hub's machine: options of
`agentcom hub` and `agentcom gatekeeper` (or their $AGENTCOM_GATEKEEPER_* variables), else the
`gatekeeper:` section of the local settings file agentcom/local.yaml inside the bare repo (not in
git). The pushed agentcom.yaml sets only the poll interval: anyone who may push can change it.
Secrets are files in the hub's secret folder that only their owner may read (secretfiles.py)."""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path

from coordinator.repo.lock import RUNTIME_DIR
from coordinator.reviewer import secretfiles
from coordinator.reviewer.secretfiles import read_secret
from coordinator.wire.errors import ConfigError, InvalidTask, UsageError
from coordinator.wire.settings import Whole, read, setting, shown

FORGES = ("github", "local")
API = "https://api.github.com"
LOCAL_FILE = "local.yaml"          # the hub's local settings, in its runtime folder
LOCAL_MAX = 65536
SECRET_FILES = {"github_token_file": "GitHub token", "webhook_secret_file": "webhook secret",
                "notify_webhook_file": "notify webhook address"}


def _text(value) -> str:
    # any text, as an option would give it: check() and the secret folder vet what it names
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {shown(value)}")
    return value


def _argv(value) -> tuple:
    if not (isinstance(value, list) and all(isinstance(a, str) and a for a in value)):
        raise ValueError(f"expected a list of words: an argv, never a shell string, got {shown(value)}")
    return tuple(value)


@dataclass(frozen=True)
class Setup:
    """The gatekeeper's settings; each key of the file's `gatekeeper:` section is a field here."""

    forge: str = setting("", _text)            # github | local; unset, no gatekeeper
    target: str = setting("", _text)           # OWNER/NAME on GitHub, or the local forge's bare repo
    github_api: str = setting(API, _text)
    github_token_file: str = setting("", _text)     # real paths inside the secret folder (from_local checks them)
    webhook_secret_file: str = setting("", _text)
    interval: int = 300   # seconds between polls, the fallback for a missed webhook (agentcom.yaml's)
    notify_webhook_file: str = setting("", _text)   # the operator's notification address (often a secret, e.g. Slack's)
    notify_command: tuple = setting((), _argv)      # run as argv with each escalation on stdin (local.yaml only)
    secret_dir: str = setting("", _text)            # the only folder secret files are read from
    check_runner: tuple = setting((), _argv)        # put before each check's argv (local.yaml only), e.g. a sandbox
    check_workers: int = setting(1, Whole(8, 1))    # checks run at once (local forge)

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
        """OWNER/NAME: the target's name in the rules' `repos:` (its path or URL, `names`, serve too)."""
        from coordinator.forge.github import repo_of

        return repo_of(self.target)

    @property
    def names(self) -> tuple[str, ...]:
        return target_names(self.target, self.name, local=self.forge == "local")


def target_names(target: str, name: str, *, local: bool) -> tuple[str, ...]:
    """Every name a `repos:` key may give the target: OWNER/NAME, the target as given, and a
    local forge's path as resolved (symbolic links and `..` followed)."""
    found = [name, target]
    if local and target and "://" not in target and not re.match(r"[^/]*@[^/]*:", target):  # a path, not a URL
        found.append(os.path.realpath(os.path.expanduser(target)))
    return tuple(dict.fromkeys(found))


def from_local(repo: str | os.PathLike | None, options: dict, interval: int) -> Setup | None:
    """The gatekeeper's settings: each option given, else the local settings file; None when no
    forge is set (the gatekeeper is off). Secret files must be in the secret folder."""
    values = replace(read_local(repo), **{k: v for k, v in options.items() if v})
    if not values.forge:
        return None
    files = {}
    if any(getattr(values, key) for key in SECRET_FILES):
        secrets = secretfiles.folder(values.secret_dir, repo)
        runtime = Path(repo) / RUNTIME_DIR if repo is not None else None
        files = {key: secretfiles.locate(getattr(values, key), secrets, runtime, what)
                 for key, what in SECRET_FILES.items() if getattr(values, key)}
    return check(replace(values, github_api=values.github_api or API, interval=interval, **files))


@dataclass(frozen=True)
class LocalFile:
    """agentcom/local.yaml: the hub's own settings, only a `gatekeeper:` section for now."""

    gatekeeper: Setup = Setup()


def read_local(repo: str | os.PathLike | None) -> Setup:
    """The `gatekeeper:` section of agentcom/local.yaml in `repo` over the defaults; it decides
    where credentials go, so only its owner may write it."""
    from coordinator.core.task import load

    if repo is None:
        return Setup()
    path = Path(repo) / RUNTIME_DIR / LOCAL_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return Setup()
    except OSError as e:
        raise UsageError(f"cannot read the hub's local settings {path}: {e.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            raise UsageError(f"the hub's local settings {path} must be a regular file of this user that only "
                             f"it can write; run: chmod 600 {path}")
        data = os.read(fd, LOCAL_MAX + 1)
    finally:
        os.close(fd)
    try:
        doc = load(data, str(path), LOCAL_MAX) if data.strip() else {}
    except InvalidTask as e:
        raise ConfigError(str(path), "file", "; ".join(e.problems)) from None
    return read(LocalFile, doc, str(path)).gatekeeper


def check(setup: Setup) -> Setup:
    if setup.forge not in FORGES:
        raise UsageError(f"gatekeeper forge {setup.forge!r} is not one of {', '.join(FORGES)}")
    if not setup.target:
        raise UsageError("the gatekeeper needs a target: OWNER/NAME on GitHub, or the local forge's bare repo")
    if setup.forge == "github" and not setup.github_token_file:
        raise UsageError("the GitHub forge needs a token: --github-token-file FILE, a file (mode 0600) in the "
                         "hub's secret folder")
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", setup.github_api):
        raise UsageError(f"the GitHub API {setup.github_api!r} is not an http:// or https:// address")
    if not 10 <= setup.interval <= 86400:
        raise UsageError("the gatekeeper's interval is from 10s to 1d")
    if not setup.name:  # repo_of refuses a target without OWNER/NAME, naming it
        raise UsageError(f"cannot tell OWNER/NAME from the gatekeeper target {setup.target!r}")
    return setup
