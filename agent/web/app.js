// The sonde web page: launch a diagnosis, follow its event stream, show the result.
//
// Everything shown comes from the agent's API (docs/protocol.md); the page computes no verdict.
// Server texts are inserted with textContent only, never as HTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const PALETTE = ["#0b6bcb", "#d9480f", "#2b8a3e", "#862e9c", "#c92a2a", "#5f3dc4", "#087f5b"];
  /** Points kept per chart series. */
  const MAX_POINTS = 120;
  /** How long the page keeps following a finished run for its ticket's SMS confirmation. */
  const TICKET_FOLLOW_MS = 120000;

  const storage = {
    get(key) {
      try {
        return window.localStorage.getItem(key) || "";
      } catch (_) {
        return "";
      }
    },
    set(key, value) {
      try {
        window.localStorage.setItem(key, value);
      } catch (_) {
        // Private browsing: nothing is remembered, the page still works.
      }
    },
  };

  let lang = storage.get("sonde.lang") || ((navigator.language || "fr").toLowerCase().startsWith("en") ? "en" : "fr");
  let run = null; // the followed run: { id, source, lastSeq, finished, ... }

  // ---- language ----------------------------------------------------------------------------

  function tr(key, vars) {
    return t(lang, key, vars);
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = tr("title") + " · sonde";
    $("lang").value = lang;
    for (const el of document.querySelectorAll("[data-i18n]")) {
      el.textContent = tr(el.dataset.i18n);
    }
    if (run) {
      renderProgress();
    }
  }

  // ---- API ---------------------------------------------------------------------------------

  function authHeaders() {
    const token = $("token").value.trim();
    return token ? { Authorization: "Bearer " + token } : {};
  }

  /** Calls the API; resolves to { status, body } (body parsed as JSON when it is). */
  async function api(method, path, body) {
    const headers = authHeaders();
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let parsed = null;
    try {
      parsed = await response.json();
    } catch (_) {
      parsed = null;
    }
    return { status: response.status, body: parsed };
  }

  function showError(key, vars) {
    const el = $("error");
    el.textContent = key ? tr(key, vars) : "";
    el.hidden = !key;
  }

  function apiError(answer) {
    if (answer.status === 401) {
      $("settings").open = true;
      return showError("error.unauthorized");
    }
    const message = (answer.body && answer.body.message) || "HTTP " + answer.status;
    return showError("error.other", { message });
  }

  // ---- launching ---------------------------------------------------------------------------

  async function launch(event) {
    event.preventDefault();
    showError(null);
    storage.set("sonde.token", $("token").value.trim());
    const problem = new FormData($("launch-form")).get("problem") || "no-internet";
    const request = { problem, options: { lang } };
    const lineId = $("line-id").value.trim();
    if (lineId) {
      request.line = { kind: problem === "mobile" ? "mobile" : "box", id: lineId };
    }
    const contact = $("contact").value.replace(/[\s.-]/g, "");
    if (contact) {
      request.contact = contact;
    }
    $("launch").disabled = true;
    let answer;
    try {
      answer = await api("POST", "/v1/runs", request);
    } catch (_) {
      $("launch").disabled = false;
      return showError("error.network");
    }
    $("launch").disabled = false;
    if (answer.status === 201 && answer.body) {
      return follow(answer.body.run);
    }
    if (answer.status === 409 && answer.body && answer.body.run) {
      showError("error.run_in_progress");
      return follow(answer.body.run);
    }
    return apiError(answer);
  }

  // ---- following a run ---------------------------------------------------------------------

  function follow(id) {
    if (run && run.source) {
      run.source.close();
    }
    run = {
      id,
      source: null,
      lastSeq: 0,
      events: 0,
      reconnects: 0,
      lost: false,
      finished: false,
      finishedAt: 0,
      state: "running",
      steps: [],
      // Steps running now, by plan index (several when the agent runs them at the same time),
      // and the ones last shown: between two steps the label keeps them instead of flickering.
      running: new Map(),
      shown: [],
      fraction: 0,
      etaMs: null,
      ticket: null,
      series: new Map(),
      t0: null,
      gauge: { value: null, name: "download_mbps", max: 10 },
    };
    try {
      window.sessionStorage.setItem("sonde.run", id);
    } catch (_) {
      // Not remembered across a reload; nothing else changes.
    }
    document.body.dataset.run = id;
    document.body.dataset.state = "running";
    $("setup").hidden = true;
    $("run").hidden = false;
    $("result").hidden = true;
    $("again").hidden = true;
    $("ticket").hidden = true;
    $("run-id").textContent = id;
    $("checks").tBodies[0].replaceChildren();
    $("findings").replaceChildren();
    $("actions").replaceChildren();
    $("tech-actions").replaceChildren();
    $("connection").textContent = "";
    renderCounters();
    renderProgress();
    drawRttChart();
    drawGauge();
    connect();
  }

  /** Opens the event stream with a fresh pass, resuming after the last event seen. */
  async function connect() {
    const current = run;
    let answer;
    try {
      answer = await api("POST", "/v1/runs/" + current.id + "/stream-pass");
    } catch (_) {
      return retryLater(current);
    }
    if (current !== run) {
      return;
    }
    if (answer.status !== 200 || !answer.body) {
      if (answer.status === 401) {
        return apiError(answer);
      }
      if (answer.status === 404) {
        return forget(current); // an agent restarted without its history: nothing to follow
      }
      return retryLater(current);
    }
    let url = "/v1/runs/" + current.id + "/events?pass=" + encodeURIComponent(answer.body.pass);
    if (current.lastSeq > 0) {
      url += "&after=" + current.lastSeq;
    }
    const source = new EventSource(url);
    current.source = source;
    source.onopen = () => {
      if (current.lost) {
        current.lost = false;
        $("connection").textContent = tr("resumed");
      }
    };
    source.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (_) {
        return;
      }
      handle(current, event);
    };
    source.onerror = () => {
      if (current !== run) {
        return source.close();
      }
      if (current.finished && !keepFollowing(current)) {
        return source.close();
      }
      // The browser reconnects by itself (sending Last-Event-ID) while CONNECTING; when it gave
      // up (CLOSED: the pass expired, the agent restarted…), reconnect with a new pass.
      current.reconnects += 1;
      renderCounters();
      if (!current.finished) {
        // After the end, the agent closes the stream between ticket updates: not a loss.
        current.lost = true;
        $("connection").textContent = tr("reconnecting");
      }
      if (source.readyState === EventSource.CLOSED) {
        retryLater(current);
      }
    };
  }

  function forget(current) {
    try {
      window.sessionStorage.removeItem("sonde.run");
    } catch (_) {
      // Nothing was remembered.
    }
    if (current === run) {
      run = null;
      delete document.body.dataset.run;
      delete document.body.dataset.state;
      $("run").hidden = true;
      $("setup").hidden = false;
    }
  }

  function retryLater(current) {
    if (current.source) {
      current.source.close();
    }
    current.lost = true;
    $("connection").textContent = tr("reconnecting");
    setTimeout(() => {
      if (current === run && (!current.finished || keepFollowing(current))) {
        connect();
      }
    }, 2000);
  }

  /** After the run's end, whether its ticket may still bring news (number, SMS). */
  function keepFollowing(current) {
    const state = current.ticket && current.ticket.state;
    if (!state || state === "sms_sent" || state === "rejected") {
      return false;
    }
    return Date.now() - current.finishedAt < TICKET_FOLLOW_MS;
  }

  function handle(current, event) {
    if (current !== run || typeof event.seq !== "number" || event.seq <= current.lastSeq) {
      return; // another run, or an event already seen
    }
    current.lastSeq = event.seq;
    current.events += 1;
    document.body.dataset.seq = String(event.seq);
    const data = event.data || {};
    const at = Date.parse(event.ts);
    if (current.t0 === null && !Number.isNaN(at)) {
      current.t0 = at;
    }
    switch (event.type) {
      case "run_started":
        current.steps = ((data.plan && data.plan.steps) || []).map((s) => s.check);
        current.running.clear();
        break;
      case "step_started":
        stepRunning(current, data.index, data.check);
        takeProgress(current, data.progress);
        break;
      case "step_progress":
        // Also how a page that joined mid-step learns of it.
        stepRunning(current, data.index, data.check);
        takeProgress(current, data.progress);
        takeLiveMetrics(current, data.check, data.metrics || [], at);
        break;
      case "step_finished":
        // A re-test's results come without step_started: deleting nothing is fine.
        current.running.delete(data.index);
        takeProgress(current, data.progress);
        addCheckRow(data.result || {}, data.index);
        break;
      case "diagnosis":
        renderDiagnosis(data);
        break;
      case "ticket":
        current.ticket = data;
        renderTicket(data);
        break;
      case "run_finished":
        current.running.clear();
        current.finished = true;
        current.finishedAt = Date.now();
        current.state = data.state || "unknown";
        if (current.state === "completed") {
          current.fraction = 1;
          current.etaMs = 0;
        }
        renderEnd(data);
        break;
      default:
        break; // a newer agent's event type: ignored
    }
    if (current.running.size > 0) {
      current.shown = [...current.running.entries()].sort((a, b) => a[0] - b[0]);
    }
    renderCounters();
    renderProgress();
    if (current.finished && !keepFollowing(current) && current.source) {
      current.source.close();
    }
  }

  /** Notes step `index` (`check`) as running, with its row in the table. */
  function stepRunning(current, index, check) {
    if (typeof index !== "number" || current.running.has(index)) {
      return;
    }
    current.running.set(index, check);
    addRunningRow(index, check);
  }

  function takeProgress(current, progress) {
    if (progress && typeof progress.fraction === "number") {
      current.fraction = Math.max(current.fraction, Math.min(1, progress.fraction));
      current.etaMs = typeof progress.eta_ms === "number" ? progress.eta_ms : null;
    }
  }

  // ---- rendering: customer -----------------------------------------------------------------

  function checkName(check) {
    const key = "check." + check;
    const text = tr(key);
    return text === key ? String(check) : text;
  }

  function renderProgress() {
    if (!run) {
      return;
    }
    const percent = Math.floor(run.fraction * 1000) / 10;
    const bar = $("progress");
    bar.value = percent;
    let step;
    if (run.finished) {
      step = tr("done");
    } else if (run.shown.length > 0) {
      // Every running step, in plan order: "Steps 3, 4 of 7: Gateway · DNS".
      step = tr(run.shown.length === 1 ? "stepOf" : "stepsOf", {
        n: run.shown.map(([index]) => index + 1).join(", "),
        total: run.steps.length || "?",
        check: run.shown.map(([, check]) => checkName(check)).join(" · "),
      });
      if (run.etaMs !== null && run.etaMs > 0) {
        step += " · " + tr("remaining", { s: Math.ceil(run.etaMs / 1000) });
      }
    } else {
      step = tr("starting");
    }
    const label = (lang === "fr" ? String(percent).replace(".", ",") : String(percent)) + " %";
    $("percent").textContent = label;
    $("step").textContent = step;
    bar.setAttribute("aria-valuetext", label + ", " + step);
  }

  function renderDiagnosis(diagnosis) {
    $("result").hidden = false;
    $("summary").textContent = diagnosis.summary || "";
    const findings = diagnosis.findings || [];
    const actions = $("actions");
    const techActions = $("tech-actions");
    const seen = new Set();
    const list = $("findings");
    actions.replaceChildren();
    techActions.replaceChildren();
    list.replaceChildren();
    for (const finding of findings) {
      for (const advice of finding.actions || []) {
        const target = advice.audience === "technician" ? techActions : actions;
        if (!seen.has(advice.text)) {
          seen.add(advice.text);
          target.append(el("li", advice.text));
        }
      }
      const item = el("li");
      item.dataset.code = finding.code;
      item.className = "severity-" + finding.severity;
      item.append(el("strong", finding.title || finding.code), " ", el("code", finding.code));
      if (finding.detail) {
        item.append(el("p", finding.detail));
      }
      const evidence = el("ul");
      evidence.className = "evidence";
      for (const e of finding.evidence || []) {
        evidence.append(el("li", checkName(e.check) + " · " + e.metric + " = " + formatValue(e.value) + formatThreshold(e.threshold)));
      }
      item.append(evidence);
      list.append(item);
    }
    if (actions.children.length === 0) {
      actions.append(el("li", diagnosis.healthy ? tr("nothingToDo") : "—"));
    }
  }

  function renderTicket(ticket) {
    $("ticket").hidden = false;
    $("ticket").dataset.state = ticket.state;
    let text = tr("ticket." + ticket.state);
    if (ticket.state === "queued" && ticket.last_error) {
      text += " " + tr("retrying", { n: ticket.attempts || 1 });
    }
    $("ticket-state").textContent = text;
    $("ticket-number").textContent = ticket.ticket_number ? tr("ticketNumber", { n: ticket.ticket_number }) : "";
    if (ticket.state === "sms_sent") {
      $("ticket-sms").textContent = tr("smsSent");
    }
  }

  function renderEnd(finished) {
    document.body.dataset.state = finished.state || "unknown";
    const key = "end." + finished.state;
    $("run-end").textContent = tr(key, { reason: finished.reason || "" }).replace(key, "");
    if (finished.state !== "completed") {
      $("result").hidden = false;
    }
    $("connection").textContent = "";
    $("again").hidden = false;
  }

  /** Back to the choice of problem, for another run. */
  function again() {
    $("again").hidden = true;
    $("setup").hidden = false;
    $("setup").scrollIntoView();
  }

  function renderCounters() {
    $("event-count").textContent = String(run ? run.events : 0);
    $("reconnects").textContent = String(run ? run.reconnects : 0);
  }

  // ---- rendering: technician ---------------------------------------------------------------

  /** A row for a step that started: in plan order, filled in when its result comes. */
  function addRunningRow(index, check) {
    const body = $("checks").tBodies[0];
    const row = el("tr");
    row.dataset.check = check;
    row.dataset.index = String(index);
    row.dataset.pending = "";
    const status = el("td", tr("status.running"));
    status.className = "status-running";
    row.append(el("th", checkName(check)), status, el("td"));
    row.firstChild.scope = "row";
    const after = [...body.rows].find((r) => r.dataset.index !== undefined && Number(r.dataset.index) > index);
    body.insertBefore(row, after || null);
  }

  /** The step's result: fills its running row, or adds a row (a re-test's results). */
  function addCheckRow(result, index) {
    const body = $("checks").tBodies[0];
    const pending = [...body.rows].find((r) => r.dataset.pending !== undefined && r.dataset.index === String(index));
    const row = pending || el("tr");
    row.replaceChildren();
    delete row.dataset.pending;
    row.dataset.check = result.id;
    const status = el("td", tr("status." + result.status));
    status.className = "status-" + result.status;
    const metrics = (result.metrics || [])
      .filter((m) => m.value !== null)
      .map((m) => m.name + " = " + formatValue(m.value))
      .join(", ");
    row.append(el("th", checkName(result.id)), status, el("td", result.reason ? result.reason + (metrics ? " — " + metrics : "") : metrics));
    row.firstChild.scope = "row";
    if (!pending) {
      body.append(row);
    }
  }

  function takeLiveMetrics(current, check, metrics, at) {
    const seconds = current.t0 !== null && !Number.isNaN(at) ? (at - current.t0) / 1000 : 0;
    for (const metric of metrics) {
      if (typeof metric.value !== "number") {
        continue;
      }
      if (/_mbps$/.test(metric.name)) {
        current.gauge = { value: metric.value, name: metric.name, max: niceCeiling(Math.max(current.gauge.max, metric.value)) };
        drawGauge();
      } else if (/(^|_)(rtt|connect)_?ms$|_rtt_ms$/.test(metric.name)) {
        const key = metric.name === "rtt_ms" ? checkName(check) : checkName(check) + " · " + metric.name;
        if (!current.series.has(key)) {
          current.series.set(key, []);
        }
        const points = current.series.get(key);
        points.push([seconds, metric.value]);
        if (points.length > MAX_POINTS) {
          points.shift();
        }
        drawRttChart();
      }
    }
  }

  function drawRttChart() {
    const svg = $("rtt-chart");
    const desc = svg.querySelector("desc");
    svg.replaceChildren(desc);
    const legend = $("rtt-legend");
    legend.replaceChildren();
    const series = run ? [...run.series.entries()] : [];
    const [w, h, left, bottom] = [320, 160, 34, 18];
    let maxX = 1;
    let maxY = 1;
    for (const [, points] of series) {
      for (const [x, y] of points) {
        maxX = Math.max(maxX, x);
        maxY = Math.max(maxY, y);
      }
    }
    maxY = niceCeiling(maxY);
    for (let i = 0; i <= 4; i += 1) {
      const y = 6 + ((h - bottom - 6) * i) / 4;
      svg.append(svgEl("line", { x1: left, x2: w - 4, y1: y, y2: y, class: "grid" }));
      const label = svgEl("text", { x: left - 4, y: y + 4, class: "axis", "text-anchor": "end" });
      label.textContent = String(Math.round((maxY * (4 - i)) / 4));
      svg.append(label);
    }
    const time = svgEl("text", { x: w - 4, y: h - 4, class: "axis", "text-anchor": "end" });
    time.textContent = Math.round(maxX) + " s";
    svg.append(time);
    if (series.length === 0) {
      const empty = svgEl("text", { x: w / 2, y: h / 2, class: "axis", "text-anchor": "middle" });
      empty.textContent = tr("noData");
      svg.append(empty);
    }
    series.forEach(([name, points], i) => {
      const color = PALETTE[i % PALETTE.length];
      const coords = points
        .map(([x, y]) => {
          const px = left + ((w - 4 - left) * x) / maxX;
          const py = h - bottom - ((h - bottom - 6) * y) / maxY;
          return px.toFixed(1) + "," + py.toFixed(1);
        })
        .join(" ");
      svg.append(svgEl("polyline", { points: coords, fill: "none", stroke: color, "stroke-width": 2 }));
      const item = el("li", name + " — " + formatValue(points[points.length - 1][1]) + " ms");
      const swatch = el("span");
      swatch.className = "swatch swatch-" + (i % PALETTE.length);
      item.prepend(swatch);
      legend.append(item);
    });
  }

  function drawGauge() {
    const svg = $("gauge");
    const desc = svg.querySelector("desc");
    svg.replaceChildren(desc);
    const gauge = run ? run.gauge : { value: null, name: "download_mbps", max: 10 };
    const [cx, cy, r] = [100, 100, 80];
    const point = (share) => {
      const angle = Math.PI * (1 - share);
      return (cx + r * Math.cos(angle)).toFixed(1) + " " + (cy - r * Math.sin(angle)).toFixed(1);
    };
    svg.append(svgEl("path", { d: "M " + point(0) + " A " + r + " " + r + " 0 0 1 " + point(1), class: "gauge-track" }));
    if (gauge.value !== null) {
      const share = Math.max(0.001, Math.min(1, gauge.value / gauge.max));
      svg.append(svgEl("path", { d: "M " + point(0) + " A " + r + " " + r + " 0 0 1 " + point(share), class: "gauge-value" }));
    }
    const value = svgEl("text", { x: cx, y: cy - 10, class: "gauge-number", "text-anchor": "middle" });
    value.textContent = gauge.value === null ? "—" : formatValue(gauge.value);
    const caption = svgEl("text", { x: cx, y: cy + 12, class: "axis", "text-anchor": "middle" });
    caption.textContent = (gauge.name.startsWith("upload") ? tr("upload") : tr("download")) + " · max " + gauge.max;
    svg.append(value, caption);
  }

  // ---- helpers -----------------------------------------------------------------------------

  function el(tag, text) {
    const node = document.createElement(tag);
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function svgEl(tag, attributes) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) {
      node.setAttribute(name, String(value));
    }
    return node;
  }

  function niceCeiling(value) {
    for (const step of [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]) {
      if (value <= step) {
        return step;
      }
    }
    return Math.ceil(value / 10000) * 10000;
  }

  function formatValue(value) {
    if (typeof value === "number") {
      const rounded = Math.round(value * 100) / 100;
      return lang === "fr" ? String(rounded).replace(".", ",") : String(rounded);
    }
    if (value === null || value === undefined) {
      return "—";
    }
    return String(value);
  }

  function formatThreshold(threshold) {
    if (!threshold) {
      return "";
    }
    const parts = [];
    if (threshold.warn !== null && threshold.warn !== undefined) {
      parts.push("warn " + formatValue(threshold.warn));
    }
    if (threshold.fail !== null && threshold.fail !== undefined) {
      parts.push("fail " + formatValue(threshold.fail));
    }
    return parts.length ? " (" + parts.join(", ") + ")" : "";
  }

  // ---- start -------------------------------------------------------------------------------

  function start() {
    $("token").value = storage.get("sonde.token");
    $("lang").addEventListener("change", () => {
      lang = $("lang").value === "en" ? "en" : "fr";
      storage.set("sonde.lang", lang);
      applyLanguage();
    });
    const techToggle = $("tech-toggle");
    techToggle.checked = storage.get("sonde.tech") === "1";
    $("tech").hidden = !techToggle.checked;
    techToggle.addEventListener("change", () => {
      $("tech").hidden = !techToggle.checked;
      storage.set("sonde.tech", techToggle.checked ? "1" : "0");
    });
    $("launch-form").addEventListener("submit", launch);
    $("again").addEventListener("click", again);
    applyLanguage();
    drawRttChart();
    drawGauge();
    // A reload during a run picks the run up again (its whole stream replays).
    let previous = null;
    try {
      previous = window.sessionStorage.getItem("sonde.run");
    } catch (_) {
      previous = null;
    }
    if (previous && /^[0-9a-f-]{36}$/.test(previous)) {
      follow(previous);
    }
  }

  start();
})();
