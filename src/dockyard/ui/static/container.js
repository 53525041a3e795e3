// The container page: tabs, streaming logs, the xterm.js exec console, live stats charts, top.
"use strict";

(() => {
  const started = new Set();

  function tabs() {
    const buttons = [...document.querySelectorAll('[role="tab"]')];
    for (const button of buttons) {
      button.addEventListener("click", () => {
        for (const b of buttons) {
          b.setAttribute("aria-selected", String(b === button));
          document.getElementById(b.getAttribute("aria-controls")).hidden = b !== button;
        }
        const name = button.id.slice(4);
        if (!started.has(name)) {
          started.add(name);
          if (name === "stats") stats();
          if (name === "processes") top();
        }
        if (name === "console" && consoleFit) consoleFit();
      });
    }
  }

  // Logs: the text arrives in chunks; each chunk becomes one text node (cheap even for 100k lines).
  let logController = null;
  let logText = [];

  function countLines(chunks) {
    let n = 0;
    for (const chunk of chunks) for (let i = chunk.indexOf("\n"); i >= 0; i = chunk.indexOf("\n", i + 1)) n += 1;
    return n;
  }

  function renderSearch() {
    const pre = document.getElementById("logs");
    const query = document.getElementById("log-search").value;
    const all = logText.join("");
    const lines = all.split("\n");
    const count = lines.length - (all.endsWith("\n") ? 1 : 0);
    if (!query) {
      pre.replaceChildren(document.createTextNode(all));
      document.getElementById("log-count").textContent = `${count} lines`;
      return;
    }
    const hits = lines.filter((l) => l.includes(query));
    pre.replaceChildren(document.createTextNode(hits.join("\n")));
    document.getElementById("log-count").textContent = `${hits.length} of ${count} lines match`;
  }

  async function logs() {
    const pre = document.getElementById("logs");
    if (logController) logController.abort();
    logController = new AbortController();
    logText = [];
    pre.replaceChildren();
    pre.dataset.done = "0";
    const params = new URLSearchParams({
      follow: document.getElementById("log-follow").checked ? "1" : "0",
      timestamps: document.getElementById("log-timestamps").checked ? "1" : "0",
      tail: document.getElementById("log-tail").value || "all",
    });
    let response;
    try {
      response = await fetch(`${pre.dataset.src}?${params}`, { signal: logController.signal });
    } catch (_) { return; }
    if (!response.ok) {
      pre.textContent = (await response.json()).message;
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const search = document.getElementById("log-search");
    let pending = [];
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      if (search.value) { pending = []; renderSearch(); return; }
      const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
      pre.append(document.createTextNode(pending.join("")));
      pending = [];
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        logText.push(text);
        pending.push(text);
        // One DOM write and one layout per frame, however many chunks arrived in it.
        if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
      }
    } catch (_) { return; }
    await new Promise((resolve) => requestAnimationFrame(() => { flush(); resolve(); }));
    if (search.value) renderSearch();
    else document.getElementById("log-count").textContent = `${countLines(logText)} lines`;
    pre.dataset.done = "1";
  }

  // Console: bytes both ways over one WebSocket; text frames carry resize requests.
  let consoleFit = null;

  function consoleConnect() {
    const box = document.getElementById("terminal");
    const status = document.getElementById("console-status");
    box.replaceChildren();
    const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 14 });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(box);
    fit.fit();
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const cmd = document.getElementById("console-cmd").value || "sh";
    const url = `${scheme}://${location.host}${box.dataset.src}?cmd=${encodeURIComponent(cmd)}&csrf=${encodeURIComponent(Dockyard.csrf())}`;
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const encoder = new TextEncoder();
    const resize = () => {
      fit.fit();
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", rows: term.rows, cols: term.cols }));
    };
    consoleFit = resize;
    ws.onopen = () => { status.textContent = "connected"; resize(); term.focus(); };
    ws.onmessage = (e) => term.write(typeof e.data === "string" ? e.data : new Uint8Array(e.data));
    ws.onclose = () => { status.textContent = "disconnected"; };
    term.onData((data) => { if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data)); });
    window.addEventListener("resize", resize);
  }

  // Stats: one SSE sample a second from the engine's own stats stream, drawn with uPlot.
  function stats() {
    const box = document.getElementById("stats");
    const width = Math.max(300, Math.floor(box.clientWidth / 2) - 30);
    const bytes = (v) => {
      if (v == null) return "--";
      const units = ["B", "kB", "MB", "GB"];
      let i = 0;
      while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
      return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
    };
    const percent = (v) => (v == null ? "--" : `${v.toFixed(2)}%`);
    const make = (id, series, fmt) => {
      const data = [[], ...series.map(() => [])];
      const plot = new uPlot({ width, height: 160,
        axes: [{}, { size: 70, values: (u, vals) => vals.map(fmt) }],
        series: [{}, ...series.map((label, i) => ({ label, value: (u, v) => fmt(v),
          stroke: ["#2a7ae2", "#e2762a"][i] }))] }, data, document.getElementById(id));
      return { data, plot };
    };
    const charts = { cpu: make("chart-cpu", ["CPU %"], percent), memory: make("chart-memory", ["used"], bytes),
      net: make("chart-net", ["rx", "tx"], bytes), blk: make("chart-blk", ["read", "write"], bytes) };
    const values = { cpu: ["cpu"], memory: ["memory"], net: ["rx", "tx"], blk: ["read", "write"] };
    const source = new EventSource(box.dataset.src);
    source.onmessage = (e) => {
      const point = JSON.parse(e.data);
      const now = Date.now() / 1000;
      for (const [name, chart] of Object.entries(charts)) {
        chart.data[0].push(now);
        values[name].forEach((key, i) => chart.data[i + 1].push(point[key]));
        if (chart.data[0].length > 120) chart.data.forEach((s) => s.shift());
        chart.plot.setData(chart.data);
      }
      box.dataset.samples = String(Number(box.dataset.samples || 0) + 1);
    };
  }

  async function top() {
    const table = document.getElementById("top");
    const response = await fetch(table.dataset.src);
    const data = await response.json();
    if (!response.ok) { table.tHead.textContent = data.message; return; }
    const row = (cells, tag) => {
      const tr = document.createElement("tr");
      for (const c of cells) tr.append(Object.assign(document.createElement(tag), { textContent: c }));
      return tr;
    };
    table.tHead.replaceChildren(row(data.Titles, "th"));
    table.tBodies[0].replaceChildren(...data.Processes.map((p) => row(p, "td")));
  }

  document.addEventListener("DOMContentLoaded", () => {
    tabs();
    // ?follow=0 / ?timestamps=1 / ?tail=N preset the log view (links and bookmarks keep them).
    const query = new URLSearchParams(location.search);
    if (query.get("follow") === "0") document.getElementById("log-follow").checked = false;
    if (query.get("timestamps") === "1") document.getElementById("log-timestamps").checked = true;
    if (query.get("tail")) document.getElementById("log-tail").value = query.get("tail");
    logs();
    for (const id of ["log-follow", "log-timestamps", "log-tail"]) document.getElementById(id).addEventListener("change", logs);
    document.getElementById("log-search").addEventListener("input", renderSearch);
    const connect = document.getElementById("console-connect");
    if (connect) connect.addEventListener("click", consoleConnect);
  });
})();
