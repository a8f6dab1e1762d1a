"""[pure] What a pull request's diff does, from its changed files exactly as GitHub lists them
(`GET /repos/{owner}/{repo}/pulls/{n}/files`): protected paths, weakened tests, secrets, new
dependencies, binary files, files outside the task's scope, and size figures.

Fail closed: a file whose diff is missing or unreadable, a malformed item, or a truncated list
is an "unsure" finding, never a pass.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields

from coordinator.gatekeeper import manifests, secretscan
from coordinator.gatekeeper import patch as patches
from coordinator.gatekeeper.findings import Finding, Severity, make
from coordinator.gatekeeper.rules import Protected, Rules, compile_patterns
from coordinator.wire.errors import ConfigError

STATUSES = ("added", "removed", "modified", "renamed", "copied", "changed", "unchanged")
MAX_FILES = 3000  # GitHub lists at most this many files of a pull request
_NO_CONTENT = ("renamed", "copied", "unchanged")  # may carry no diff at all when nothing changed

ASSERTS = re.compile(r"^\s*(?:assert\b|assert_\w*!?\(|assert!|self\.(?:assert\w*|fail\w*)\(|expect\(|"
                     r"assert\.\w+\(|require\.\w+\(|t\.(?:Error|Errorf|Fatal|Fatalf|Fail|FailNow)\(|"
                     r"(?:with\s+)?pytest\.raises\(|\w[\w.]*\.should\b)")
CASES = re.compile(r"^\s*(?:async\s+)?def\s+test\w*\s*\(|^\s*func\s+Test\w*\s*\(|^\s*(?:it|test)\s*\(\s*[\"'`]|"
                   r"^\s*#\[test\]|^\s*@Test\b")
TRIVIAL = re.compile(r"^\s*(?:assert\s+(?:True|1|not\s+False|\(?\s*True\s*\)?)\s*(?:,|#|$)|"
                     r"self\.assertTrue\(\s*True\s*\)|"
                     r"expect\(\s*true\s*\)\.toBe\(\s*true\s*\)|assert!\(\s*true\s*\))")
SKIPS = re.compile(r"@pytest\.mark\.(?:skip|skipif|xfail)\b|\bpytest\.(?:skip|xfail|importorskip)\(|"
                   r"@unittest\.(?:skip|skipIf|skipUnless|expectedFailure)\b|\.skipTest\(|\bSkipTest\b|"
                   r"\b(?:it|test|describe|context)\.(?:skip|todo|only)\(|\bx(?:it|test|describe)\(|"
                   r"\bt\.Skip(?:f|Now)?\(|#\[ignore\]|@(?:Disabled|Ignore)\b")
SUPPRESSIONS = re.compile(r"#\s*noqa\b|#\s*type:\s*ignore|pylint:\s*disable|eslint-disable|@ts-(?:ignore|nocheck)|"
                          r"//\s*nolint|#\[allow\(|pragma:\s*no\s*cover|istanbul\s+ignore|@SuppressWarnings|"
                          r"rubocop:disable")
COVERAGE = re.compile(r"(?i)(fail[_-]under|cov-fail-under|min(?:imum)?[_-]?coverage|coverage[_-]?threshold|"
                      r"branches|functions|lines|statements|threshold|target)\W{1,4}(\d+(?:\.\d+)?)")
LOOSER = re.compile(r"(?i)\b(?:ignore|extend-ignore|per-file-ignores|exclude|extend-exclude|omit|disable|"
                    r"disabled|skip|allow|off|warn)\b")
STRICTER = re.compile(r"(?i)\b(?:select|extend-select|enable|strict|error|fail_under|warn_unused_ignores)\b")


@dataclass(frozen=True)
class Figures:
    files: int
    additions: int
    deletions: int


@dataclass(frozen=True)
class Scan:
    findings: tuple[Finding, ...]
    figures: Figures


def scan(files: list, truncated: bool, rules: Rules, scope: list | None) -> Scan:
    """Findings for one pull request's changed files; `truncated` says GitHub's list was cut."""
    w, found = rules.weights, []
    if truncated:
        found.append(make(w, "unsure.truncated", Severity.UNSURE,
                          "GitHub's list of changed files was cut short, so part of the change was not seen"))
    if not isinstance(files, list):
        files = []
        found.append(make(w, "unsure.shape", Severity.UNSURE, "the list of changed files is not a list"))
    if len(files) > MAX_FILES:
        found.append(make(w, "unsure.truncated", Severity.UNSURE,
                          f"{len(files)} changed files; only the first {MAX_FILES} were scanned"))
        files = files[:MAX_FILES]
    try:
        ctx = _Context(rules, scope)
    except (ConfigError, TypeError):
        ctx = _Context(rules, None)
        found.append(make(w, "unsure.scope", Severity.UNSURE, "the task's scope could not be read as path "
                          "patterns, so no file could be checked against it"))
    if not files and not truncated:
        found.append(make(w, "unsure.empty", Severity.UNSURE, "the pull request changes no files"))
    if scope is None and rules.scan.require_scope:
        found.append(make(w, "scope.missing", Severity.RISK, "the task declares no scope, and the rules require one"))
    additions = deletions = 0
    for index, item in enumerate(files):
        problem = _shape(item)
        if problem:
            found.append(make(w, "unsure.shape", Severity.UNSURE, f"changed file #{index + 1} {problem}"))
            continue
        additions, deletions = additions + item["additions"], deletions + item["deletions"]
        found.extend(ctx.file(item))
    return Scan(tuple(found), Figures(len(files), additions, deletions))


def _shape(item) -> str | None:
    if not isinstance(item, dict):
        return "is not an object"
    if not isinstance(item.get("filename"), str) or not item["filename"] or len(item["filename"]) > 4096:
        return "has no usable filename"
    if item.get("status") not in STATUSES:
        return "has an unknown status"
    for key in ("additions", "deletions", "changes"):
        if isinstance(item.get(key), bool) or not isinstance(item.get(key), int) or item[key] < 0:
            return f"has no usable {key} count"
    if not isinstance(item.get("previous_filename", ""), str) or not isinstance(item.get("patch", ""), str):
        return "has a previous_filename or patch that is not text"
    return None


class _Context:
    def __init__(self, rules: Rules, scope: list | None):
        self.w, self.rules = rules.weights, rules
        self.protected = {f.name: compile_patterns(getattr(rules.protected, f.name)) for f in fields(Protected)}
        self.tests = compile_patterns(rules.scan.tests)
        self.quality = compile_patterns(rules.scan.quality_settings)
        if scope is not None and not (isinstance(scope, (list, tuple)) and all(isinstance(p, str) for p in scope)):
            raise TypeError("scope is a list of patterns")
        self.scope = compile_patterns(scope) if scope else None

    def file(self, item: dict) -> list[Finding]:
        name, status = item["filename"], item["status"]
        old = item.get("previous_filename") if item.get("previous_filename") not in (None, name) else None
        found = self._paths(name, old, status)
        is_test = self.tests.match_file(name) or (old is not None and self.tests.match_file(old))
        if is_test and (status == "removed" or (old and not self.tests.match_file(name))):
            found.append(make(self.w, "tests.removed_file", Severity.RISK,
                              "a test file is deleted" if status == "removed" else "a test file is renamed "
                              "to a name that is not a test", old or name))
        text = item.get("patch")
        if text is None:
            if item["changes"] == 0 and status in _NO_CONTENT:
                return found  # a pure rename or copy: nothing inside changed
            if item["changes"] == 0:
                found.append(make(self.w, "binary.file", Severity.RISK if not self.rules.scan.allow_binary
                                  else Severity.NOTE, "a binary file (GitHub shows no text diff for it)", name))
            else:
                found.append(make(self.w, "unsure.no_patch", Severity.UNSURE,
                                  f"GitHub gives no diff for this file ({item['changes']} lines changed), so it "
                                  "was not read", name))
            return found
        hunks = patches.parse(text)
        if hunks.problem or (len(hunks.added), len(hunks.removed)) != (item["additions"], item["deletions"]):
            found.append(make(self.w, "unsure.patch", Severity.UNSURE, "the diff could not be read in full "
                              f"({hunks.problem or 'its lines do not add up to the counts GitHub gives'})", name))
        return found + self._lines(name, is_test, hunks)

    def _paths(self, name: str, old: str | None, status: str) -> list[Finding]:
        found = []
        for path in (name, old) if old else (name,):
            for category, spec in self.protected.items():
                if spec.match_file(path):
                    how = "renames a file out of" if path == old else "renames a file into" if old else \
                        {"added": "adds a file to", "removed": "deletes a file from"}.get(status, "changes")
                    found.append(make(self.w, f"protected.{category}", Severity.RISK,
                                      f"{how} a protected path ({category})", path))
            if self.scope is not None and not self.scope.match_file(path):
                found.append(make(self.w, "scope.outside", Severity.RISK,
                                  "a file outside the task's declared scope", path))
        return found

    def _lines(self, name: str, is_test: bool, hunks) -> list[Finding]:
        w, found = self.w, []
        for line in hunks.added:
            kind = secretscan.find(line.text)
            if kind:
                found.append(make(w, "secret.found", Severity.BLOCK, f"an added line holds {kind}", name, line.number))
        removed_text = {line.text.strip() for line in hunks.removed}
        for line in hunks.added:
            if SKIPS.search(line.text) and line.text.strip() not in removed_text:
                found.append(make(w, "tests.skip_marker", Severity.RISK, "a new skip, xfail or only marker "
                                  "turns tests off", name, line.number))
            if SUPPRESSIONS.search(line.text) and line.text.strip() not in removed_text:
                found.append(make(w, "tests.suppression", Severity.RISK, "a new lint or type-check "
                                  "suppression", name, line.number))
        if is_test:
            gone = [line for line in hunks.removed if ASSERTS.match(line.text)]
            if len(gone) > sum(1 for line in hunks.added if ASSERTS.match(line.text)):
                found.append(make(w, "tests.removed_assert", Severity.RISK, f"{len(gone)} assertion line(s) "
                                  "removed from a test, more than are added", name, gone[0].number))
            cases = [line for line in hunks.removed if CASES.match(line.text)]
            if len(cases) > sum(1 for line in hunks.added if CASES.match(line.text)):
                found.append(make(w, "tests.removed_case", Severity.RISK, f"{len(cases)} test case(s) removed or "
                                  "renamed so the runner no longer finds them", name, cases[0].number))
            found += [make(w, "tests.trivial_assert", Severity.RISK, "a new assertion that cannot fail", name,
                           line.number) for line in hunks.added if TRIVIAL.match(line.text)]
        if self.quality.match_file(name):
            found.extend(self._quality(name, hunks))
        if manifests.is_manifest(name):
            before = {manifests.names(name, line.text) for line in hunks.removed}
            for line in hunks.added:
                dependency = manifests.names(name, line.text)
                if dependency and dependency not in before:
                    found.append(make(w, "dependency.new", Severity.RISK, "adds a dependency", name, line.number))
        return found

    def _quality(self, name: str, hunks) -> list[Finding]:
        found, old = [], {}
        for line in hunks.removed:
            for key, number in COVERAGE.findall(line.text):
                old[key.lower()] = float(number)
        new = {key.lower(): float(number) for line in hunks.added for key, number in COVERAGE.findall(line.text)}
        if any(key not in new or new[key] < value for key, value in old.items()):
            found.append(make(self.w, "tests.coverage_lowered", Severity.RISK,
                              "a coverage threshold is lowered or removed", name))
        loose = [line for line in hunks.added if LOOSER.search(line.text)]
        loose += [line for line in hunks.removed if STRICTER.search(line.text)]
        if loose:
            found.append(make(self.w, "tests.lint_loosened", Severity.RISK,
                              "test, coverage or lint settings are loosened", name, loose[0].number))
        return found
