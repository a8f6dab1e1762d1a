"""The status page in a real headless Chromium against a real hub process: it fills itself from
/api/state and follows the hub live; retry, submit and re-prioritise by click; changes without
the operator token, or from another site, are refused and change nothing."""
from __future__ import annotations

import os

import pytest

from tests.support.browser import chromium, missing
from tests.support.decisions import decision, record
from tests.support.fleet_api import beat, register, report, submit, take
from tests.support.processes import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def page(hub):
    why = missing()
    if why:
        pytest.fail(why) if os.environ.get("CI") else pytest.skip(why)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        errors = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.set_default_timeout(15000)
        yield tab
        context.close()
        assert not [e for e in errors if "Failed to load resource" not in e], errors


def sign_in(page, token):
    page.get_by_label("Operator token").fill(token)
    page.get_by_role("button", name="Use for this tab").click()
    page.get_by_text("Operator token set for this tab.").wait_for()


def dead_task(hub, task_id="broken") -> str:
    token = register(hub, "ada", capabilities=["python"])
    beat(hub, "ada", token)
    submit(hub, id=task_id, title="A task that cannot work", needs=["python"])
    attempt = take(hub, "ada", token, task_id)
    report(hub, task_id, token, kind="failed", attempt=attempt, permanent=True, reason="the repo is archived")
    return task_id


def test_an_agent_and_a_task_appear_live_while_the_hub_works(hub, page):
    page.goto(hub.url + "/")
    page.get_by_text("No agents registered.").wait_for()
    page.get_by_text("Nothing needs a human.").wait_for()
    token = register(hub, "ada", capabilities=["python"], description="Claude Code on build1")
    beat(hub, "ada", token)
    card = page.get_by_role("article", name="Agent ada")
    card.get_by_text("idle").wait_for()
    submit(hub, id="live-1", title="Appears without a reload", needs=["python"])
    card.get_by_role("link", name="live-1").wait_for()   # assigned to ada, shown on its card
    page.locator("#running").get_by_role("link", name="Appears without a reload").wait_for()
    assert page.locator("#pipeline [data-stage=assigned] .stage-count").inner_text() == "1"


def test_a_dead_task_is_retried_with_a_click(hub, page):
    task_id = dead_task(hub)
    page.goto(hub.url + "/")
    page.locator("#health").get_by_text("the repo is archived").wait_for()
    sign_in(page, hub.token)
    page.get_by_role("button", name=f"Retry task {task_id}").click()
    page.get_by_text(f"Retry: task {task_id} done.").wait_for()
    wait_for(lambda: hub.request("GET", f"/api/tasks/{task_id}")[1]["state"] in ("queued", "assigned"))
    page.get_by_text("The dead letter is empty.").wait_for()


def test_a_task_submitted_from_the_form_is_queued_in_its_lane(hub, page):
    page.goto(hub.url + "/")
    sign_in(page, hub.token)
    page.get_by_label("Prompt").fill("Write the release notes\nfor version 2")
    page.get_by_label("Lane", exact=True).select_option("high")
    page.get_by_role("textbox", name="Needs").fill("docs, git")
    page.get_by_label("Task id").fill("notes-2")
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Submitted task notes-2.").wait_for()
    shown = hub.request("GET", "/api/tasks/notes-2")[1]
    assert (shown["state"], shown["task"]["priority"], shown["task"]["needs"]) == ("queued", "high", ["docs", "git"])
    assert shown["task"]["title"] == "Write the release notes"
    page.locator(".lane-high").get_by_role("link", name="Write the release notes").wait_for()


def test_an_action_without_the_operator_token_is_refused_and_changes_nothing(hub, page):
    task_id = dead_task(hub)
    agent_token = register(hub, "bob")
    page.goto(hub.url + "/")
    page.get_by_role("button", name=f"Retry task {task_id}").click()
    page.get_by_text("this needs an operator token").wait_for()
    sign_in(page, agent_token)
    page.get_by_role("button", name=f"Cancel task {task_id}").click()
    page.get_by_text("an agent token cannot do this").wait_for()
    assert hub.request("GET", f"/api/tasks/{task_id}")[1]["state"] == "dead"


