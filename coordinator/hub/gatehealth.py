"""The gatekeeper's own conditions for the health list: what its service last found about its
target (`target_unprotected`: the base branch open to direct pushes, or a protection it could
not read), and the `repos:` entries of gatekeeper.yaml that name no target of this hub
(`rules_repo_unmatched`, worked out once per commit of main). The service reports from its
thread; the overview reads under its lock, and rebuilds the health list when `version` moves."""
from __future__ import annotations

import threading
from collections.abc import Callable

from coordinator.gatekeeper import rules as rule_file
from coordinator.wire.errors import ConfigError

KINDS = ("target_unprotected", "rules_repo_unmatched")


class GateHealth:
    """What the gatekeeper wants a human to see about its target and its rules."""

    def __init__(self, read_file: Callable[[str], bytes | None]):
        self.read_file = read_file
        self.names: tuple[str, ...] = ()   # the gatekeeper's target: OWNER/NAME, as given, as resolved
        self.found: tuple[dict, ...] = ()  # what the service found at its last look
        self.version = 0
        self._lock = threading.Lock()

    def watch(self, names: tuple[str, ...]) -> None:
        """The gatekeeper started on the target of these names."""
        with self._lock:
            self.names, self.version = tuple(names), self.version + 1

    def report(self, conditions: list[dict]) -> None:
        """The service's conditions now (replacing the last ones); the version moves only on a change."""
        with self._lock:
            if tuple(conditions) != self.found:
                self.found, self.version = tuple(conditions), self.version + 1

    def conditions(self) -> list[dict]:
        """Every condition now: the service's, then the unmatched `repos:` entries."""
        with self._lock:
            found, names = list(self.found), self.names
        return found + (unmatched(self.read_file(rule_file.RULES_FILE), names) if names else [])


def unmatched(text: bytes | None, names: tuple[str, ...]) -> list[dict]:
    """A `rules_repo_unmatched` condition per `repos:` entry of the rules `text` that names none
    of `names` (a rules file that does not parse has its own refusal at the push: none here)."""
    try:
        rules = rule_file.parse(text or b"")
    except ConfigError:
        return []
    name, given = names[0], names[1] if len(names) > 1 else names[0]
    return [{"kind": "rules_repo_unmatched", "subject": key,
             "reason": f"gatekeeper.yaml repos: entry {key!r} names no target of this hub, so its settings "
                       f"apply to nothing; this hub's gatekeeper target is {given}, named {name}: key the "
                       f"entry by either (docs/gatekeeper.md#merge-settings-per-repo)"}
            for key in rules.unmatched(*names)]
