// The status page: polls /api/state with If-None-Match (an unchanged state is a 304 with no body),
// redraws what changed, and ticks the ages in between. Polling pauses while the tab is hidden.
"use strict";

(() => {
  const {el, flash, change, age, secondsSince, when, number, taskLink} = AC;
  const POLL_MS = 3000;
  const TASK_KINDS = new Set(["dead_task", "pinned_to_unknown_agent", "depends_on_unfinishable"]);
  const PR_KINDS = new Set(["pr_escalated", "pr_blocked", "pr_held", "pr_needs_merge"]);
  let etag = null, skew = 0, timer = null;

  function fill(id, nodes, empty) {
    const box = document.getElementById(id);
    const list = nodes.length ? nodes : (empty ? [empty] : []);
    box.replaceChildren(...list);
  }

  function since(iso, cls) {
    return el("span", {class: "since " + (cls || ""), "data-since": iso || ""}, age(secondsSince(iso, skew)));
  }

  function tick() {
    for (const node of document.querySelectorAll("[data-since]")) {
      const iso = node.getAttribute("data-since");
      node.textContent = iso ? age(secondsSince(iso, skew)) : "–";
    }
  }

  function emptyRow(cols, text) {
    return el("tr", {}, el("td", {colspan: cols, class: "muted"}, text));
  }

  function renderHealth(health) {
    const items = health.items.map((c) => PR_KINDS.has(c.kind) ? waitingPr(c) : el("li", {class: "cond cond-" + c.kind},
      el("span", {class: "badge"}, c.kind.replaceAll("_", " ")), " ",
      TASK_KINDS.has(c.kind) ? [taskLink(c.subject), ": "] : null,
      el("span", {}, c.reason)));
    if (health.total > health.items.length) items.push(el("li", {class: "muted"}, `and ${health.total - health.items.length} more`));
    fill("health", items, el("li", {class: "ok"}, "Nothing needs a human."));
    document.getElementById("health-section").classList.toggle("alert", health.total > 0);
  }

  // A pull request the gatekeeper left to a human: its link, task and agent, and what to do with it.
  function waitingPr(c) {
    const pr = {repo: c.subject.slice(0, c.subject.lastIndexOf("#")), pull: c.pull, url: c.url};
    const act = (verb, label, confirmText) => el("button", {type: "button", class: verb === "release" ? "" : "danger",
      "aria-label": `${label} pull request ${c.subject}`,
      onclick: async (ev) => {
        if (confirmText && !window.confirm(confirmText)) return;
        ev.target.disabled = true;
        try {
          // a merge names the head the human saw: if the agent pushed since, the hub refuses (409)
          const body = verb === "merge" && c.head_sha ? {repo: c.repo, sha: c.head_sha} : {repo: c.repo};
          await change("POST", `/api/pulls/${encodeURIComponent(c.pull)}/${verb}`, body);
          flash(`${label}: pull request ${c.subject} done.`, "ok");
          poll(true);
        } catch (e) { flash(`${label} ${c.subject} refused: ${e.message}`, "error"); ev.target.disabled = false; }
      }}, label);
    return el("li", {class: "cond cond-" + c.kind, "data-pull": String(c.pull), "data-repo": c.repo},
      el("span", {class: "badge"}, c.kind.replaceAll("_", " ")), " ", ...prLink(pr), " ",
      c.task ? ["task ", taskLink(c.task)] : "no task", c.agent ? el("span", {class: "hint"}, " by ", c.agent) : null, ": ",
      el("span", {}, c.reason), " ",
      el("span", {class: "actions"},
        act("merge", "Merge", `Merge pull request ${c.subject} now?`),
        act("close", "Close", `Close pull request ${c.subject} without merging?`),
        act("release", "Release", null)));
  }

  function renderPipeline(stages) {
    const names = {queued: "Queued", assigned: "Assigned", working: "Working", review: "In review",
                   merged: "PRs merged", done: "Done"};
    fill("pipeline", stages.map((s) => el("li", {class: "stage", "data-stage": s.stage},
      el("span", {class: "stage-name"}, names[s.stage] || s.stage),
      el("span", {class: "stage-count"}, s.count === null ? "–" : number(s.count)),
      s.count === null ? el("span", {class: "hint"}, "needs the gatekeeper") : null)));
  }

  function renderAgents(agents) {
    fill("agents", agents.map((a) => el("article", {class: "card state-" + a.state, "aria-label": "Agent " + a.name},
      el("h3", {}, a.name, " ", el("span", {class: "badge state"}, a.state)),
      a.description ? el("p", {class: "muted"}, a.description) : null,
      el("dl", {},
        el("dt", {}, "Task"), el("dd", {}, a.tasks.length ? a.tasks.map((t, i) => [i ? ", " : "", taskLink(t)]) : "none"),
        el("dt", {}, "In state for"), el("dd", {}, since(a.since)),
        el("dt", {}, "Heartbeat"), el("dd", {}, a.last_heartbeat ? [since(a.last_heartbeat), " ago"] : "none since the hub started"),
        el("dt", {}, "Can do"), el("dd", {}, a.capabilities.join(", ") || "anything unlabelled"),
        el("dt", {}, "Tokens"), el("dd", {}, number(a.tokens_used))),
      a.reason && a.state !== "idle" ? el("p", {class: "reason"}, a.reason) : null)),
      el("p", {class: "muted"}, "No agents registered. `agentcom agent register NAME` registers one."));
  }

  function renderLanes(depths, next) {
    fill("lanes", Object.keys(depths).map((lane) => el("div", {class: "lane lane-" + lane},
      el("h3", {}, lane, " ", el("span", {class: "depth", "aria-label": depths[lane] + " queued"}, number(depths[lane]))),
      el("ol", {}, (next[lane] || []).map((t) => el("li", {}, taskLink(t.id, t.title),
        t.pin ? el("span", {class: "hint"}, " → " + t.pin) : null,
        (t.waits_for || []).length ? el("span", {class: "hint"}, " waits for " + t.waits_for.join(", ")) : null))))));
  }

  function renderRunning(rows) {
    fill("running", rows.map((t) => el("tr", {},
      el("td", {}, taskLink(t.id, t.title)), el("td", {}, t.agent), el("td", {}, el("span", {class: "badge state-" + t.state}, t.state)),
      el("td", {class: "num"}, t.attempt), el("td", {}, since(t.since)),
      el("td", {}, t.note ? [t.note, " ", el("span", {class: "hint"}, "(", since(t.noted_at), " ago)")] : "–"),
      el("td", {class: "num"}, number(t.tokens_used)))), emptyRow(7, "Nothing running."));
  }

  function renderCompletions(rows) {
    fill("completions", rows.map((t) => el("tr", {},
      el("td", {}, taskLink(t.id, t.title)), el("td", {}, t.agent || "–"), el("td", {}, when(t.finished_at)),
      el("td", {}, t.pr_url && /^https?:\/\//.test(t.pr_url) ? el("a", {href: t.pr_url, rel: "noopener noreferrer"}, t.pr_url.replace(/^https?:\/\//, "")) : "no PR"),
      el("td", {class: "num"}, number(t.tokens_used)))), emptyRow(5, "Nothing finished since the hub started."));
  }

  function action(label, id, run, danger) {
    return el("button", {type: "button", class: danger ? "danger" : "", "aria-label": `${label} task ${id}`,
      onclick: async (ev) => {
        ev.target.disabled = true;
        try { await run(); flash(`${label}: task ${id} done.`, "ok"); poll(true); }
        catch (e) { flash(`${label} ${id} refused: ${e.message}`, "error"); ev.target.disabled = false; }
      }}, label);
  }

  function renderDead(dead) {
    const rows = dead.items.map((t) => el("tr", {"data-task": t.id},
      el("td", {}, taskLink(t.id, t.title)), el("td", {}, when(t.finished_at)), el("td", {class: "num"}, t.attempt),
      el("td", {class: "error-text"}, t.last_error || "–"),
      el("td", {class: "actions"},
        action("Retry", t.id, () => change("POST", `/api/tasks/${encodeURIComponent(t.id)}/retry`)),
        action("Cancel", t.id, () => change("POST", `/api/tasks/${encodeURIComponent(t.id)}/cancel`), true))));
    if (dead.total > dead.items.length) rows.push(emptyRow(5, `and ${dead.total - dead.items.length} more`));
    fill("dead", rows, emptyRow(5, "The dead letter is empty."));
  }

  function prLink(r) {
    const label = `${r.repo.split("/").slice(-2).join("/")}#${r.pull}`;
    // only a web address becomes a link: a record's url is never trusted as a script
    const safe = typeof r.url === "string" && /^https?:\/\//.test(r.url);
    return [safe ? el("a", {href: r.url, rel: "noopener noreferrer"}, label) : el("span", {}, label),
            r.title ? el("span", {class: "hint"}, " ", r.title) : null];
  }

  function renderEscalations(escalations) {
    const rows = escalations.items.map((r) => el("tr", {"data-pull": String(r.pull), class: "verdict-" + r.action},
      el("td", {}, ...prLink(r)),
      el("td", {}, r.task ? taskLink(r.task) : "–", r.agent ? el("span", {class: "hint"}, " ", r.agent) : null),
      el("td", {}, el("span", {class: "badge"}, r.action), " ", el("span", {class: "hint"}, `score ${r.score}`)),
      el("td", {}, el("ul", {class: "reasons"}, r.reasons.map((x) => el("li", {}, x))))));
    if (escalations.total > escalations.items.length) {
      rows.push(emptyRow(4, `and ${escalations.total - escalations.items.length} more`));
    }
    fill("escalations", rows, emptyRow(4, "No pull request waits for a human."));
  }

  function renderRejected(rejected) {
    fill("rejected", rejected.items.map((r) => el("li", {},
      el("code", {}, r.file || r.path), " ", el("span", {class: "hint"}, when(r.rejected_at), " · ", r.source || ""),
      el("ul", {}, (r.problems || []).map((p) => el("li", {}, p))),
      el("span", {class: "hint"}, "kept as ", el("code", {}, r.path)))),
      el("li", {class: "muted"}, "No rejected submissions."));
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function renderTokens(tokens) {
    document.getElementById("tokens-summary").textContent =
      `${number(tokens.total)} tokens reported since the hub started (${when(tokens.since)}).`;
    const agents = Object.entries(tokens.by_agent);
    const top = Math.max(1, ...agents.map(([, n]) => n));
    const rowH = 22, width = 360;
    const barsH = Math.max(1, agents.length) * rowH;
    const bars = svg("svg", {viewBox: `0 0 ${width} ${barsH}`, width, height: barsH, role: "img",
      "aria-label": agents.length ? "Tokens per agent: " + agents.map(([a, n]) => `${a} ${n}`).join(", ") : "No tokens yet"},
      ...agents.map(([name, n], i) => svg("g", {},
        svg("text", {x: 0, y: i * rowH + 15, class: "label"}, name),
        svg("rect", {x: 110, y: i * rowH + 4, height: 14, width: Math.max(1, (n / top) * (width - 200)), class: "bar"}),
        svg("text", {x: 116 + (n / top) * (width - 200), y: i * rowH + 15, class: "value"}, number(n)))));
    fill("tokens-agents", [bars]);
    const hours = tokens.hourly, peak = Math.max(1, ...hours.map((h) => h.total));
    const colW = 14, h = 90;
    const cols = svg("svg", {viewBox: `0 0 ${hours.length * colW} ${h + 16}`, width: hours.length * colW, height: h + 16, role: "img",
      "aria-label": `Tokens per hour over the last ${hours.length} hours; peak ${peak}`},
      ...hours.map((slot, i) => {
        const bh = slot.total ? Math.max(2, (slot.total / peak) * h) : 0;
        return svg("rect", {x: i * colW + 2, y: h - bh, width: colW - 4, height: bh, class: "bar"},
          svg("title", {}, `${slot.hour.slice(11, 16)} UTC: ${slot.total} tokens`));
      }),
      svg("line", {x1: 0, y1: h + 0.5, x2: hours.length * colW, y2: h + 0.5, class: "axis"}),
      svg("text", {x: 0, y: h + 13, class: "label"}, hours.length ? hours[0].hour.slice(11, 16) : ""),
      svg("text", {x: hours.length * colW, y: h + 13, class: "label", "text-anchor": "end"}, "now"));
    fill("tokens-hourly", [cols]);
  }

  function render(s) {
    renderHealth(s.health);
    renderPipeline(s.pipeline);
    renderAgents(s.agents);
    renderLanes(s.lanes, s.next);
    renderRunning(s.running);
    renderCompletions(s.completions);
    renderEscalations(s.escalations);
    renderDead(s.dead);
    renderRejected(s.rejected);
    renderTokens(s.tokens);
    document.body.dataset.version = s.version;
  }

  async function poll(now) {
    clearTimeout(timer);
    if (document.hidden && !now) { timer = setTimeout(poll, POLL_MS); return; }
    const live = document.getElementById("live-status");
    try {
      const resp = await fetch("/api/state", {cache: "no-store", credentials: "omit",
                                              headers: etag ? {"If-None-Match": etag} : {}});
      const date = Date.parse(resp.headers.get("Date"));
      if (!isNaN(date)) skew = Math.abs(date - Date.now()) > 2000 ? date - Date.now() : 0;
      if (resp.status === 200) {
        const s = await resp.json();
        etag = resp.headers.get("ETag");
        render(s);
      } else if (resp.status !== 304) {
        throw new Error("HTTP " + resp.status);
      }
      tick();
      live.textContent = "live · updated " + new Date().toLocaleTimeString();
      live.className = "";
    } catch (e) {
      live.textContent = "hub unreachable (" + e.message + "); retrying";
      live.className = "error-text";
    }
    timer = setTimeout(poll, POLL_MS);
  }

  function setupSubmit() {
    const form = document.getElementById("submit-form");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      const doc = {prompt: f.get("prompt"), priority: f.get("priority")};
      for (const key of ["title", "pin", "id"]) if (f.get(key).trim()) doc[key] = f.get(key).trim();
      const needs = f.get("needs").split(",").map((x) => x.trim()).filter(Boolean);
      if (needs.length) doc.needs = needs;
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const answer = await change("POST", "/api/tasks", doc);
        form.reset();
        flash(`Submitted task ${answer.id}.`, "ok");
        poll(true);
      } catch (e) {
        flash("Submit refused: " + e.message, "error");
      } finally {
        button.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupSubmit();
    document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(true); });
    poll(true);
  });
})();
