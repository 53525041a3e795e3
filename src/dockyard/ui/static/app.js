// Dockyard UI: the behaviour every page shares. Actions are fetch() calls carrying the session's
// CSRF token; live data comes as Server-Sent Events or streamed responses, never by polling.
"use strict";

const Dockyard = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  function flash(message, ok) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = message;
    box.className = ok ? "ok" : "error";
    box.hidden = false;
  }

  async function call(url, { method = "POST", body = null, form = null } = {}) {
    const headers = { "X-CSRF-Token": csrf() };
    let payload = form;
    if (body !== null) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await fetch(url, { method, headers, body: payload, credentials: "same-origin" });
    if (response.status === 401) {
      window.location = "/login";
      throw new Error("logged out");
    }
    return response;
  }

  async function errorText(response) {
    try {
      const data = await response.json();
      if (data.errors) return Object.entries(data.errors).map(([k, v]) => `${k.slice(0, 12)}: ${v}`).join("; ");
      return data.message || response.statusText;
    } catch (_) {
      return response.statusText;
    }
  }

  async function act(url, options, then) {
    const response = await call(url, options);
    if (!response.ok) {
      flash(await errorText(response), false);
      return false;
    }
    if (then) window.location = then;
    else window.location.reload();
    return true;
  }

  // Concatenated/NDJSON progress messages from a streamed response, one callback per message.
  async function readMessages(response, onMessage) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line) onMessage(JSON.parse(line));
      }
    }
    if (buffer.trim()) onMessage(JSON.parse(buffer));
  }

  // Docker's progress messages: one row per layer ID (pull/push), plain lines for build output.
  function progressView(target) {
    target.replaceChildren();
    const rows = new Map();
    const log = document.createElement("pre");
    target.append(log);
    return (m) => {
      if (m.error || m.errorDetail) {
        const err = document.createElement("p");
        err.className = "error";
        err.setAttribute("role", "alert");
        err.textContent = m.error || m.errorDetail.message;
        target.append(err);
        return;
      }
      if (m.stream !== undefined) { log.append(m.stream); return; }
      if (m.aux && m.aux.ID) { log.append(`Built ${m.aux.ID}\n`); return; }
      if (m.id && m.status) {
        let row = rows.get(m.id);
        if (!row) {
          row = document.createElement("div");
          row.className = "layer";
          row.dataset.layer = m.id;
          target.insertBefore(row, log);
          rows.set(m.id, row);
        }
        const bar = m.progressDetail && m.progressDetail.total
          ? ` ${Math.round(100 * m.progressDetail.current / m.progressDetail.total)}%` : "";
        row.textContent = `${m.id}: ${m.status}${bar}`;
        return;
      }
      if (m.status) log.append(m.status + "\n");
    };
  }

  function formJSON(form) {
    const data = {};
    for (const el of form.elements) {
      if (!el.name) continue;
      data[el.name] = el.type === "checkbox" ? el.checked : el.value;
    }
    return data;
  }

  function selected(tableId) {
    return [...document.querySelectorAll(`#${tableId} tbody input[type=checkbox]:checked`)].map((b) => b.value);
  }

  function filterTable(tableId) {
    const table = document.getElementById(tableId);
    const text = (document.querySelector(`[data-filter-table="${tableId}"]`) || {}).value || "";
    const state = (document.querySelector(`[data-state-filter="${tableId}"]`) || {}).value || "";
    for (const row of table.tBodies[0].rows) {
      const hit = row.dataset.search.toLowerCase().includes(text.toLowerCase());
      row.hidden = !(hit && (!state || row.dataset.state === state));
    }
  }

  function onClick(event) {
    const el = event.target.closest("button");
    if (!el) return;
    if (el.dataset.confirm && !window.confirm(el.dataset.confirm)) return;
    if (el.dataset.bulk) {
      const ids = selected(el.dataset.table);
      if (!ids.length) { flash("Select containers first", false); return; }
      act(el.dataset.url, { body: { action: el.dataset.bulk, ids } });
    } else if (el.dataset.prompt) {
      const value = window.prompt(el.dataset.prompt);
      if (value) act(el.dataset.action, { body: { [el.dataset.field]: value } });
    } else if (el.dataset.action) {
      act(el.dataset.action, { method: el.dataset.method || "POST",
        body: el.dataset.body ? JSON.parse(el.dataset.body) : null }, el.dataset.then);
    } else if (el.dataset.push) {
      const target = document.getElementById("push-progress");
      call(el.dataset.url, { body: { image: el.dataset.push } }).then(async (r) => {
        if (!r.ok) { flash(await errorText(r), false); return; }
        await readMessages(r, progressView(target));
      });
    } else if (el.dataset.history) {
      showHistory(el.dataset.history);
    } else if (el.dataset.stackLogs) {
      const pre = document.getElementById(el.dataset.target);
      pre.hidden = false;
      fetch(el.dataset.stackLogs).then((r) => r.text()).then((t) => { pre.textContent = t; });
    } else if (el.id === "logout") {
      call("/api/logout").then(() => { window.location = "/login"; });
    }
  }

  async function showHistory(url) {
    const dialog = document.getElementById("history-dialog");
    const rows = await (await fetch(url)).json();
    const body = dialog.querySelector("tbody");
    body.replaceChildren(...rows.map((r) => {
      const tr = document.createElement("tr");
      for (const v of [r.CreatedBy, `${r.Size} B`]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.append(td);
      }
      return tr;
    }));
    dialog.showModal();
  }

  async function onSubmit(event) {
    const form = event.target;
    if (form.dataset.apiForm !== undefined) {
      event.preventDefault();
      const then = form.dataset.then || null;
      await act(form.dataset.apiForm, { body: formJSON(form) }, then);
    } else if (form.dataset.streamForm) {
      event.preventDefault();
      const target = document.getElementById(form.dataset.progress);
      const options = form.dataset.multipart ? { form: new FormData(form) } : { body: formJSON(form) };
      const response = await call(form.dataset.streamForm, options);
      if (!response.ok) { flash(await errorText(response), false); return; }
      await readMessages(response, progressView(target));
      target.append(Object.assign(document.createElement("p"), { className: "done", textContent: "Done." }));
    } else if (form.dataset.download) {
      event.preventDefault();
      const path = new FormData(form).get("path");
      window.location = `${form.dataset.download}?path=${encodeURIComponent(path)}`;
    }
  }

  function events() {
    const list = document.getElementById("events");
    if (!list) return;
    const source = new EventSource(list.dataset.src);
    source.onopen = () => { list.dataset.live = "1"; };
    source.onmessage = (e) => {
      const ev = JSON.parse(e.data);
      const item = document.createElement("li");
      const when = new Date((ev.time || 0) * 1000).toLocaleTimeString();
      const who = (ev.Actor && ev.Actor.Attributes && ev.Actor.Attributes.name) || (ev.Actor && ev.Actor.ID || "").slice(0, 12);
      item.textContent = `${when}  ${ev.Type} ${ev.Action}  ${who}`;
      list.prepend(item);
      while (list.children.length > 200) list.lastChild.remove();
    };
  }

  // The container list follows the engine: each container event (debounced) re-renders the rows
  // from the server, keeping the selection and the filters.
  function liveTable(tableId) {
    const table = document.getElementById(tableId);
    if (!table) return;
    let timer = null;
    const refresh = async () => {
      const html = await (await fetch(location.href)).text();
      const fresh = new DOMParser().parseFromString(html, "text/html").getElementById(tableId);
      if (!fresh) return;
      const checked = new Set(selected(tableId));
      table.tBodies[0].replaceWith(fresh.tBodies[0]);
      for (const box of table.querySelectorAll("tbody input[type=checkbox]")) box.checked = checked.has(box.value);
      filterTable(tableId);
      table.dataset.refreshed = String(Number(table.dataset.refreshed || 0) + 1);
    };
    const source = new EventSource(`/api/e/${document.querySelector('meta[name="environment"]').content}/events?type=container`);
    source.onopen = () => { table.dataset.live = "1"; };
    source.onmessage = () => { clearTimeout(timer); timer = setTimeout(refresh, 250); };
  }

  function init() {
    document.addEventListener("click", onClick);
    document.addEventListener("submit", onSubmit);
    for (const el of document.querySelectorAll("[data-filter-table]")) {
      el.addEventListener("input", () => filterTable(el.dataset.filterTable));
    }
    for (const el of document.querySelectorAll("[data-state-filter]")) {
      el.addEventListener("change", () => filterTable(el.dataset.stateFilter));
      if (el.value) filterTable(el.dataset.stateFilter);
    }
    for (const el of document.querySelectorAll("[data-select-all]")) {
      el.addEventListener("change", () => {
        for (const box of document.querySelectorAll(`#${el.dataset.selectAll} tbody tr:not([hidden]) input[type=checkbox]`)) box.checked = el.checked;
      });
    }
    const pick = document.getElementById("env-select");
    if (pick) pick.addEventListener("change", () => { window.location = `/e/${pick.value}/dashboard`; });
    events();
    liveTable("ctr-table");
  }

  document.addEventListener("DOMContentLoaded", init);
  return { call, flash, readMessages, csrf };
})();