def test_a_cross_site_form_post_is_refused_and_changes_nothing(hub, page):
    task_id = dead_task(hub)
    evil = "http://evil.example/"
    page.route(evil, lambda route: route.fulfill(content_type="text/html", body=(
        f'<form method="post" action="{hub.url}/api/tasks/{task_id}/cancel">'
        '<input name="x" value="1"><button>win a prize</button></form>')))
    page.goto(evil)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="win a prize").click()
    answer = navigation.value
    assert answer.status == 403 and "CrossSiteRequest" in answer.text()
    assert hub.request("GET", f"/api/tasks/{task_id}")[1]["state"] == "dead"


def test_the_task_page_shows_its_git_timeline_moves_it_between_lanes_and_follows_changes(hub, page):
    submit(hub, id="lane-job", title="Waits for a Rust agent", needs=["rust"])
    page.goto(hub.url + "/tasks/lane-job")
    timeline = page.locator("#timeline")
    timeline.get_by_text("new → queued").wait_for()
    assert page.get_by_role("button", name="Retry").is_disabled()
    sign_in(page, hub.token)
    page.get_by_label("Lane", exact=True).select_option("urgent")
    page.get_by_role("button", name="Move to lane").click()
    timeline.get_by_text("re-prioritised by local operator: normal → urgent").wait_for()
    assert hub.request("GET", "/api/tasks/lane-job")[1]["path"] == "queue/urgent/lane-job.yaml"
    hub.request("POST", "/api/tasks/lane-job/cancel")  # by someone else: the open page follows
    timeline.get_by_text("queued → cancelled").wait_for()
    page.locator("#detail").get_by_text("cancelled", exact=True).wait_for()
    assert page.get_by_role("button", name="Retry").is_enabled()


def test_a_held_pull_request_is_listed_with_its_link_and_merge_close_release_send_the_operator_s_request(
        hub, page):
    record(hub, decision(3, "escalate", title="Touch CI"))
    record(hub, decision(7, "advise-merge", rules=["pr.held"], title="Safe now", task="T-7", agent="bob"))
    sent = []

    def answer(route):
        sent.append(route.request)
        route.fulfill(status=200, content_type="application/json", body='{"ok": true}')

    # the endpoints are not the page's to define: the browser's request is what is checked here
    page.route("**/api/pulls/**", answer)
    page.goto(hub.url + "/")
    held = page.locator("#health li[data-pull='7']")
    held.wait_for()
    assert page.locator("#health li[data-pull]").evaluate_all("rows => rows.map(r => r.dataset.pull)") == ["7", "3"]
    assert held.get_by_role("link", name="acme/web#7").get_attribute("href") == "https://github.com/acme/web/pull/7"
    assert held.get_by_role("link", name="T-7").get_attribute("href") == "/tasks/T-7"
    assert "pr held" in held.inner_text() and "bob" in held.inner_text() and "escalation label" in held.inner_text()
    buttons = [held.get_by_role("button", name=f"{verb} pull request acme/web#7")
               for verb in ("Merge", "Close", "Release")]
    assert all(b.count() == 1 for b in buttons)

    sign_in(page, hub.token)
    page.once("dialog", lambda d: d.dismiss())
    buttons[1].click()   # Close asks first; a human who says no sends nothing
    buttons[2].click()
    page.get_by_text("Release: pull request acme/web#7 done.").wait_for()
    page.once("dialog", lambda d: d.accept())
    buttons[0].click()
    page.get_by_text("Merge: pull request acme/web#7 done.").wait_for()
    assert [(r.method, r.url.removeprefix(hub.url)) for r in sent] == [
        ("POST", "/api/pulls/7/release"), ("POST", "/api/pulls/7/merge")]
    for r in sent:
        assert r.headers["authorization"] == f"Bearer {hub.token}" and r.headers["content-type"] == "application/json"
    # a merge names the head the gatekeeper decided on, so a head pushed since is refused
    head = "3f9c2b1e" + "0" * 32
    assert [r.post_data_json for r in sent] == [{"repo": "acme/web"}, {"repo": "acme/web", "sha": head}]
