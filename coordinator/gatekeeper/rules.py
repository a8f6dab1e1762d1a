"""[pure] gatekeeper.yaml → frozen dataclasses. Defaults live in the tables here only; unknown
keys are errors with a suggestion, as in agentcom.yaml.

Path patterns use .gitignore syntax (`*.tf` matches at any depth, `infra/` a directory and all
below it, `!` re-includes), matched against the paths of a pull request's changed files.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace

import pathspec

from coordinator.wire.errors import ConfigError, refuse_unknown_keys
from coordinator.core.task import InvalidTask, load
from coordinator.wire.times import parse_duration

RULES_FILE = "gatekeeper.yaml"
RULES_MAX_BYTES = 65536
MAX_PATTERNS = 500
MAX_TEXT = 500
TRUST_LEVELS = ("trusted", "probation", "untrusted")
MERGE_METHODS = ("merge", "squash", "rebase")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}/[A-Za-z0-9._-]{1,100}")


def _f(default, kind: str, **meta):
    """A field of a settings table: its default, how a value is read, and its bounds."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"kind": kind, **meta})
    return field(default=default, metadata={"kind": kind, **meta})


@dataclass(frozen=True)
class Protected:
    """Paths a pull request may not touch without a human, by category (the rule id is
    `protected.CATEGORY`). A rename counts for its old and its new name."""

    ci: tuple = _f((".github/workflows/", ".github/actions/", ".gitlab-ci.yml", ".gitlab/",
                    ".circleci/", ".travis.yml", "Jenkinsfile", "azure-pipelines.yml", ".buildkite/",
                    ".ci/", ".pre-commit-config.yaml"), "patterns")
    infrastructure: tuple = _f(("*.tf", "*.tfvars", "terraform/", "infra/", "infrastructure/",
                                "deploy/", "k8s/", "helm/", "ansible/", "Dockerfile", "*.dockerfile",
                                "docker-compose*.yml", "docker-compose*.yaml", "Makefile"), "patterns")
    dependencies: tuple = _f(("requirements*.txt", "requirements/", "constraints*.txt", "pyproject.toml",
                              "setup.py", "setup.cfg", "Pipfile", "Pipfile.lock", "poetry.lock", "uv.lock",
                              "package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock",
                              "pnpm-lock.yaml", ".npmrc", "go.mod", "go.sum", "Cargo.toml", "Cargo.lock",
                              "Gemfile", "Gemfile.lock", "*.gemspec", "pom.xml", "build.gradle",
                              "build.gradle.kts", "gradle.lockfile", "composer.json", "composer.lock"),
                             "patterns")
    secrets: tuple = _f(("auth/", "authentication/", "secrets/", "*secret*", "*credential*", ".env",
                         ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*", "id_ed25519*",
                         ".netrc", ".pypirc"), "patterns")
    gatekeeper: tuple = _f(("/gatekeeper.yaml", "CODEOWNERS", ".gitattributes"), "patterns")
    extra: tuple = _f((), "patterns")  # the operator's own list


@dataclass(frozen=True)
class Limits:
    """Size limits per pull request, scaled by the agent's trust level."""

    files: int = _f(20, "int", maximum=100000)
    lines_added: int = _f(400, "int", maximum=10**7)
    lines_deleted: int = _f(200, "int", maximum=10**7)
    deletion_share: float = _f(0.5, "share")      # deleted / (added + deleted) lines, above which ...
    deletion_share_from: int = _f(40, "int", maximum=10**7)  # ... counts once this many lines change


