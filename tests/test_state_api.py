"""GET /api/state, re-prioritising, the cross-site defence and /metrics, through a real hub
process on 127.0.0.1; every state answer is checked against docs/openapi.yaml."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.decisions import decision, record
from tests.support.fleet_api import beat, populate, push_without_hook, register, report, submit, take
from tests.support.gitenv import git
from tests.support.held import agent_holding_a_task
from tests.support.openapi import STATE
from tests.support.processes import HubProcess, agentcom, wait_for
from tests.support.targets import make_remote, push_branch


def get(hub, path, headers=None):
    req = urllib.request.Request(hub.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def state(hub) -> dict:
    status, _, body = get(hub, "/api/state")
    assert status == 200
    doc = json.loads(body)
    STATE.validate(doc)
    return doc


def test_state_shows_agents_lanes_running_work_completions_dead_letter_and_tokens(hub, repo, clone):
    push_without_hook(repo, clone, {"inbox/typo.yaml": b"promt: misspelt\n"})
    made = populate(hub)
    s = wait_for(lambda: (lambda d: d if d["rejected"]["total"] else None)(state(hub)))
    agents = {a["name"]: a for a in s["agents"]}
    assert {n: a["state"] for n, a in agents.items()} == {"ada": "working", "bob": "idle", "cyd": "blocked",
                                                          "hal": "offline"}
    assert agents["ada"]["tasks"] == ["refactor-auth"] and agents["ada"]["last_heartbeat"]
    assert agents["ada"]["tokens_used"] == 48210 + 61200 and agents["bob"]["tokens_used"] == 30550 + 9120 + 7300
    assert s["lanes"] == {"urgent": 1, "high": 2, "normal": 2, "low": 1}
    assert [t["title"] for t in s["next"]["high"]] == ["Port the CLI to Rust", "Add a Rust linter"]
    running = {t["id"]: t for t in s["running"]}
    assert running["refactor-auth"]["note"] == "tests pass; writing the PR text"
    assert running["refactor-auth"]["state"] == "working" and running["refactor-auth"]["elapsed_s"] >= 0
    assert [c["id"] for c in s["completions"]] == ["done-4", "done-3", "done-2", "done-1"]
    assert s["completions"][-1]["pr_url"] == "https://github.com/acme/web/pull/12"
    assert s["completions"][0]["pr_url"] is None and s["completions"][0]["tokens_used"] == 9120
    assert [d["id"] for d in s["dead"]["items"]] == ["migrate-db"]
    assert "production credential" in s["dead"]["items"][0]["last_error"]
    assert s["rejected"]["items"][0]["file"] == "inbox/typo.yaml"
    assert "did you mean 'prompt'" in " ".join(s["rejected"]["items"][0]["problems"])
    assert s["tokens"]["total"] == 48210 + 61200 + 30550 + 9120 + 7300
    assert s["tokens"]["hourly"][-1]["total"] == s["tokens"]["total"]
    assert [(p["stage"], p["count"]) for p in s["pipeline"]] == [
        ("queued", 6), ("assigned", 0), ("working", 2), ("review", 0), ("merged", None), ("done", 4)]
    kinds = {(c["kind"], c["subject"]) for c in s["health"]["items"]}
    assert kinds == {("agent_blocked", "cyd"), ("dead_task", "migrate-db"), ("pinned_to_unknown_agent", "ghost-work")}
    assert all(c["reason"] for c in s["health"]["items"])
    assert made["ids"]["dead"] == "migrate-db"


def test_an_idle_poll_is_a_304_and_any_change_gives_a_new_version(hub):
    token = register(hub, "ada")
    status, headers, _ = get(hub, "/api/state")
    etag = headers["ETag"]
    assert status == 200 and etag.startswith('W/"')
    assert get(hub, "/api/state", {"If-None-Match": etag})[:1] == (304,)
    beat(hub, "ada", token)  # a heartbeat makes no commit but changes what the page shows
    status, headers, _ = get(hub, "/api/state", {"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag
    etag = headers["ETag"]
    submit(hub, id="one", needs=["rust"])
    status, headers, body = get(hub, "/api/state", {"If-None-Match": etag})
    assert status == 200 and json.loads(body)["lanes"]["normal"] == 1


def test_depending_on_a_cancelled_task_is_a_condition_with_its_reason(hub):
    submit(hub, id="first", needs=["rust"])
    submit(hub, id="second", depends_on=["first"])
    assert hub.request("POST", "/api/tasks/first/cancel")[0] == 200
    conditions = state(hub)["health"]["items"]
    assert conditions == [{"kind": "depends_on_unfinishable", "subject": "second",
                           "reason": "task second waits on task first, which is cancelled; "
                                     "retry first or cancel second"}]


def test_reprioritise_moves_a_queued_task_in_one_commit_and_only_the_operator_may(hub, repo):
    ada = register(hub, "ada")
    submit(hub, id="job", needs=["rust"])
    assert hub.request("POST", "/api/tasks/job/priority", {"lane": "urgent"}, token=ada)[0] == 403
    assert hub.request("POST", "/api/tasks/job/priority", {"lane": "urgent"}, token=None)[0] == 401
    status, body = hub.request("POST", "/api/tasks/job/priority", {"lane": "soon"})
    assert status == 400 and "lane must be one of urgent, high, normal, low" in body["message"]
    status, body = hub.request("POST", "/api/tasks/job/priority", {"lane": "urgent"})
    assert status == 200 and body["task"]["priority"] == "urgent"
    assert "queue/urgent/job.yaml" in git(repo, "ls-tree", "-r", "--name-only", "main", "queue").stdout.split()
    assert "queue/normal/job.yaml" not in git(repo, "ls-tree", "-r", "--name-only", "main", "queue").stdout.split()
    status, body = hub.request("POST", "/api/tasks/job/priority", {"lane": "urgent"})
    assert status == 409 and "it is in urgent already" in body["message"]
    log = hub.request("GET", "/api/tasks/job/log")[1]["history"]
    assert [(h["from"], h["to"], h["reason"]) for h in log][-1] == (
        "queued", "queued", "re-prioritised by local operator: normal → urgent")
    assert state(hub)["lanes"]["urgent"] == 1
    hub.request("POST", "/api/tasks/job/cancel")
    status, body = hub.request("POST", "/api/tasks/job/priority", {"lane": "low"})
    assert status == 409 and "only queued tasks change lanes" in body["message"]


@pytest.mark.parametrize("headers, says", [
    ({"Origin": "http://evil.example"}, "requests from http://evil.example cannot change anything"),
    ({"Sec-Fetch-Site": "cross-site"}, "a cross-site request cannot change anything"),
    ({"Sec-Fetch-Site": "same-site", "X-Agentcom-Request": "page"}, "a same-site request cannot"),
    ({"Sec-Fetch-Site": "same-origin"}, "must carry the X-Agentcom-Request header"),
], ids=["other-origin", "cross-site", "same-site-other-port", "no-page-header"])
def test_a_cross_site_change_is_refused_even_with_the_operator_token_and_changes_nothing(hub, headers, says):
    submit(hub, id="keep", needs=["rust"])
    req = urllib.request.Request(hub.url + "/api/tasks/keep/cancel", data=b"{}", method="POST",
                                 headers={"Authorization": f"Bearer {hub.token}", **headers})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=30)
    body = json.loads(refused.value.read())
    assert refused.value.code == 403 and body["error"] == "CrossSiteRequest" and says in body["message"]
    assert hub.request("GET", "/api/tasks/keep")[1]["state"] == "queued"


def test_the_page_s_own_request_passes_the_cross_site_check(hub):
    submit(hub, id="go", needs=["rust"])
    req = urllib.request.Request(hub.url + "/api/tasks/go/cancel", data=b"{}", method="POST", headers={
        "Authorization": f"Bearer {hub.token}", "Origin": hub.url, "Sec-Fetch-Site": "same-origin",
        "X-Agentcom-Request": "page"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def test_metrics_report_depth_states_latency_failures_retries_and_tokens(hub):
    ada = register(hub, "ada", capabilities=["python"])
    beat(hub, "ada", ada)
    submit(hub, id="later", priority="high", needs=["rust"])
    task = submit(hub, id="work", needs=["python"])
    attempt = take(hub, "ada", ada, task)
    report(hub, task, ada, kind="failed", attempt=attempt, reason="flaky network", tokens={"total": 500})
    status, headers, body = get(hub, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body.decode()) for s in family.samples}
    assert samples[("agentcom_queue_depth", (("lane", "high"),))] == 1
    assert samples[("agentcom_queue_depth", (("lane", "normal"),))] == 1  # back in its lane after the failure
    assert samples[("agentcom_tasks", (("state", "queued"),))] == 2
    assert samples[("agentcom_agents", (("state", "idle"),))] == 1
    assert samples[("agentcom_assignment_latency_seconds_count", ())] == 1
    assert samples[("agentcom_assignment_latency_seconds_bucket", (("le", "+Inf"),))] == 1
    assert samples[("agentcom_failures_total", (("kind", "failed"),))] == 1
    assert samples[("agentcom_retries_total", (("how", "automatic"),))] == 1
    assert samples[("agentcom_tokens_total", (("agent", "ada"),))] == 500
    assert samples[("agentcom_config_valid", ())] == 1


def _samples(hub) -> dict:
    status, _, body = get(hub, "/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def test_metrics_count_gatekeeper_decisions_by_action_and_the_prs_waiting_for_a_human(hub):
    before = _samples(hub)
    assert before[("agentcom_gatekeeper_decisions_total", (("action", "merge"),))] == 0
    assert before[("agentcom_gatekeeper_queue", ())] == 0   # no gatekeeper runs in this hub
    record(hub, decision(1, "wait"))
    record(hub, decision(1, "escalate"))                        # the same head decided anew
    record(hub, decision(1, "escalate", acted_on="labelled"))   # what followed: no new decision
    record(hub, decision(2, "block"))
    record(hub, decision(3, "merge", merging=True))
    record(hub, decision(3, "merge", state="closed", merged_by="agentcom-gatekeeper"))  # the intent, then the merge
    record(hub, decision(4, "advise-merge"))
    m = _samples(hub)
    assert {a: m[("agentcom_gatekeeper_decisions_total", (("action", a),))]
            for a in ("merge", "escalate", "block", "advise-merge", "wait")} == \
        {"merge": 1, "escalate": 1, "block": 1, "advise-merge": 1, "wait": 1}
    assert {a: m[("agentcom_prs_awaiting_human", (("action", a),))] for a in ("escalate", "block", "advise-merge")} \
        == {"escalate": 1, "block": 1, "advise-merge": 1}
    record(hub, decision(4, "advise-merge", state="closed", closed_by="merged elsewhere", merged_by_login="grace"))
    assert _samples(hub)[("agentcom_prs_awaiting_human", (("action", "advise-merge"),))] == 0


def test_reprioritise_from_the_cli_through_a_hub_and_without_one(repo):
    from tests.support.processes import HubProcess, agentcom

    task_id = agentcom("submit", "waits for rust", "--needs", "rust", "--repo", str(repo), check=True).stdout.strip()
    assert agentcom("reprioritise", task_id, "high", "--repo", str(repo), check=True).stdout.strip() == \
        f"{task_id} queued in high"
    hub = HubProcess(repo)
    try:
        assert agentcom("reprioritise", task_id, "urgent", "--repo", str(repo), check=True).stdout.strip() == \
            f"{task_id} queued in urgent"
        again = agentcom("reprioritise", task_id, "urgent", "--repo", str(repo))
        assert again.returncode == 1 and "it is in urgent already" in again.stderr
        assert state(hub)["next"]["urgent"][0]["id"] == task_id
    finally:
        hub.stop()


def test_agentcom_health_lists_what_needs_a_human_and_exits_1_for_cron(repo):
    assert agentcom("health", "--repo", str(repo), check=True).stdout.strip() == "nothing needs a human"
    agentcom("submit", "for a missing agent", "--to", "ghost", "--id", "lost", "--repo", str(repo), check=True)
    hub = HubProcess(repo)
    try:
        done = agentcom("health", "--repo", str(repo))
        assert done.returncode == 1
        assert done.stdout.strip() == ("pinned_to_unknown_agent: task lost is pinned to agent ghost, which is "
                                       "not registered; register it or resubmit unpinned")
        as_json = json.loads(agentcom("health", "--json", "--repo", str(repo)).stdout)
        assert as_json["total"] == 1 and as_json["items"][0]["subject"] == "lost"
    finally:
        hub.stop()


def test_agentcom_health_exits_1_while_a_pull_request_waits_for_a_human_and_0_once_none_does(repo):
    hub = HubProcess(repo)
    try:
        waiting = [decision(1, "escalate"), decision(2, "block", head="agent/ada/T-2-keys"),
                   decision(3, "advise-merge", rules=["pr.held"]), decision(4, "advise-merge", rules=[])]
        settled = [decision(5, "escalate", state="closed", closed_by="closed without the gatekeeper"),
                   decision(6, "wait"), decision(7, "merge", state="closed", merged_by="agentcom-gatekeeper")]
        for doc in waiting + settled:
            record(hub, doc)
        s = state(hub)
        assert s["health"]["total"] == 4
        conditions = {c["subject"]: c for c in s["health"]["items"]}
        assert {k: c["kind"] for k, c in conditions.items()} == {
            "acme/web#4": "pr_needs_merge", "acme/web#3": "pr_held", "acme/web#2": "pr_blocked",
            "acme/web#1": "pr_escalated"}
        assert [c["subject"] for c in s["health"]["items"]] == ["acme/web#4", "acme/web#3", "acme/web#2", "acme/web#1"]
        held = conditions["acme/web#3"]
        assert (held["url"], held["repo"], held["pull"], held["task"], held["agent"]) == (
            "https://github.com/acme/web/pull/3", "acme/web", 3, "T-3", "ada")
        assert '"Change number 3" (task T-3)' in held["reason"] and "escalation label" in held["reason"]
        assert "auto-merge is off" in conditions["acme/web#4"]["reason"]
        assert "touches a protected path (ci)" in conditions["acme/web#1"]["reason"]

        done = agentcom("health", "--repo", str(repo))
        assert done.returncode == 1, done.stdout
        lines = done.stdout.strip().splitlines()
        assert [line.split(":")[0] for line in lines] == ["pr_needs_merge", "pr_held", "pr_blocked", "pr_escalated"]

        for doc in waiting[:2]:
            record(hub, {**doc, "state": "closed", "closed_by": "closed without the gatekeeper"})
        record(hub, {**waiting[2], "state": "closed", "closed_by": "merged elsewhere", "merged_by_login": "grace"})
        assert agentcom("health", "--repo", str(repo)).returncode == 1   # one still waits
        record(hub, {**waiting[3], "state": "closed", "closed_by": "merged elsewhere", "merged_by_login": "grace"})
        done = agentcom("health", "--repo", str(repo))
        assert (done.returncode, done.stdout.strip()) == (0, "nothing needs a human")
        assert state(hub)["health"]["total"] == 0
    finally:
        hub.stop()


def test_a_blocked_pull_request_names_the_branch_that_still_holds_the_secret_and_how_to_delete_it(hub):
    record(hub, decision(9, "block", head="agent/ada/T-9-deploy", title="Add the deploy script"))
    [blocked] = state(hub)["health"]["items"]
    assert (blocked["kind"], blocked["subject"]) == ("pr_blocked", "acme/web#9")
    reason = blocked["reason"]
    assert '"Add the deploy script" (task T-9)' in reason and "the diff holds a secret" in reason
    assert "still in the history of branch agent/ada/T-9-deploy in acme/web" in reason
    assert "git push origin --delete agent/ada/T-9-deploy" in reason and "rotate the secret" in reason


def test_the_pipeline_counts_the_tasks_in_each_state_and_the_prs_merged_by_anyone(hub, tmp_path):
    remote = make_remote(tmp_path / "remotes")
    ada, in_review = agent_holding_a_task(hub, "ada", repo=str(remote))
    attempt = take(hub, "ada", ada, in_review)
    push_branch(remote, tmp_path, "agent/ada/x", {"a.txt": "1\n"})
    sha = git(remote, "rev-parse", "refs/heads/agent/ada/x").stdout.strip()
    status, pr = hub.request("POST", "/api/prs", {"repo": str(remote), "head": "agent/ada/x", "base": "main",
                                                  "head_sha": sha, "title": "A change", "task": in_review}, token=ada)
    assert status == 201, pr
    report(hub, in_review, ada, kind="done", attempt=attempt, summary="done",
           pr_url=f"{hub.url}/api/prs/{pr['number']}")
    bob = register(hub, "bob", capabilities=["python"])
    beat(hub, "bob", bob)
    finished = submit(hub, id="no-pr", pin="bob")
    report(hub, finished, bob, kind="done", attempt=take(hub, "bob", bob, finished), summary="no PR needed")
    working = submit(hub, id="still-going", pin="bob")
    take(hub, "bob", bob, working)
    for i in range(3):
        submit(hub, id=f"later-{i}", needs=["rust"])
    # one merged by the gatekeeper, one by a human on the forge, one closed unmerged, one open
    record(hub, decision(1, "merge", state="closed", merged_by="agentcom-gatekeeper"))
    record(hub, decision(2, "escalate", state="closed", closed_by="merged elsewhere", merged_by_login="grace"))
    record(hub, decision(3, "escalate", state="closed", closed_by="closed without the gatekeeper"))
    record(hub, decision(4, "wait"))

    s = wait_for(lambda: (lambda d: d if (d["counts"]["review"], d["counts"]["working"]) == (1, 1) else None)(
        state(hub)))
    stages = {p["stage"]: p["count"] for p in s["pipeline"]}
    assert list(stages) == ["queued", "assigned", "working", "review", "merged", "done"]
    assert {k: stages[k] for k in ("queued", "assigned", "working", "review", "done")} == {
        "queued": 3, "assigned": 0, "working": 1, "review": 1, "done": 1}
    assert all(stages[k] == s["counts"][k] for k in ("queued", "assigned", "working", "review", "done"))
    assert stages["merged"] == 2
    assert hub.request("GET", f"/api/tasks/{in_review}")[1]["state"] == "review"


def test_a_version_seen_before_a_restart_is_not_answered_304_after_it(repo):
    first = HubProcess(repo)
    try:
        etag = get(first, "/api/state")[1]["ETag"]
        port = first.port
    finally:
        first.stop()
    again = HubProcess(repo, port=port)
    try:  # same head, no heartbeat yet: only the hub's own epoch tells the two states apart
        status, headers, _ = get(again, "/api/state", {"If-None-Match": etag})
        assert status == 200 and headers["ETag"] != etag
    finally:
        again.stop()


@pytest.mark.parametrize("host, allowed", [("evil.example", False), ("127.0.0.1.evil.example", False),
                                           ("localhost", True), ("127.0.0.1", True)])
def test_a_hub_on_loopback_answers_only_to_loopback_names(hub, host, allowed):
    """A page on another site whose name was rebound to 127.0.0.1 sends its own name as Host."""
    request = urllib.request.Request(hub.url + "/api/state", headers={"Host": f"{host}:{hub.port}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status = answer.status
    except urllib.error.HTTPError as e:
        status = e.code
        assert json.loads(e.read())["error"] == "SecurityError"
    assert status == (200 if allowed else 400)


def test_trusted_host_names_follow_the_listening_address_and_the_configured_names():
    from coordinator.web import trusted_hosts
    assert trusted_hosts("0.0.0.0") is None and trusted_hosts("192.168.1.5", "a.example") is None
    assert "localhost" in trusted_hosts("127.0.0.1") and "evil.example" not in trusted_hosts("127.0.0.1")
    assert {"a.example", "b.example"} <= set(trusted_hosts("127.0.0.1", " a.example, b.example ,"))
