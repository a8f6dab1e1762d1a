"""The GitHub forge's own safeguards, against real HTTP servers on 127.0.0.1: where its token may
go, and how many pages it will follow."""
from __future__ import annotations

import pytest

from coordinator.forge.base import ForgeError
from coordinator.forge.github import GitHubForge
from tests.support.http_stub import send, serving


def test_the_token_never_follows_a_redirect_to_another_host(tmp_path):
    with serving(lambda h: send(h, 200, b'{"number": 1}')) as (elsewhere, stolen):
        with serving(lambda h: send(h, 307, Location=f"{elsewhere}/collect")) as (api, seen):
            forge = GitHubForge("acme/web", "ghp_secret", api)
            with pytest.raises(ForgeError, match=r"redirected GET /repos/acme/web/pulls/1 to another host "
                                                 r"\(http://127\.0\.0\.1:\d+\); the token is not sent there"):
                forge.get_pr(1)
    assert seen == [("/repos/acme/web/pulls/1", "Bearer ghp_secret")]
    assert stolen == []  # the other host heard nothing, let alone the token


def test_a_redirect_within_the_api_host_is_followed_with_the_token(tmp_path):
    pull = (b'{"number": 1, "html_url": "https://github.com/acme/web/pull/1", "state": "open", "title": "t",'
            b' "head": {"ref": "agent/ada/T-1", "sha": "' + b"a" * 40 + b'"}, "base": {"ref": "main"}}')

    def answer(handler):  # a renamed repo: GitHub answers 301 with its new address
        if handler.path.startswith("/repos/acme/web/"):
            send(handler, 301, Location="/repositories/42/pulls/1")
        else:
            send(handler, 200, pull)
    with serving(answer) as (api, seen):
        assert GitHubForge("acme/web", "ghp_secret", api).get_pr(1).head == "agent/ada/T-1"
    assert seen == [("/repos/acme/web/pulls/1", "Bearer ghp_secret"), ("/repositories/42/pulls/1", "Bearer ghp_secret")]


def test_listing_files_stops_at_an_empty_page_and_after_a_bounded_number_of_pages(tmp_path):
    def endless(handler):  # a page of nothing that always names a next one
        send(handler, 200, b"[]", Link=f'<{api}/repos/acme/web/pulls/1/files?page=2>; rel="next"')
    with serving(endless) as (api, seen):
        assert GitHubForge("acme/web", "ghp_secret", api).pr_files(1) == []
    assert len(seen) == 1

    def one_file_each(handler):  # full pages, forever
        send(handler, 200, b'[{"filename": "a.txt"}]',
              Link=f'<{api}/repos/acme/web/pulls/1/files?page=2>; rel="next"')
    with serving(one_file_each) as (api, seen):
        assert len(GitHubForge("acme/web", "ghp_secret", api).pr_files(1)) == 31
    assert len(seen) == 31
