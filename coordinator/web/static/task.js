// The task page: the task file, its actions, and its timeline from git. It watches the cheap
// /api/state version (If-None-Match) and reads the task and its git log again only when its
// commit part changes (a heartbeat changes the version, never a task file).
"use strict";

(() => {
  const {el, flash, change, read, when, number} = AC;
  const POLL_MS = 3000;
  const id = document.getElementById("task-id").textContent;
  const base = "/api/tasks/" + encodeURIComponent(id);
  let etag = null, head = null, timer = null;

  function renderDetail(shown) {
    const t = shown.task, result = t.result || {};
    const rows = [["State", shown.state], ["Where", shown.path], ["Title", t.title], ["Lane", t.priority],
      ["Agent", t.agent || "–"], ["Attempt", `${t.attempt || 0} (retries allowed: ${t.max_retries})`],
      ["Needs", (t.needs || []).join(", ") || "–"], ["Only on", t.pin || "–"],
      ["After", (t.depends_on || []).join(", ") || "–"], ["Queued", when(t.queued_at)],
      ["Finished", when(t.finished_at)], ["Tokens used", number(t.tokens_used)],
      ["Last error", t.last_error || "–"], ["Summary", result.summary || "–"]];
    const dl = document.getElementById("detail");
    dl.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v === undefined || v === null ? "–" : String(v))]));
    if (result.pr_url && /^https?:\/\//.test(result.pr_url)) {
      dl.append(el("dt", {}, "Pull request"), el("dd", {}, el("a", {href: result.pr_url, rel: "noopener noreferrer"}, result.pr_url)));
    }
    document.getElementById("prompt").textContent = t.prompt || "";
    const can = {retry: ["dead", "cancelled"].includes(shown.state),
                 cancel: !["done", "cancelled"].includes(shown.state), priority: shown.state === "queued"};
    for (const button of document.querySelectorAll("#actions button")) button.disabled = !can[button.dataset.action];
    if (t.priority) document.getElementById("lane-select").value = t.priority;
    document.body.dataset.state = shown.state;
  }

  function renderTimeline(history) {
    document.getElementById("timeline").replaceChildren(...history.map((h) => el("li", {},
      el("time", {datetime: new Date(h.time * 1000).toISOString()}, when(new Date(h.time * 1000).toISOString())), " ",
      el("strong", {}, `${h.from} → ${h.to}`), h.agent ? ` [${h.agent}]` : "",
      ` attempt ${h.attempt}${h.run > 1 ? `, run ${h.run}` : ""}: `,
      el("span", {}, h.reason), " ", el("code", {class: "hint"}, h.commit.slice(0, 10)))));
  }

  async function load() {
    try {
      const [shown, log] = await Promise.all([read(base), read(base + "/log")]);
      renderDetail(shown);
      renderTimeline(log.history);
      document.getElementById("live-status").textContent = "live · updated " + new Date().toLocaleTimeString();
    } catch (e) {
      flash(e.message, "error");
    }
  }

  async function poll(force) {
    clearTimeout(timer);
    if (!document.hidden || force) {
      try {
        const resp = await fetch("/api/state", {cache: "no-store", credentials: "omit",
                                                headers: etag ? {"If-None-Match": etag} : {}});
        if (resp.status === 200) {
          etag = resp.headers.get("ETag") || "";
          const commit = etag.replace(/^W\/"/, "").split(".")[0];
          if (commit !== head) {
            head = commit;
            await load();
          }
        }
      } catch (e) {
        document.getElementById("live-status").textContent = "hub unreachable; retrying";
      }
    }
    timer = setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("actions").addEventListener("click", async (ev) => {
      const what = ev.target.dataset && ev.target.dataset.action;
      if (!what) return;
      const body = what === "priority" ? {lane: document.getElementById("lane-select").value} : {};
      try {
        await change("POST", `${base}/${what}`, body);
        flash(`${what === "priority" ? "Moved" : what + ": done"} (task ${id}).`, "ok");
        etag = null;
        head = null;
        poll(true);
      } catch (e) {
        flash(`${what} refused: ${e.message}`, "error");
      }
    });
    document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(true); });
    poll(true);
  });
})();
