"""The GitHub forge's own safeguards, against real HTTP servers on 127.0.0.1: where its token may
go, and how many pages it will follow."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coordinator.forge.base import ForgeError
from coordinator.forge.github import GitHubForge


@contextmanager
def serving(answer):
    """An HTTP server on 127.0.0.1 whose every GET is answered by answer(handler); yields its
    root URL and the requests it saw as (path, Authorization header)."""
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            answer(self)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _send(handler, status: int, body: bytes = b"{}", **headers):
    handler.send_response(status)
    for name, value in {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def test_the_token_never_follows_a_redirect_to_another_host(tmp_path):
    with serving(lambda h: _send(h, 200, b'{"number": 1}')) as (elsewhere, stolen):
        with serving(lambda h: _send(h, 307, Location=f"{elsewhere}/collect")) as (api, seen):
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
            _send(handler, 301, Location="/repositories/42/pulls/1")
        else:
            _send(handler, 200, pull)
    with serving(answer) as (api, seen):
        assert GitHubForge("acme/web", "ghp_secret", api).get_pr(1).head == "agent/ada/T-1"
    assert seen == [("/repos/acme/web/pulls/1", "Bearer ghp_secret"), ("/repositories/42/pulls/1", "Bearer ghp_secret")]


def test_listing_files_stops_at_an_empty_page_and_after_a_bounded_number_of_pages(tmp_path):
    def endless(handler):  # a page of nothing that always names a next one
        _send(handler, 200, b"[]", Link=f'<{api}/repos/acme/web/pulls/1/files?page=2>; rel="next"')
    with serving(endless) as (api, seen):
        assert GitHubForge("acme/web", "ghp_secret", api).pr_files(1) == []
    assert len(seen) == 1

    def one_file_each(handler):  # full pages, forever
        _send(handler, 200, b'[{"filename": "a.txt"}]',
              Link=f'<{api}/repos/acme/web/pulls/1/files?page=2>; rel="next"')
    with serving(one_file_each) as (api, seen):
        assert len(GitHubForge("acme/web", "ghp_secret", api).pr_files(1)) == 31
    assert len(seen) == 31