@dataclass(frozen=True)
class Scan:
    allow_binary: bool = _f(False, "bool")        # a file without a text diff escalates unless true
    require_scope: bool = _f(False, "bool")       # a task without `scope` escalates when true
    tests: tuple = _f(("tests/", "test/", "__tests__/", "spec/", "test_*.py", "*_test.py", "conftest.py",
                       "*_test.go", "*.test.js", "*.test.ts", "*.test.jsx", "*.test.tsx", "*.spec.js",
                       "*.spec.ts", "*_spec.rb"), "patterns")
    quality_settings: tuple = _f((".coveragerc", "setup.cfg", "tox.ini", "pytest.ini", "pyproject.toml",
                                  ".flake8", "ruff.toml", ".ruff.toml", ".pylintrc", "mypy.ini",
                                  ".eslintrc*", "eslint.config.*", "jest.config.*", "vitest.config.*",
                                  ".golangci.yml", ".golangci.yaml", "codecov.yml", ".codecov.yml",
                                  "clippy.toml", ".rubocop.yml"), "patterns")


@dataclass(frozen=True)
class Level:
    size_scale: float = _f(1.0, "scale")          # multiplies every size limit
    may_merge: bool = _f(True, "bool")             # false: every pull request escalates


DEFAULT_LEVELS = {"trusted": Level(1.0, True), "probation": Level(0.5, True), "untrusted": Level(0.25, False)}


@dataclass(frozen=True)
class Trust:
    default: str = _f("probation", "choice", choices=TRUST_LEVELS)  # for an agent not listed
    agents: dict = _f({}, "agents")                                   # agent name: level
    logins: dict = _f({}, "agents")                # forge login: the agent using it, or "*" (shared)
    levels: dict = _f(dict(DEFAULT_LEVELS), "levels")


@dataclass(frozen=True)
class Merge:
    """How pull requests to one repo are merged; `repos:` overrides these per repo."""

    auto_merge: bool = _f(False, "bool")           # off: every verdict is advice to a human
    method: str = _f("squash", "choice", choices=MERGE_METHODS)
    required_checks: tuple = _f((), "lines")       # empty: never green, so never merged
    check_sources: dict = _f({}, "sources")        # check name: the only login / app slug believed for it
    check_timeout: int = _f(1800, "duration")      # a required check silent this long after a push
    mergeable_timeout: int = _f(300, "duration")   # GitHub still computing mergeability this long
    reviewers: tuple = _f((), "names")             # GitHub logins asked to review an escalation
    team_reviewers: tuple = _f((), "names")        # team slugs, likewise
    escalation_label: str = _f("agentcom:needs-human", "text")


@dataclass(frozen=True)
class Weights:
    """Risk points per finding. The score ranks escalations for a human; the gates decide."""

    secret: int = _f(100, "int", maximum=1000)
    protected: int = _f(50, "int", maximum=1000)
    tests: int = _f(40, "int", maximum=1000)
    dependency: int = _f(30, "int", maximum=1000)
    binary: int = _f(30, "int", maximum=1000)
    unsure: int = _f(30, "int", maximum=1000)
    trust: int = _f(30, "int", maximum=1000)
    scope: int = _f(20, "int", maximum=1000)
    size: int = _f(20, "int", maximum=1000)
    task: int = _f(20, "int", maximum=1000)
    checks: int = _f(10, "int", maximum=1000)


@dataclass(frozen=True)
class Rules:
    protected: Protected = Protected()
    limits: Limits = Limits()
    scan: Scan = Scan()
    trust: Trust = Trust()
    merge: Merge = Merge()
    repos: dict = field(default_factory=dict)       # "owner/name" in lower case: Merge
    weights: Weights = Weights()

    def for_repo(self, repo: str) -> Merge:
        """The merge settings for OWNER/NAME (GitHub's names ignore case, so these do too)."""
        return self.repos.get(repo.lower(), self.merge)

    def agent_logins(self) -> frozenset[str]:
        """The forge logins agents use (lower case): what they report about a check never counts."""
        return frozenset(self.trust.logins)

    def trust_of(self, agent: str | None) -> tuple[str, Level]:
        name = self.trust.agents.get(agent or "", self.trust.default)
        return name, self.trust.levels[name]


