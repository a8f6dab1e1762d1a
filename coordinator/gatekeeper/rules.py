"""[pure] gatekeeper.yaml → frozen dataclasses. Defaults live in the tables here only; unknown
keys are errors with a suggestion, as in agentcom.yaml.

Path patterns use .gitignore syntax (`*.tf` matches at any depth, `infra/` a directory and all
below it, `!` re-includes), matched against the paths of a pull request's changed files.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import pathspec

from coordinator.core.task import InvalidTask, load
from coordinator.wire.errors import ConfigError
from coordinator.wire.settings import (
    Choice,
    Duration,
    Flag,
    Lines,
    Number,
    Section,
    Sections,
    Table,
    Text,
    Whole,
    read,
    setting,
    shown,
)

RULES_FILE = "gatekeeper.yaml"
RULES_MAX_BYTES = 65536
MAX_PATTERNS = 500
TRUST_LEVELS = ("trusted", "probation", "untrusted")
MERGE_METHODS = ("merge", "squash", "rebase")
_NAME = r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}"
_NAMES = Lines(Text("a name: letters, digits and . _ / - (at most 100), starting with a letter or digit", _NAME))
_LEVEL = Choice(TRUST_LEVELS)
_LOGINS = Table(Text("a login (letters, digits and . _ / -)", _NAME),
                Text('an agent name, nor "*" (a login shared by agents: the agent is read from the branch)',
                     rf"\*|{_NAME}"), fold=str.lower, twice="logins ignore case")
_SOURCES = Table(Text("a check name (at most 255 printable characters)", most=255),
                 Text("a login or app slug: letters, digits and . _ / - (at most 100)", _NAME),
                 wanted="a mapping of check name: login or app slug", most=MAX_PATTERNS, nullable=False)
REPO_FORMS = ("a repo: OWNER/NAME (acme/web), or the gatekeeper target's path or URL as the hub's "
              "gatekeeper is given it (/srv/git/web.git, https://github.com/acme/web); "
              "the hub prints the name to use at start")
_REPO = Text(REPO_FORMS, r"\S*/[^\s/]\S*", most=500)   # text with a / and no blank


def repo_key(text: str) -> str:
    """How a `repos:` key and a target's name are compared: without a trailing slash or `.git`,
    in lower case (GitHub's names ignore case)."""
    return text.strip().rstrip("/").removesuffix(".git").rstrip("/").lower()


HUB_SOURCE = "local operator"   # who the local forge records for a status posted with the hub's operator token
CHECKS_MAX = 20
ARGV_MAX = 100                  # words of a check's command
ARG_MAX = 4096                  # characters of one word
CHECK_TIMEOUT_MAX = 7200


def _arg(value) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= ARG_MAX or "\0" in value:
        raise ValueError(f"each word of run is text of 1 to {ARG_MAX} characters without NUL, not {shown(value)}")
    return value


def _argv(value) -> tuple:
    """A check's command: an argv list, never a shell string."""
    if isinstance(value, str):
        raise ValueError(f"run is an argv list, never a shell string: write [pytest, -q], not {shown(value)}")
    if not isinstance(value, list) or not 0 < len(value) <= ARGV_MAX:
        raise ValueError(f"run is a list of 1 to {ARGV_MAX} words (the program first), not {shown(value)}")
    argv = tuple(_arg(a) for a in value)
    if any(c.isspace() for c in argv[0]):
        raise ValueError(f"run's first word names the program, and {shown(argv[0])} holds a space (a shell "
                         f"string?): write each word apart, e.g. [{', '.join(argv[0].split()[:3])}]")
    return argv


def _at_most(seconds: int) -> None:
    if not 0 < seconds <= CHECK_TIMEOUT_MAX:
        raise ValueError(f"a check's timeout is from 1s to {CHECK_TIMEOUT_MAX // 3600}h, not {seconds}s")


@dataclass(frozen=True)
class Check:
    """A check the hub runs itself on a local forge's pull request (its name is the status context)."""

    run: tuple = setting((), _argv, required=True)     # argv, run in a checkout of the PR's head
    timeout: int = setting(600, Duration(), check=_at_most)  # then its whole process group is killed


_CHECKS = Table(Text("a check name: letters, digits and . _ / - (at most 100), starting with a letter or digit",
                     _NAME), Section(Check, "a mapping of run: [ARGV, ...] and timeout: DURATION"),
                wanted="a mapping of check name: {run: [ARGV, ...], timeout: DURATION}", most=CHECKS_MAX)


def _matcher(patterns) -> pathspec.PathSpec:
    try:
        return pathspec.PathSpec.from_lines("gitignore", patterns)
    except ValueError as e:
        raise ValueError(f"{e}; write patterns as in .gitignore") from None


def _patterns(default: tuple):
    return setting(default, Lines(), check=_matcher)

BLOCK_LABEL = "agentcom:blocked"   # the second, louder label the gatekeeper puts on a blocked PR


@dataclass(frozen=True)
class Protected:
    """Paths a pull request may not touch without a human, by category (the rule id is
    `protected.CATEGORY`). A rename counts for its old and its new name."""

    ci: tuple = _patterns((".github/workflows/", ".github/actions/", ".gitlab-ci.yml", ".gitlab/",
                    ".circleci/", ".travis.yml", "Jenkinsfile", "azure-pipelines.yml", ".buildkite/",
                    ".ci/", ".pre-commit-config.yaml"))
    infrastructure: tuple = _patterns(("*.tf", "*.tfvars", "terraform/", "infra/", "infrastructure/",
                                "deploy/", "k8s/", "helm/", "ansible/", "Dockerfile", "*.dockerfile",
                                "docker-compose*.yml", "docker-compose*.yaml", "Makefile"))
    dependencies: tuple = _patterns(("requirements*.txt", "requirements/", "constraints*.txt", "pyproject.toml",
                              "setup.py", "setup.cfg", "Pipfile", "Pipfile.lock", "poetry.lock", "uv.lock",
                              "package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock",
                              "pnpm-lock.yaml", ".npmrc", "go.mod", "go.sum", "Cargo.toml", "Cargo.lock",
                              "Gemfile", "Gemfile.lock", "*.gemspec", "pom.xml", "build.gradle",
                              "build.gradle.kts", "gradle.lockfile", "composer.json", "composer.lock"))
    secrets: tuple = _patterns(("auth/", "authentication/", "secrets/", "*secret*", "*credential*", ".env",
                         ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*", "id_ed25519*",
                         ".netrc", ".pypirc"))
    gatekeeper: tuple = _patterns(("/gatekeeper.yaml", "CODEOWNERS", ".gitattributes"))
    extra: tuple = _patterns(())  # the operator's own list


@dataclass(frozen=True)
class Limits:
    """Size limits per pull request, scaled by the agent's trust level."""

    files: int = setting(20, Whole(100000))
    lines_added: int = setting(400, Whole(10**7))
    lines_deleted: int = setting(200, Whole(10**7))
    deletion_share: float = setting(0.5, Number(1))      # deleted / (added + deleted) lines, above which ...
    deletion_share_from: int = setting(40, Whole(10**7))  # ... counts once this many lines change


@dataclass(frozen=True)
class Scan:
    allow_binary: bool = setting(False, Flag())        # a file without a text diff escalates unless true
    require_scope: bool = setting(False, Flag())       # a task without `scope` escalates when true
    tests: tuple = _patterns(("tests/", "test/", "__tests__/", "spec/", "test_*.py", "*_test.py", "conftest.py",
                       "*_test.go", "*.test.js", "*.test.ts", "*.test.jsx", "*.test.tsx", "*.spec.js",
                       "*.spec.ts", "*_spec.rb"))
    quality_settings: tuple = _patterns((".coveragerc", "setup.cfg", "tox.ini", "pytest.ini", "pyproject.toml",
                                  ".flake8", "ruff.toml", ".ruff.toml", ".pylintrc", "mypy.ini",
                                  ".eslintrc*", "eslint.config.*", "jest.config.*", "vitest.config.*",
                                  ".golangci.yml", ".golangci.yaml", "codecov.yml", ".codecov.yml",
                                  "clippy.toml", ".rubocop.yml"))


@dataclass(frozen=True)
class Level:
    size_scale: float = setting(1.0, Number(100))          # multiplies every size limit
    may_merge: bool = setting(True, Flag())             # false: every pull request escalates


DEFAULT_LEVELS = {"trusted": Level(1.0, True), "probation": Level(0.5, True), "untrusted": Level(0.25, False)}


@dataclass(frozen=True)
class Trust:
    default: str = setting("probation", _LEVEL)  # for an agent not listed
    agents: dict = setting({}, Table(Text("an agent name", _NAME), _LEVEL))  # agent name: level
    logins: dict = setting({}, _LOGINS)                # forge login: the agent using it, or "*" (shared)
    levels: dict = setting(DEFAULT_LEVELS, Sections(Level, names=TRUST_LEVELS))


@dataclass(frozen=True)
class Merge:
    """How pull requests to one repo are merged; `repos:` overrides these per repo."""

    auto_merge: bool = setting(False, Flag())           # off: every verdict is advice to a human
    method: str = setting("squash", Choice(MERGE_METHODS))
    required_checks: tuple = setting((), Lines())       # empty: never green, so never merged
    check_sources: dict = setting({}, _SOURCES)    # check name: the only login / app slug believed for it
    check_timeout: int = setting(1800, Duration())      # a required check silent this long after a push
    mergeable_timeout: int = setting(300, Duration())   # GitHub still computing mergeability this long
    reviewers: tuple = setting((), _NAMES)             # GitHub logins asked to review an escalation
    team_reviewers: tuple = setting((), _NAMES)        # team slugs, likewise
    escalation_label: str = setting("agentcom:needs-human", Text("one line of 1 to 50 characters", most=50))
    delete_branches: bool = setting(True, Flag())       # a merged agent PR's branch is deleted (a closed one's kept)
    rework_max: int = setting(3, Whole(100))            # sends back to the agent before a human is asked
    rework_timeout: int = setting(7200, Duration())     # a PR sent back and not done again this long: a human
    checks: dict = setting({}, _CHECKS)                 # check name: a Check the hub runs (local forge only)


@dataclass(frozen=True)
class Weights:
    """Risk points per finding. The score ranks escalations for a human; the gates decide."""

    secret: int = setting(100, Whole(1000))
    protected: int = setting(50, Whole(1000))
    tests: int = setting(40, Whole(1000))
    dependency: int = setting(30, Whole(1000))
    binary: int = setting(30, Whole(1000))
    unsure: int = setting(30, Whole(1000))
    trust: int = setting(30, Whole(1000))
    scope: int = setting(20, Whole(1000))
    size: int = setting(20, Whole(1000))
    task: int = setting(20, Whole(1000))
    checks: int = setting(10, Whole(1000))


@dataclass(frozen=True)
class Rules:
    protected: Protected = Protected()
    limits: Limits = Limits()
    scan: Scan = Scan()
    trust: Trust = Trust()
    merge: Merge = Merge()
    repos: dict = setting({}, Sections(Merge, key=_REPO, fold=repo_key, like="merge",
                                       twice="names of repos ignore case, a trailing / and .git"))
    # OWNER/NAME or a target's path or URL, as repo_key folds it: the merge section, overridden
    weights: Weights = Weights()

    def for_repo(self, repo: str) -> Merge:
        """The merge settings for OWNER/NAME (GitHub's names ignore case, so these do too)."""
        return self.repos.get(repo_key(repo), self.merge)

    def naming(self, name: str, *aliases: str) -> Rules:
        """These rules with the `repos:` entry keyed by one of a target's `aliases` (its path or
        URL, as given and as resolved) filed under its OWNER/NAME `name` too, so `for_repo(name)`
        finds it; an entry keyed by the name itself wins."""
        if repo_key(name) in self.repos:
            return self
        found = next((self.repos[k] for k in map(repo_key, aliases) if k in self.repos), None)
        return self if found is None else replace(self, repos={**self.repos, repo_key(name): found})

    def unmatched(self, *names: str) -> list[str]:
        """The `repos:` keys that name none of `names` (a target's OWNER/NAME, path or URL)."""
        keys = {repo_key(n) for n in names}
        return [k for k in self.repos if k not in keys]

    def agent_logins(self) -> frozenset[str]:
        """The forge logins agents use (lower case): what they report about a check never counts."""
        return frozenset(self.trust.logins)

    def trust_of(self, agent: str | None) -> tuple[str, Level]:
        name = self.trust.agents.get(agent or "", self.trust.default)
        return name, self.trust.levels[name]


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
    notify = doc.pop("notify", None)
    if notify not in (None, {}, {"command": []}):  # the empty form older templates wrote is harmless
        first = next(iter(notify), "") if isinstance(notify, dict) else ""
        raise ConfigError(where, f"notify.{first}".rstrip("."), ("a webhook address is often a secret; "
                          if first == "webhook" else "a command here would run on the hub's machine; ") + NOTIFY_HINT)
    rules = read(Rules, doc, where)
    for label, merge in [("merge", rules.merge)] + [(f"repos.{r}", m) for r, m in rules.repos.items()]:
        _squash_only(where, label, merge)
    return with_own_checks(rules, where)


def with_own_checks(rules: Rules, where: str = RULES_FILE) -> Rules:
    """Each merge section's `checks` made required, with the hub's own status the only one believed
    for them: so a configured check is enough for auto-merge, and nobody else can turn it green."""
    def own(label: str, merge: Merge) -> Merge:
        for name, check in merge.checks.items():
            if merge.check_sources.get(name, HUB_SOURCE) != HUB_SOURCE:
                raise ConfigError(where, f"{label}.check_sources.{name}", "the hub runs this check itself "
                                  f"(checks.{name}), so only its own status counts; remove this entry")
            if check.timeout >= merge.check_timeout:
                raise ConfigError(where, f"{label}.checks.{name}.timeout", f"{check.timeout}s is not shorter than "
                                  f"check_timeout ({merge.check_timeout}s), after which a PR whose check has not "
                                  "passed escalates; shorten it, or raise check_timeout")
        return replace(merge, required_checks=tuple(dict.fromkeys(merge.required_checks + tuple(merge.checks))),
                       check_sources={**merge.check_sources, **dict.fromkeys(merge.checks, HUB_SOURCE)})

    return replace(rules, merge=own("merge", rules.merge),
                   repos={key: own(f"repos.{key}", m) for key, m in rules.repos.items()})


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


def compile_patterns(patterns, where: str = "patterns", label: str = "patterns") -> pathspec.PathSpec:
    """.gitignore-style patterns → a matcher; a pattern git would not read is a ConfigError."""
    try:
        return _matcher(patterns)
    except ValueError as e:
        raise ConfigError(where, label, str(e)) from None

