"""The status page's escalations, in a real headless Chromium against a real hub process:
decisions recorded through the API appear with their link and reasons, and text from a pull
request stays text (no markup, no script link)."""
from __future__ import annotations

import os

import pytest

from tests.support.browser import chromium, missing
from tests.support.decisions import decision as shaped

pytestmark = pytest.mark.slow


def decision(pull: int, url: str, title: str, action: str = "escalate") -> dict:
    return shaped(pull, action, url=url, title=title, task="T-1", head="agent/ada/T-1-ci", why="Escalated")


def test_escalations_are_listed_with_a_safe_link_and_their_reasons(hub):
    why = missing()
    if why:
        pytest.fail(why) if os.environ.get("CI") else pytest.skip(why)
    assert hub.request("POST", "/api/reviews", decision(1, "https://github.com/acme/web/pull/1", "Touch CI"))[0] == 201
    assert hub.request("POST", "/api/reviews", decision(2, "javascript:alert(1)", "<img src=x onerror=alert(1)>",
                                                        "block"))[0] == 201
    stages = {s["stage"]: s["count"] for s in hub.request("GET", "/api/state")[1]["pipeline"]}
    assert stages["merged"] == 0
    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: errors.append("dialog: " + d.message))
        page.set_default_timeout(15000)
        page.goto(hub.url + "/")
        rows = page.locator("#escalations tr[data-pull]")
        rows.first.wait_for()
        assert rows.count() == 2
        first = page.locator("#escalations tr[data-pull='1']")
        assert first.get_by_role("link", name="acme/web#1").get_attribute("href") == "https://github.com/acme/web/pull/1"
        assert "touches a protected path (ci)" in first.inner_text() and "ignored" not in first.inner_text()
        second = page.locator("#escalations tr[data-pull='2']")
        assert second.get_by_role("link", name="acme/web#2").count() == 0   # javascript: never becomes a link
        assert "<img src=x onerror=alert(1)>" in second.inner_text() and second.locator("img").count() == 0
        assert "block" in second.inner_text()
        context.close()
    assert errors == []