SECTIONS = {"protected": Protected, "limits": Limits, "scan": Scan, "merge": Merge, "weights": Weights}
NOTIFY_HINT = ("the operator's notice is set on the hub's machine only, never in the rules (anyone who may push "
               "can change them, and every agent reads them): a command as notify_command: [ARGV, ...] and the "
               "address file as notify_webhook_file: under gatekeeper: in the hub's agentcom/local.yaml "
               "(docs/gatekeeper.md#notifications)")


def parse(data: bytes, where: str = RULES_FILE) -> Rules:
    """Bytes of gatekeeper.yaml → Rules; raises ConfigError naming the key and the fix."""
    try:
        doc = load(data, where, RULES_MAX_BYTES) if _has_content(data) else {}
    except InvalidTask as e:
        problems = "; ".join(e.problems).replace("a task file", "the rules file").replace("task files", "rules")
        raise ConfigError(where, "file", problems) from None
    refuse_unknown_keys(where, "", doc, [*SECTIONS, "trust", "repos", "notify"])
    notify = doc.pop("notify", None)
    if notify not in (None, {}, {"command": []}):  # the empty form older templates wrote is harmless
        first = next(iter(notify), "") if isinstance(notify, dict) else ""
        raise ConfigError(where, f"notify.{first}".rstrip("."), ("a webhook address is often a secret; "
                          if first == "webhook" else "a command here would run on the hub's machine; ") + NOTIFY_HINT)
    values = {name: _section(where, name, cls(), doc.get(name)) for name, cls in SECTIONS.items()}
    values["trust"] = _trust(where, doc.get("trust"))
    raw_repos = _mapping(where, "repos", doc.get("repos"))
    repos = {}
    for repo, raw in raw_repos.items():
        if not isinstance(repo, str) or not _REPO.fullmatch(repo):
            raise ConfigError(where, f"repos.{repo}", "a repo is named OWNER/NAME, e.g. acme/web")
        if repo.lower() in repos:
            raise ConfigError(where, f"repos.{repo}", "named twice (names of repos ignore case)")
        repos[repo.lower()] = _section(where, f"repos.{repo}", values["merge"], raw)
    for label, merge in [("merge", values["merge"])] + [(f"repos.{r}", m) for r, m in repos.items()]:
        _squash_only(where, label, merge)
    return Rules(repos=repos, **values)


def _squash_only(where: str, label: str, merge: Merge) -> None:
    """Auto-merge lands exactly the diff the scan read: one squashed commit. A merge or rebase
    would put every commit of the branch on the base, including one the scan never saw (a
    secret added in one commit and removed in the next)."""
    if merge.auto_merge and merge.method != "squash":
        raise ConfigError(where, f"{label}.method", f"auto-merge merges only by squash, not {merge.method}: "
                          "the scan reads the pull request's whole diff, not each commit, and a merge or "
                          "rebase would land commits it never saw; set method: squash, or auto_merge: false")


def _has_content(data: bytes) -> bool:
    """False for a file of nothing but blank lines and comments: all defaults."""
    return any(line.strip() and not line.strip().startswith(b"#") and line.strip() != b"---"
               for line in data.splitlines())


