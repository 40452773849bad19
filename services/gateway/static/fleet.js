// K1 dashboard — the fleet: devices, their last drift and drift alerts, live from /ws/monitor.
"use strict";
(() => {
  const el = (id) => document.getElementById(id);
  const devices = new Map();   // device_id -> {name, group, connected, last_drift_ms, threshold}
  let monitor = null, retryMs = 500;

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
    } else if (m.type === "status") {
      for (const [id, s] of Object.entries(m.devices)) devices.set(id, { ...(devices.get(id) || {}), ...s });
    } else if (m.type === "device") {
      devices.set(m.device_id, { ...(devices.get(m.device_id) || {}), connected: m.connected });
    } else if (m.type === "alert") {
      alert(m);
      devices.set(m.device_id, { ...(devices.get(m.device_id) || {}), last_drift_ms: m.drift_ms });
    }
    render();
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
})();
