// Shared by the status page and the task page: the operator token, API calls, and small DOM helpers.
// Every text from the hub goes into the page through textContent, never as HTML.
"use strict";

const AC = (() => {
  const KEY = "agentcom.operator-token";
  const token = () => sessionStorage.getItem(KEY) || "";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function flash(message, kind) {
    const box = document.getElementById("flash");
    box.textContent = message;
    box.className = "flash " + (kind || "info");
    box.hidden = false;
  }

  // A change through the API: the operator token (if one was given) and the cross-site header.
  async function change(method, path, body) {
    const headers = {"Content-Type": "application/json", "X-Agentcom-Request": "page"};
    if (token()) headers["Authorization"] = "Bearer " + token();
    const resp = await fetch(path, {method, headers, body: JSON.stringify(body || {}),
                                    credentials: "omit", cache: "no-store"});
    let data = {};
    try { data = await resp.json(); } catch (e) { data = {message: "HTTP " + resp.status}; }
    if (!resp.ok) {
      const hint = resp.status === 401 ? " Paste the operator token at the top of the page." : "";
      throw new Error((data.message || ("HTTP " + resp.status)) + hint);
    }
    return data;
  }

  async function read(path) {
    const resp = await fetch(path, {cache: "no-store", credentials: "omit"});
    const data = await resp.json();
    if (!resp.ok) throw new Error(data.message || ("HTTP " + resp.status));
    return data;
  }

  // Ages: "4s", "3m 20s", "2h 5m", "3d 4h".
  function age(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }

  function secondsSince(iso, skew) {
    if (!iso) return null;
    return (Date.now() + (skew || 0) - Date.parse(iso)) / 1000;
  }

  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function number(n) { return (n || 0).toLocaleString("en-US"); }

  function taskLink(id, title) {
    return el("a", {href: "/tasks/" + encodeURIComponent(id)}, title ? title : id);
  }

  function setupAuth() {
    const form = document.getElementById("auth");
    const input = document.getElementById("operator-token");
    const forget = document.getElementById("forget-token");
    const show = () => {
      forget.hidden = !token();
      input.placeholder = token() ? "token set for this tab" : "acm_op_…";
    };
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = input.value.trim();
      if (!value) { flash("Paste the operator token first (the hub prints where it is kept).", "error"); return; }
      sessionStorage.setItem(KEY, value);
      input.value = "";
      show();
      flash("Operator token set for this tab.", "ok");
    });
    forget.addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      show();
      flash("Operator token forgotten.", "info");
    });
    show();
  }

  document.addEventListener("DOMContentLoaded", setupAuth);
  return {el, flash, change, read, age, secondsSince, when, number, taskLink};
})();