def _trust(where: str, raw) -> Trust:
    raw = dict(_mapping(where, "trust", raw))
    refuse_unknown_keys(where, "trust.", raw, ["default", "agents", "logins", "levels"])
    base = Trust()
    levels = dict(DEFAULT_LEVELS)
    raw_levels = _mapping(where, "trust.levels", raw.pop("levels", None))
    refuse_unknown_keys(where, "trust.levels.", raw_levels, list(TRUST_LEVELS))
    for name, section in raw_levels.items():
        levels[name] = _section(where, f"trust.levels.{name}", DEFAULT_LEVELS[name], section)
    logins = {}
    for login, agent in _mapping(where, "trust.logins", raw.pop("logins", None)).items():
        if not isinstance(login, str) or not _NAME.fullmatch(login):
            raise ConfigError(where, f"trust.logins.{login}", "not a login (letters, digits and . _ / -)")
        if not isinstance(agent, str) or not (agent == "*" or _NAME.fullmatch(agent)):
            raise ConfigError(where, f"trust.logins.{login}", f"{agent!r} is not an agent name, nor \"*\" "
                              "(a login shared by agents: the agent is read from the branch)")
        if login.lower() in logins:
            raise ConfigError(where, f"trust.logins.{login}", "named twice (logins ignore case)")
        logins[login.lower()] = agent
    agents = {}
    for name, level in _mapping(where, "trust.agents", raw.pop("agents", None)).items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(where, f"trust.agents.{name}", "not an agent name")
        if level not in TRUST_LEVELS:
            raise ConfigError(where, f"trust.agents.{name}", f"{level!r} is not one of {', '.join(TRUST_LEVELS)}")
        agents[name] = level
    return replace(_section(where, "trust", base, raw), agents=agents, logins=logins, levels=levels)


def _mapping(where: str, name: str, raw) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(where, name, "must be a mapping of settings")
    return raw


def _section(where: str, name: str, base, raw):
    known = {f.name: f for f in fields(base) if f.metadata.get("kind") not in ("agents", "levels")}
    raw = _mapping(where, name, raw)
    refuse_unknown_keys(where, f"{name}.", raw, list(known))
    return replace(base, **{key: _value(where, f"{name}.{key}", known[key].metadata, value)
                            for key, value in raw.items()})


def _value(where: str, label: str, meta: dict, value):
    kind = meta["kind"]

    def wrong(why: str):
        return ConfigError(where, label, why)

    if kind == "duration":
        try:
            return parse_duration(value)
        except ValueError as e:
            raise wrong(str(e)) from None
    if kind == "bool":
        if not isinstance(value, bool):
            raise wrong(f"expected true or false, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= meta["maximum"]:
            raise wrong(f"expected a whole number from 0 to {meta['maximum']}, got {value!r}")
        return value
    if kind in ("share", "scale"):
        top = 1 if kind == "share" else 100
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
            raise wrong(f"expected a number from 0 to {top}, got {value!r}")
        return float(value)
    if kind == "choice":
        if value not in meta["choices"]:
            raise wrong(f"{value!r} is not one of {', '.join(meta['choices'])}")
        return value
    if kind == "text":
        if not isinstance(value, str) or not 0 < len(value) <= 50 or not value.isprintable():
            raise wrong(f"expected one line of 1 to 50 characters, got {value!r}")
        return value
    if kind == "sources":
        if not isinstance(value, dict) or len(value) > MAX_PATTERNS or not all(
                isinstance(k, str) and 0 < len(k) <= 255 and k.isprintable() for k in value):
            raise wrong(f"expected a mapping of check name: login or app slug, got {value!r}"[:300])
        if not all(isinstance(v, str) and _NAME.fullmatch(v) for v in value.values()):
            raise wrong("a source is a login or app slug: letters, digits and . _ / - (at most 100)")
        return dict(value)
    items = value if isinstance(value, list) else None
    if items is None or len(items) > MAX_PATTERNS or not all(
            isinstance(i, str) and 0 < len(i) <= MAX_TEXT and i.isprintable() for i in items):
        raise wrong(f"expected a list of at most {MAX_PATTERNS} lines of text, got {value!r}"[:300])
    if kind == "names" and not all(_NAME.fullmatch(i) for i in items):
        raise wrong("a name is letters, digits and . _ / - (at most 100), starting with a letter or digit")
    if kind == "patterns":
        compile_patterns(items, where, label)
    return tuple(items)


def compile_patterns(patterns, where: str = "patterns", label: str = "patterns") -> pathspec.PathSpec:
    """.gitignore-style patterns → a matcher; a pattern git would not read is a ConfigError."""
    try:
        return pathspec.PathSpec.from_lines("gitignore", patterns)
    except ValueError as e:
        raise ConfigError(where, label, f"{e}; write patterns as in .gitignore") from None
