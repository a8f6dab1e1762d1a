"""The diff scan's parts: GitHub patches, secret formats, manifests, and malformed input."""
from __future__ import annotations

import pytest

from coordinator.gatekeeper import diffscan, manifests, patch, secretscan
from coordinator.gatekeeper.rules import Rules
from tests.support.pulls import changed, hunk

SECRETS = {
    "an AWS access key id": "aws_access_key_id = AKIAIOSFODNN7EXAMPLQ",
    "an AWS secret access key": 'AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
    "a GitHub token": "GH=ghp_" + "Ab3dEf6hIj" * 3 + "Kl9nOp",
    "a GitHub fine-grained token": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "a private key block": "-----BEGIN OPENSSH PRIVATE KEY-----",
    "a Slack token": "slack: xoxb-123456789012-abcdefABCDEF",
    "a Slack webhook address": "url = 'https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX'",
    "a Stripe live key": "stripe.api_key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'",
    "a high-entropy value assigned to a secret-like name": 'db_password: "q8#Lz!v2R@x9Wm4$Tp7K"',
}
HARMLESS = (
    "password = os.environ['DB_PASSWORD']",
    "token = request.headers.get('Authorization')",
    'api_key: "<your key here>"',
    "secret_name = 'payments-service-credentials'",
    "PASSWORD_MIN_LENGTH = 12",
    "def check_token(token: str) -> bool:",
    "sha = '3f9c2b1e00000000000000000000000000000000'",
)


@pytest.mark.parametrize("label", sorted(SECRETS))
def test_each_secret_format_is_found_and_named(label):
    assert secretscan.find(SECRETS[label]) == label


@pytest.mark.parametrize("line", HARMLESS)
def test_ordinary_code_about_secrets_is_not_a_secret(line):
    assert secretscan.find(line) is None


def test_patch_lines_carry_their_numbers_in_the_new_and_old_file():
    text = "@@ -3,4 +3,5 @@ class A:\n a\n-b\n+B\n+C\n c\n\\ No newline at end of file\n@@ -20 +21 @@\n-x\n+y"
    parsed = patch.parse(text)
    assert [(line.number, line.text) for line in parsed.added] == [(4, "B"), (5, "C"), (21, "y")]
    assert [(line.number, line.text) for line in parsed.removed] == [(4, "b"), (20, "x")]
    assert parsed.problem is None


def test_a_patch_that_is_not_hunks_is_a_problem_not_a_pass():
    assert patch.parse("diff --git a/x b/x\n+secret").problem == "text before the first hunk"
    assert patch.parse("@@ broken @@\n+x").problem == "a hunk header could not be read"


def test_manifest_lines_name_their_dependency_and_other_lines_none():
    assert manifests.names("requirements-dev.txt", "Flask_Login[extra]>=0.6  # why") == "flask-login"
    assert manifests.names("requirements.txt", "-r base.txt") is None
    assert manifests.names("requirements.txt", "-e git+https://example.com/x.git#egg=x").startswith("git+")
    assert manifests.names("web/package.json", '    "test": "jest --coverage",') is None
    assert manifests.names("web/package.json", '    "@scope/pkg": "~2.0.0"') == "@scope/pkg"
    assert manifests.names("Cargo.toml", 'version = "0.2.0"') is None
    assert manifests.names("src/app.py", "import requests") is None


def test_malformed_items_and_a_non_list_are_unsure_never_a_crash():
    items = [None, {"filename": "a", "status": "exploded", "additions": 1, "deletions": 0, "changes": 1},
             {"filename": "b", "status": "added", "additions": True, "deletions": 0, "changes": 1},
             {"filename": "", "status": "added", "additions": 0, "deletions": 0, "changes": 0},
             {"filename": "c", "status": "added", "additions": 0, "deletions": 0, "changes": 0, "patch": 7}]
    found = diffscan.scan(items, False, Rules(), None).findings
    assert [f.rule for f in found] == ["unsure.shape"] * 5
    assert [f.rule for f in diffscan.scan("files", False, Rules(), None).findings] == ["unsure.shape", "unsure.empty"]


def test_more_files_than_github_lists_is_unsure_and_only_the_first_3000_are_read():
    files = [changed(f"src/m{i}.py", hunk(["a"], ["b"])) for i in range(3001)]
    scan = diffscan.scan(files, False, Rules(), None)
    assert [f.rule for f in scan.findings] == ["unsure.truncated"] and scan.figures.files == 3000


def test_an_unreadable_scope_is_unsure():
    scan = diffscan.scan([changed("src/a.py", hunk(["a"], ["b"]))], False, Rules(), ["\\"])
    assert [f.rule for f in scan.findings] == ["unsure.scope"]


def test_a_required_scope_that_is_missing_escalates():
    from coordinator.gatekeeper.rules import parse
    scan = diffscan.scan([changed("src/a.py", hunk(["a"], ["b"]))], False, parse(b"scan: {require_scope: true}"), None)
    assert [f.rule for f in scan.findings] == ["scope.missing"]


def test_operator_patterns_protect_and_re_include_like_gitignore():
    from coordinator.gatekeeper.rules import parse
    rules = parse(b"protected:\n  extra: [billing/, '!billing/README.md', /VERSION]\n")
    def rules_of(name):
        return [f.rule for f in diffscan.scan([changed(name, hunk(["a"], ["b"]))], False, rules, None).findings]
    assert rules_of("billing/charge.py") == ["protected.extra"]
    assert rules_of("billing/README.md") == []
    assert rules_of("VERSION") == ["protected.extra"] and rules_of("lib/VERSION") == []
    assert rules_of("gatekeeper.yaml") == ["protected.gatekeeper"]
    assert rules_of("a/CODEOWNERS") == ["protected.gatekeeper"]


def test_a_secret_at_the_end_of_a_very_long_line_is_still_found():
    assert secretscan.find("x" * 200000 + " AKIAIOSFODNN7EXAMPLQ") == "an AWS access key id"
