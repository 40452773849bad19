// K1 dashboard — the fleet: devices, their last drift, a drift chart per device over the last
// minutes, and drift alerts, live from /ws/monitor plus the devices API.
"use strict";
(() => {
  const el = (id) => document.getElementById(id);
  const devices = new Map();   // device_id -> {name, group, connected, last_drift_ms, threshold}
  const series = new Map();    // device_id -> [{t (ms since epoch), v (drift ms), alert?}]
  const SPAN_MS = 5 * 60 * 1000, MAX_CHARTS = 12, POLL_MS = 10000;
  const C = { bg: "#0b0d12", line: "#00e5ff", limit: "#ff5c5c", zero: "#333a4a", text: "#8a90a2" };
  let monitor = null, retryMs = 500, historyPath;   // historyPath: undefined = not looked up yet

  function render() {
    const body = el("fleet").querySelector("tbody");
    body.replaceChildren(...[...devices.entries()].sort().slice(0, 500).map(([id, d]) => {
      const tr = document.createElement("tr");
      const drift = d.last_drift_ms == null ? "—" : `${d.last_drift_ms.toFixed(1)} ms`;
      const over = d.last_drift_ms != null && Math.abs(d.last_drift_ms) > (d.threshold || 50);
      for (const [text, cls] of [[id, ""], [d.group || "", "muted"],
                                 [d.connected ? "online" : "offline", d.connected ? "status ready" : "status"],
                                 [drift, over ? "status failed" : ""]]) {
        const td = document.createElement("td"); td.textContent = text; td.className = cls; tr.append(td);
      }
      return tr;
    }));
    el("fleet-empty").hidden = devices.size > 0;
    el("fleet-count").textContent = `${[...devices.values()].filter((d) => d.connected).length}/${devices.size} online`;
  }

  function alert(a) {
    const li = document.createElement("li");
    li.className = "error";
    li.textContent = `${new Date(a.received_at * 1000).toLocaleTimeString()} ${a.device_id}: drift ` +
                     `${a.drift_ms.toFixed(1)} ms (threshold ${a.threshold_ms} ms)`;
    el("alerts").prepend(li);
    while (el("alerts").children.length > 20) el("alerts").lastChild.remove();
  }

  function onMessage(m) {
    if (m.type === "fleet") {
      devices.clear();
      for (const d of m.devices) devices.set(d.device_id, { ...d, threshold: d.drift_threshold_ms });
      backfill();
    } else if (m.type === "status") {
      for (const [id, s] of Object.entries(m.devices)) devices.set(id, { ...(devices.get(id) || {}), ...s });
    } else if (m.type === "device") {
      devices.set(m.device_id, { ...(devices.get(m.device_id) || {}), connected: m.connected });
    } else if (m.type === "alert") {
      alert(m);
      devices.set(m.device_id, { ...(devices.get(m.device_id) || {}), last_drift_ms: m.drift_ms });
      add(m.device_id, m.received_at * 1000, m.drift_ms, true);
    }
    render();
  }

  // ------------------------------------------------------------ drift over time
  function add(id, t, v, isAlert = false) {
    if (!Number.isFinite(t) || !Number.isFinite(v)) return;
    const points = series.get(id) || [];
    points.push({ t, v, alert: isAlert });
    points.sort((a, b) => a.t - b.t);
    while (points.length && points[0].t < Date.now() - SPAN_MS) points.shift();
    series.set(id, points);
  }

  // Every second, each connected device's last drift is a point: the monitor socket only
  // speaks of devices whose drift changed, and a steady device is a flat line, not a gap.
  function sample() {
    const now = Date.now();
    for (const [id, d] of devices) if (d.connected && d.last_drift_ms != null) add(id, now, d.last_drift_ms);
    drawCharts();
  }

  // Several gateway processes each see only their own devices live; the API's drift statistics
  // (and, when the gateway documents one, a drift history per device) cover the whole fleet.
  async function poll() {
    for (const id of charted()) {
      try {
        const d = await (await api(`/devices/${encodeURIComponent(id)}`)).json();
        const v = d.drift?.last_drift_ms, last = series.get(id)?.at(-1);
        if (d.connected && typeof v === "number" && (!last || Date.now() - last.t > 3000)) add(id, Date.now(), v);
      } catch { /* the next poll tries again */ }
    }
  }

  async function backfill() {
    if (historyPath === undefined) historyPath = await findHistoryPath();
    if (!historyPath) return;
    for (const id of charted()) {
      try {
        const body = await (await fetch(historyPath.replace(/\{[^}]+\}/, encodeURIComponent(id)), { headers: authHeaders() })).json();
        for (const p of pointsOf(body)) add(id, p.t, p.v);
      } catch { /* no history: the chart fills from now on */ }
    }
    drawCharts();
  }

  async function findHistoryPath() {
    try {
      const spec = await (await fetch("/schema/openapi.json")).json();
      return Object.keys(spec.paths || {}).find((p) => /^\/api\/v1\/devices\/\{[^}]+\}\/[^{}]*drift/.test(p) && spec.paths[p].get) || null;
    } catch { return null; }
  }

  // Tolerant of the history's shape: a list (or the first list in an object) of points, each
  // with a time (seconds or ms since the epoch, or ISO 8601) and a drift in ms.
  function pointsOf(body) {
    const list = Array.isArray(body) ? body : Object.values(body || {}).find(Array.isArray) || [];
    const time = (p) => {
      const raw = ["t_s", "t", "ts", "time", "at", "second", "start_s", "start", "received_s", "timestamp", "bucket"]
        .map((k) => p[k]).find((x) => x != null);
      const n = typeof raw === "string" ? Date.parse(raw) : Number(raw);
      return n < 1e11 ? n * 1000 : n;
    };
    // Signed, like the live points (a per-second rollup's last drift before its |drift| P95).
    const value = (p) => ["last_drift_ms", "drift_ms", "mean_ms", "p50_ms", "p95_ms", "max_ms"]
      .map((k) => p[k]).find((x) => typeof x === "number");
    return list.filter((p) => p && typeof p === "object").map((p) => ({ t: time(p), v: value(p) }));
  }

  function charted() {  // alerting devices first, then by id
    const over = (id) => (series.get(id) || []).some((p) => p.alert);
    return [...devices.keys()].sort((a, b) => over(b) - over(a) || (a < b ? -1 : 1)).slice(0, MAX_CHARTS);
  }

  function drawCharts() {
    const box = el("drift-charts");
    if (el("app").hidden || box.offsetParent === null) return;
    const ids = charted(), now = Date.now();
    for (const fig of [...box.children]) if (!ids.includes(fig.dataset.device)) fig.remove();
    for (const id of ids) {
      let fig = box.querySelector(`figure[data-device="${CSS.escape(id)}"]`);
      if (!fig) {
        fig = document.createElement("figure"); fig.dataset.device = id;
        fig.append(document.createElement("figcaption"), document.createElement("canvas"));
        box.append(fig);
      }
      const points = series.get(id) || [], threshold = devices.get(id)?.threshold || 50;
      const last = points.at(-1);
      fig.querySelector("figcaption").textContent = `${id}  ${last ? `${last.v.toFixed(1)} ms` : "no drift yet"}`;
      chart(fig.querySelector("canvas"), points, threshold, now);
    }
  }

  function chart(canvas, points, threshold, now) {
    const w = canvas.clientWidth || 260, h = 80, dpr = window.devicePixelRatio || 1;
    canvas.width = w * dpr; canvas.height = h * dpr; canvas.style.height = `${h}px`;
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = C.bg; g.fillRect(0, 0, w, h);
    const top = Math.max(threshold * 1.5, ...points.map((p) => Math.abs(p.v) * 1.1));
    const x = (t) => w - ((now - t) / SPAN_MS) * w, y = (v) => h / 2 - (v / top) * (h / 2 - 4);
    g.fillStyle = C.zero; g.fillRect(0, Math.round(y(0)), w, 1);
    g.strokeStyle = C.limit; g.setLineDash([4, 4]); g.lineWidth = 1;
    for (const v of [threshold, -threshold]) {  // on the pixel grid: a crisp 1 px dash
      const ly = Math.round(y(v)) + 0.5;
      g.beginPath(); g.moveTo(0, ly); g.lineTo(w, ly); g.stroke();
    }
    g.setLineDash([]);
    g.strokeStyle = C.line; g.lineWidth = 1.5; g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo(x(p.t), y(p.v)) : g.moveTo(x(p.t), y(p.v))));
    g.stroke();
    g.fillStyle = C.limit;
    for (const p of points) if (p.alert || Math.abs(p.v) > threshold) g.fillRect(x(p.t) - 2, y(p.v) - 2, 4, 4);
    g.fillStyle = C.text; g.font = "10px system-ui, sans-serif";
    g.fillText(`±${Math.round(top)} ms`, 4, 11); g.fillText("−5 min", 4, h - 4); g.fillText("now", w - 22, h - 4);
    canvas.dataset.samples = String(points.length);
  }

  function connect() {
    const token = sessionStorage.getItem("k1.token");
    if (!token || el("app").hidden) { setTimeout(connect, 1000); return; }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    monitor = new WebSocket(`${scheme}://${location.host}/ws/monitor?token=${encodeURIComponent(token)}`);
    monitor.onopen = () => { retryMs = 500; el("fleet-live").className = "badge on"; };
    monitor.onmessage = (e) => onMessage(JSON.parse(e.data));
    monitor.onclose = () => {
      el("fleet-live").className = "badge off";
      setTimeout(connect, retryMs); retryMs = Math.min(retryMs * 2, 10000);
    };
  }

  connect();
  setInterval(sample, 1000);
  setInterval(() => { if (sessionStorage.getItem("k1.token") && !el("app").hidden) poll(); }, POLL_MS);
})();
