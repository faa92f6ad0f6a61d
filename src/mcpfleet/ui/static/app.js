// mcpfleet dashboard: live figures (polling JSON every 2 s), confirmations, the playground.
// Our own few lines; no library. Data is always written with textContent, never as HTML.
"use strict";
(function () {
  const body = document.body;
  const csrf = body.dataset.csrf || "";
  const POLL_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function ms(value) { return value === null || value === undefined ? "—" : value.toFixed(1) + " ms"; }

  async function getJSON(url) {
    const reply = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (reply.status === 401) {
      window.location.href = "/ui/login?next=" + encodeURIComponent(window.location.pathname);
      throw new Error("logged out");
    }
    if (!reply.ok) throw new Error(reply.status + " " + reply.statusText);
    return reply.json();
  }

  function poll(url, apply) {
    const live = document.getElementById("live-state");
    async function once() {
      try {
        apply(await getJSON(url));
        if (live) live.textContent = "Live: updated " + new Date().toLocaleTimeString();
      } catch (err) {
        if (live) live.textContent = "Not updating: " + err.message;
      }
      window.setTimeout(once, POLL_MS);
    }
    once();
  }

  // A sparkline of [time, value] pairs over the last 15 minutes.
  function sparkline(points, label) {
    const width = 140, height = 36, span = 900;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("role", "img");
    const values = points.filter((p) => p[1] !== null);
    const top = Math.max(...values.map((p) => p[1]), 0) || 1;
    const last = values.length ? values[values.length - 1][1] : null;
    svg.setAttribute("aria-label", `${label}: latest ${last === null ? "none" : last}, peak ${values.length ? top : "none"}`);
    const base = document.createElementNS(SVG, "line");
    base.setAttribute("class", "base");
    base.setAttribute("x1", "0"); base.setAttribute("x2", String(width));
    base.setAttribute("y1", String(height - 1)); base.setAttribute("y2", String(height - 1));
    svg.appendChild(base);
    if (values.length) {
      const end = points[points.length - 1][0];
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", values.map((p) => {
        const x = width - ((end - p[0]) / span) * width;
        const y = height - 2 - (p[1] / top) * (height - 4);
        return `${Math.max(0, x).toFixed(1)},${y.toFixed(1)}`;
      }).join(" "));
      svg.appendChild(line);
    }
    const title = document.createElementNS(SVG, "title");
    title.textContent = svg.getAttribute("aria-label");
    svg.appendChild(title);
    return svg;
  }

  function overview() {
    poll("/ui/api/overview", (data) => {
      const rows = document.querySelectorAll("#fleet tbody tr[data-server]");
      if (rows.length !== data.servers.length) { window.location.reload(); return; }
      for (const server of data.servers) {
        const row = document.querySelector(`#fleet tr[data-server="${CSS.escape(server.server)}"]`);
        if (!row) continue;
        const set = (field, text) => { const cell = row.querySelector(`[data-field="${field}"]`); if (cell) cell.textContent = text; };
        const state = row.querySelector('[data-field="state"]');
        state.textContent = server.state; state.dataset.state = server.state;
        const counts = row.querySelector('[data-field="counts"]');
        counts.replaceChildren(...(server.counts.length ? server.counts.map(([s, n]) =>
          el("span", { class: "pill", "data-state": s }, `${n} ${s}`)) : [el("span", { class: "muted" }, "none")]));
        set("in_flight", server.in_flight);
        set("rate", server.rate.toFixed(2));
        set("p50_ms", ms(server.p50_ms));
        set("p95_ms", ms(server.p95_ms));
        set("error_rate", Math.round(server.error_rate * 100) + "%");
        set("restarts", server.restarts);
        const h = server.health;
        set("health", h.checked_at ? `${h.healthy ? "ok" : "failing"} ${Math.max(0, Math.round(data.now - h.checked_at))}s ago` : "not yet");
        row.querySelector('[data-chart="rate"]').replaceChildren(sparkline(server.chart.rate, "calls per second"));
        row.querySelector('[data-chart="latency"]').replaceChildren(sparkline(server.chart.latency, "p95 latency in ms"));
      }
    });
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.floor(seconds);
    if (s >= 86400) return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
    if (s >= 3600) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
    if (s >= 60) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${s}s`;
  }

  function serverPage() {
    const name = body.dataset.server;
    poll("/ui/api/servers/" + encodeURIComponent(name), (data) => {
      const state = document.getElementById("server-state");
      state.textContent = data.server.state; state.dataset.state = data.server.state;
      document.getElementById("server-mode").textContent = data.mode || "taking calls";
      const rows = data.instances.map((i) => {
        const tr = el("tr");
        tr.appendChild(el("th", { scope: "row", "data-label": "Instance" }, i.id));
        const st = el("td", { "data-label": "State" });
        st.appendChild(el("span", { class: "state", "data-state": i.state }, i.state));
        tr.appendChild(st);
        const cells = [["PID", i.pid || "—"], ["Uptime", duration(i.uptime)],
          ["CPU", i.cpu === null ? "—" : i.cpu.toFixed(1) + "%"],
          ["Memory", i.memory_mb === null ? "—" : i.memory_mb.toFixed(1) + " MB"],
          ["In flight", i.in_flight], ["Restarts", i.restarts], ["Version", i.version || "—"],
          ["Last error", i.last_error || ""]];
        for (const [label, value] of cells) tr.appendChild(el("td", { "data-label": label }, value));
        return tr;
      });
      if (!rows.length) { const tr = el("tr"); tr.appendChild(el("td", { colspan: "10" }, "Not running.")); rows.push(tr); }
      document.querySelector("#instances tbody").replaceChildren(...rows);
      const log = document.getElementById("stderr");
      const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.textContent = data.instances.map((i) => `── ${i.id} ──\n${i.stderr}\n`).join("");
      if (atEnd) log.scrollTop = log.scrollHeight;
      const rollout = document.getElementById("rollout");
      if (rollout && data.rollout) {
        const r = data.rollout;
        const list = el("ol");
        for (const e of r.events) list.appendChild(el("li", {}, `${e.step}${e.instance ? " " + e.instance : ""}: ${e.message}`));
        rollout.replaceChildren(el("h3", {}, `Rolling update to ${r.version}: ${r.outcome || "in progress…"}`), list);
        rollout.hidden = false;
      }
    });
  }

  function showProblems(form, problems) {
    for (const p of form.querySelectorAll(".field-problem")) p.textContent = "";
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    for (const [name, text] of Object.entries(problems || {})) {
      const p = document.getElementById("problem-" + name);
      const input = document.getElementById("arg-" + name);
      if (p) p.textContent = `${name} ${text}`;
      if (input) { input.setAttribute("aria-invalid", "true"); input.setAttribute("aria-describedby", "problem-" + name); }
    }
  }

  function playground() {
    const select = document.getElementById("tool-select");
    if (select) select.addEventListener("change", () => { if (select.value) select.form.submit(); });
    const form = document.getElementById("call-form");
    if (!form) return;
    for (const area of form.querySelectorAll("textarea[data-json]")) {
      area.addEventListener("input", () => {
        const name = area.name.slice(4);
        try { if (area.value.trim()) JSON.parse(area.value); showProblems(form, {}); }
        catch (err) { showProblems(form, { [name]: "is not valid JSON: " + err.message }); }
      });
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = document.getElementById("call-button");
      const status = document.getElementById("call-status");
      const result = document.getElementById("call-result");
      button.disabled = true;
      status.textContent = "Calling…";
      try {
        const reply = await fetch(form.action, {
          method: "POST", credentials: "same-origin", body: new URLSearchParams(new FormData(form)),
          headers: { Accept: "application/json", "X-CSRF-Token": csrf },
        });
        const data = await reply.json();
        showProblems(form, data.problems);
        if (data.error) {
          status.textContent = `Error${data.ms !== undefined ? " after " + data.ms + " ms" : ""}: ${data.error}`;
          status.className = "problem";
          result.hidden = true;
        } else {
          status.textContent = `${data.is_error ? "The tool reported an error" : "Done"} in ${data.ms} ms`;
          status.className = data.is_error ? "problem" : "ok";
          result.textContent = JSON.stringify(data.result, null, 2);
          result.hidden = false;
        }
      } catch (err) {
        status.textContent = "The call failed: " + err.message;
        status.className = "problem";
      } finally {
        button.disabled = false;
      }
    });
  }

  function catalog() {
    const box = document.getElementById("installs");
    if (!box || box.hidden) return;
    async function once() {
      let data;
      try { data = await getJSON("/ui/api/installs"); } catch (err) { return; }
      const items = data.installs.map((i) => {
        const li = el("li", { "data-install": i.name });
        li.appendChild(el("strong", {}, i.name));
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("progress", { max: "1", value: String(i.fraction) }, Math.round(i.fraction * 100) + "%"));
        li.appendChild(el("span", {}, " " + (i.outcome || i.steps[i.steps.length - 1] || "starting")));
        return li;
      });
      document.getElementById("install-list").replaceChildren(...items);
      if (data.installs.some((i) => i.outcome === null)) window.setTimeout(once, POLL_MS);
    }
    once();
  }

  // Every action asks first.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm || event.defaultPrevented) return;
    if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); return; }
    for (const b of form.querySelectorAll("button")) b.disabled = true;
  });

  const page = body.dataset.page;
  if (page === "overview" && document.getElementById("fleet")) overview();
  if (body.dataset.server) serverPage();
  if (page === "playground") playground();
  if (page === "catalog") catalog();
})();
