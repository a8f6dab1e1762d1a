"""[pure] How the hub's commits are told from everyone else's: a seal, and the name it commits under.

Every commit the hub makes ends with one more trailer, `Hub-Seal: <HMAC-SHA256>`, keyed with a
secret only the hub holds (historykey.py). The seal covers the whole commit as git stores it
(tree, parents, author, committer with their times, and the message above the seal line), so a
seal copied onto any other commit, or onto the same one with another date, does not verify. The
coordinator's name is only a label: anyone can commit under it, so nothing trusts it alone.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass

from coordinator.core.trailers import SEAL, ends_in_trailers

NAME = "AgentCom coordinator"
EMAIL = "coordinator@agentcom.local"
KEY = SEAL
_DOMAIN = b"agentcom hub seal v1\n"  # so this HMAC can never be mistaken for another use of the key
_LINE = re.compile(rb"(?:\A|\n)" + re.escape(KEY.encode()) + rb": ([0-9a-f]{64})\n\Z")


@dataclass(frozen=True)
class Stamp:
    """An author or committer as git stores it: name, email, seconds since the epoch, and the
    time zone offset in minutes."""
    name: bytes
    email: bytes
    time: int
    offset: int


@dataclass(frozen=True)
class Commit:
    """What the seal covers: everything of a commit but the seal line itself."""
    tree: str
    parents: tuple[str, ...]
    author: Stamp
    committer: Stamp


def sealed(key: bytes, commit: Commit, message: str) -> str:
    """`message` with the seal for `commit` as its last trailer (added to the trailer block, or as
    one of its own if the message has none)."""
    body = message if message.endswith("\n") else message + "\n"
    if not ends_in_trailers(body):
        body += "\n"
    return body + f"{KEY}: {_mac(key, commit, body.encode())}\n"


def verify(key: bytes, commit: Commit, raw_message: bytes) -> bool:
    """Whether `raw_message` ends with a seal that `key` made for exactly this commit."""
    found = _LINE.search(raw_message)
    if found is None:
        return False
    body = raw_message[: found.start() + (1 if found.group(0).startswith(b"\n") else 0)]
    return hmac.compare_digest(found.group(1), _mac(key, commit, body).encode())


def _mac(key: bytes, commit: Commit, body: bytes) -> str:
    def stamp(who: Stamp) -> bytes:
        return b"%s <%s> %d %+d\n" % (who.name, who.email, who.time, who.offset)

    text = [_DOMAIN, b"tree ", commit.tree.encode(), b"\n"]
    text += [b"parent " + p.encode() + b"\n" for p in commit.parents]
    text += [b"author ", stamp(commit.author), b"committer ", stamp(commit.committer), b"\n", body]
    return hmac.new(key, b"".join(text), hashlib.sha256).hexdigest()


def _folded(text: str) -> str:
    """`text` as compared for impersonation: compatibility forms unified, case folded, and every
    space, control and invisible formatting character dropped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c) not in ("Cc", "Cf"))


_CLAIMS = {_folded(NAME), _folded(EMAIL)}


def claims_coordinator(name: str, email: str) -> bool:
    """Whether a name or email is the coordinator's, in any spelling (case, spaces, invisible or
    look-alike characters); only the hub may commit under it."""
    return _folded(name) in _CLAIMS or _folded(email) in _CLAIMS
