// K1 dashboard — a track's page: the song on a waveform with its beat grid, bar lines and
// sections, a playhead that moves with playback, a click on every beat, and the presets' light
// intensity and cues side by side. Song and clicks play through one WebAudio clock, so each
// click sounds exactly at its beat time (an <audio> element plus timers would drift).
"use strict";
const Track = (() => {
  const MAX_DECODE_BYTES = 100 * 1024 * 1024;  // decoded, a bigger file would take gigabytes
  const PEAKS_PER_S = 200, WINDOW_S = 8, HEAD_AT = 0.25, LOOKAHEAD_S = 0.15, LANE_H = 48;
  const COLORS = { bg: "#0b0d12", wave: "#56617a", beat: "#00e5ff", bar: "#ffd400", head: "#ff2d95", text: "#c9cedb" };
  const SECTION_COLORS = { intro: "#2b3650", verse: "#24473d", build: "#4d4322", drop: "#52223a",
                           breakdown: "#30254f", outro: "#2b3650" };
  const ACCENT_COLORS = { beat: "#9fb3c8", downbeat: "#ffd400", section: "#7cffb2", drop: "#ff5c5c" };
  const el = (id) => document.getElementById(id);

  let openId = null, audio = null;            // audio: {buffer, peaks, duration} of openId
  let grid = { beats: [], bars: [], sections: [] };   // seconds, from the current map
  let lanes = [];                              // [{preset, version, choreography}]
  let ctx = null, source = null, startedAt = 0, offset = 0, playing = false;
  let nextBeat = 0, timer = 0, frame = 0, clicks = 0, loading = null;

  // ------------------------------------------------------------ loading
  async function open(track, map, presets, canAnalyse) {
    if (openId !== track.track_id) { close(); openId = track.track_id; }
    grid = gridOf(map);
    if (playing) nextBeat = beatsBefore(position());  // a new version's grid: click on it
    requestDraw();
    if (!audio && !loading) loading = loadAudio(track).finally(() => { loading = null; });
    await Promise.all([loading, loadLanes(track, map)]);
    compareForm(track, presets, canAnalyse);
  }

  function close() {
    pause();
    openId = null; audio = null; loading = null; offset = 0; lanes = []; grid = gridOf(null);
    el("play").disabled = true; el("audio-status").textContent = "";
    el("preset-legend").replaceChildren(); el("compare-form").hidden = true; el("compare-status").textContent = "";
  }

  async function loadAudio(track) {
    const status = el("audio-status"), id = track.track_id;
    if (track.size_bytes > MAX_DECODE_BYTES) {
      status.textContent = `the file is ${Math.round(track.size_bytes / 2 ** 20)} MB; this page plays files up to 100 MB`;
      return;
    }
    status.textContent = "loading the audio…";
    try {
      const bytes = await (await api(`/tracks/${id}/audio`)).arrayBuffer();
      ctx = ctx || new AudioContext();
      const buffer = await ctx.decodeAudioData(bytes);
      if (openId !== id) return;
      audio = { buffer, peaks: peaksOf(buffer), duration: buffer.duration };
      status.textContent = "";
      el("play").disabled = false;
      requestDraw();
    } catch (err) {
      if (openId === id) status.textContent = `this browser cannot play it: ${err.message || err}`;
    }
  }

  function peaksOf(buffer) {
    const step = Math.max(1, Math.floor(buffer.sampleRate / PEAKS_PER_S));
    const n = Math.ceil(buffer.length / step), min = new Float32Array(n), max = new Float32Array(n);
    for (let c = 0; c < Math.min(buffer.numberOfChannels, 2); c++) {
      const data = buffer.getChannelData(c);
      for (let i = 0; i < n; i++) {
        let lo = min[i], hi = max[i];
        for (let j = i * step, end = Math.min(j + step, data.length); j < end; j++) {
          const v = data[j];
          if (v < lo) lo = v; else if (v > hi) hi = v;
        }
        min[i] = lo; max[i] = hi;
      }
    }
    let peak = 1e-6;  // drawn to the loudest sample, so a quiet master still shows its shape
    for (let i = 0; i < n; i++) peak = Math.max(peak, max[i], -min[i]);
    return { min, max, peak, rate: buffer.sampleRate / step };
  }

  function gridOf(map) {
    const rhythm = map?.layers?.rhythm || {}, sections = map?.layers?.annotations?.sections || [];
    const bars = (rhythm.downbeat_ms || []).map((ms) => ms / 1000);
    return {
      bars,
      beats: (rhythm.beat_grid_ms || []).map((ms) => ({ t: ms / 1000, bar: bars.some((b) => Math.abs(b - ms / 1000) < 0.02) })),
      sections: sections.map((s) => ({ start: s.start_ms / 1000, end: s.end_ms / 1000, label: s.label })),
    };
  }

  // The newest map of each preset this track was analysed with (the current one first).
  async function loadLanes(track, currentMap) {
    const id = track.track_id, current = track.analysis?.version ?? track.analysis_version;
    const versions = [];
    for (let v = current - 1; v >= Math.max(1, current - 12); v--) versions.push(v);
    const maps = await Promise.all(versions.map(async (v) => {
      try {
        const r = await fetch(`${API}/tracks/${id}/genesis-map?version=${v}`, { headers: authHeaders() });
        return r.ok ? [v, await r.json()] : null;
      } catch { return null; }
    }));
    const found = new Map();
    for (const [version, map] of [[current, currentMap], ...maps.filter(Boolean)]) {
      const c = map?.layers?.choreography;
      if (c?.intensity?.values && !found.has(c.preset)) found.set(c.preset, { preset: c.preset, version, choreography: c });
    }
    if (openId !== id) return;
    lanes = [...found.values()];
    el("preset-legend").replaceChildren(...lanes.map(legendItem));
    requestDraw();
  }

  function legendItem(lane) {
    const c = lane.choreography, counts = {};
    for (const a of c.accents || []) counts[a.kind] = (counts[a.kind] || 0) + 1;
    const mean = c.intensity.values.reduce((s, v) => s + v, 0) / c.intensity.values.length;
    const li = document.createElement("li"), swatch = document.createElement("span");
    swatch.className = "swatch"; swatch.style.background = laneColor(lane);
    li.append(swatch, `${lane.preset} (v${lane.version}): ${(c.accents || []).length} cues — ` +
      ["downbeat", "beat", "section", "drop"].map((k) => `${counts[k] || 0} ${k}s`).join(", ") +
      `; mean intensity ${mean.toFixed(2)}`);
    return li;
  }

  function compareForm(track, presets, canAnalyse) {
    const missing = presets.filter((p) => !lanes.some((l) => l.preset === p));
    const form = el("compare-form");
    form.hidden = !canAnalyse || !missing.length || !["ready", "warning"].includes(track.status);
    el("compare-preset").replaceChildren(...missing.map((p) => new Option(p, p)));
  }

  async function analyseWith(preset) {
    const status = el("compare-status");
    try {
      await api(`/tracks/${openId}/analysis`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ preset }),
      });
      status.textContent = `analysing with ${preset}; its lane appears when it is ready`;
    } catch (err) { status.textContent = String(err.message || err); }
  }

  // ------------------------------------------------------------ playback and the click
  const position = () => Math.min(playing ? ctx.currentTime - startedAt : offset, audio ? audio.duration : 0);
  const beatsBefore = (t) => {  // how many beats fall before t (binary search)
    let lo = 0, hi = grid.beats.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (grid.beats[mid].t < t) lo = mid + 1; else hi = mid; }
    return lo;
  };

  function play() {
    if (!audio || playing) return;
    ctx.resume();
    if (offset >= audio.duration - 0.01) offset = 0;
    const mine = ctx.createBufferSource();
    mine.buffer = audio.buffer;
    mine.connect(ctx.destination);
    mine.onended = () => { if (source === mine && playing) { pause(); offset = 0; requestDraw(); } };
    source = mine;
    startedAt = ctx.currentTime - offset;
    mine.start(0, offset);
    playing = true;
    nextBeat = beatsBefore(offset);
    timer = setInterval(scheduleClicks, 25);
    el("play").textContent = "❚❚ Pause";
    requestDraw();
  }

  function pause() {
    if (!playing) return;
    offset = position();
    playing = false;
    clearInterval(timer);
    source.stop();
    el("play").textContent = "▶ Play";
  }

  function seek(t) {
    const was = playing;
    pause();
    offset = Math.max(0, Math.min(t, audio ? audio.duration : 0));
    if (was) play(); else requestDraw();
  }

  function scheduleClicks() {
    const now = position();
    while (nextBeat < grid.beats.length && grid.beats[nextBeat].t < now + LOOKAHEAD_S) {
      const beat = grid.beats[nextBeat++];
      if (el("click-on").checked && beat.t >= now - 0.01) click(startedAt + beat.t, beat.bar);
    }
  }

  function click(when, bar) {  // a short sine blip, higher on the first beat of a bar
    const osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.frequency.value = bar ? 1760 : 1175;
    gain.gain.setValueAtTime(0.0001, when);
    gain.gain.exponentialRampToValueAtTime(bar ? 0.6 : 0.35, when + 0.002);
    gain.gain.exponentialRampToValueAtTime(0.0001, when + 0.05);
    osc.connect(gain).connect(ctx.destination);
    osc.start(when); osc.stop(when + 0.06);
    clicks++;
  }

  // ------------------------------------------------------------ drawing
  function requestDraw() { if (!frame) frame = requestAnimationFrame(render); }

  function render() {
    frame = 0;
    if (el("detail").hidden) return;
    const t = position();
    drawDetail(t); drawOverview(t); drawLanes(t);
    el("time").textContent = `${clock(t)} / ${audio ? clock(audio.duration) : "–"}`;
    const last = grid.beats[beatsBefore(t + 0.001) - 1];
    el("beat-flash").className = last && t - last.t < 0.1 ? (last.bar ? "on bar" : "on") : "";
    if (playing) requestDraw();
  }

  function surface(canvas, height) {
    const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(w * dpr); canvas.height = Math.round(height * dpr);
      canvas.style.height = `${height}px`;
    }
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = COLORS.bg; g.fillRect(0, 0, w, height);
    g.font = "11px system-ui, sans-serif"; g.textBaseline = "top";
    return { g, w, h: height };
  }

  function drawSections(g, x, w, h, labels) {
    for (const s of grid.sections) {
      const a = Math.max(x(s.start), 0), b = Math.min(x(s.end), w);
      if (b <= 0 || a >= w) continue;
      g.fillStyle = SECTION_COLORS[s.label] || "#2b3650"; g.fillRect(a, 0, b - a, h);
      g.fillStyle = COLORS.bg; g.fillRect(x(s.start), 0, 1, h);
      if (labels) { g.fillStyle = COLORS.text; g.fillText(s.label, Math.max(a, 0) + 4, 3); }
    }
  }

  function drawWave(g, w, h, t0, span) {
    if (!audio) return;
    const { min, max, peak, rate } = audio.peaks, mid = h / 2, per = (span * rate) / w, scale = (0.45 * h) / peak;
    g.fillStyle = COLORS.wave;
    for (let px = 0; px < w; px++) {
      const a = Math.max(Math.floor(t0 * rate + px * per), 0);
      const b = Math.min(Math.max(Math.floor(t0 * rate + (px + 1) * per), a + 1), min.length);
      let lo = 0, hi = 0;
      for (let i = a; i < b; i++) { if (min[i] < lo) lo = min[i]; if (max[i] > hi) hi = max[i]; }
      if (b > a) g.fillRect(px, mid - hi * scale, 1, Math.max(1, (hi - lo) * scale));
    }
  }

  function playhead(g, x, h) { g.fillStyle = COLORS.head; g.fillRect(Math.round(x) - 1, 0, 3, h); }

  function drawDetail(t) {
    const { g, w, h } = surface(el("wave-detail"), 170);
    const t0 = t - WINDOW_S * HEAD_AT, x = (s) => ((s - t0) * w) / WINDOW_S;
    drawSections(g, x, w, h, true);
    drawWave(g, w, h, t0, WINDOW_S);
    let bar = beatsBarIndex(t0);
    for (let i = beatsBefore(t0); i < grid.beats.length && grid.beats[i].t < t0 + WINDOW_S; i++) {
      const beat = grid.beats[i], bx = Math.round(x(beat.t));
      if (beat.bar) {
        bar++;
        g.fillStyle = COLORS.bar; g.fillRect(bx - 1, 16, 3, h - 16);
        g.fillText(String(bar), bx + 4, h - 14);
      } else {
        g.fillStyle = COLORS.beat; g.fillRect(bx, 22, 2, h - 44);
      }
    }
    playhead(g, w * HEAD_AT, h);
    el("wave-detail").dataset.beatsDrawn = String(grid.beats.length);
  }

  function beatsBarIndex(t) {  // bars started before t
    let n = 0;
    while (n < grid.bars.length && grid.bars[n] < t) n++;
    return n;
  }

  function drawOverview(t) {
    const { g, w, h } = surface(el("wave-overview"), 64);
    const span = audio?.duration || (grid.sections.at(-1)?.end ?? 0);
    if (!span) return;
    const x = (s) => (s * w) / span;
    drawSections(g, x, w, h, true);
    drawWave(g, w, h, 0, span);
    playhead(g, x(t), h);
  }

  function drawLanes(t) {
    const canvas = el("preset-lanes");
    const { g, w, h } = surface(canvas, LANE_H * lanes.length);
    const t0 = t - WINDOW_S * HEAD_AT, x = (s) => ((s - t0) * w) / WINDOW_S;
    lanes.forEach((lane, i) => {
      const top = i * LANE_H, c = lane.choreography, env = c.intensity, inner = LANE_H - 16;
      g.fillStyle = laneColor(lane); g.globalAlpha = 0.55;
      for (let px = 0; px < w; px += 2) {
        const k = Math.round(((t0 + (px * WINDOW_S) / w) * 1000 - (env.start_ms || 0)) * env.frame_rate_hz / 1000);
        const v = k >= 0 && k < env.values.length ? env.values[k] : 0;
        g.fillRect(px, top + LANE_H - 2 - v * inner, 2, v * inner);
      }
      g.globalAlpha = 1;
      for (const a of c.accents || []) {
        const ax = x(a.time_ms / 1000);
        if (ax < 0 || ax > w) continue;
        g.fillStyle = ACCENT_COLORS[a.kind] || COLORS.text;
        g.fillRect(Math.round(ax), top + LANE_H - 2 - a.strength * inner, 2, a.strength * inner);
      }
      g.fillStyle = COLORS.text; g.fillText(`${lane.preset} v${lane.version}`, 6, top + 3);
      g.fillStyle = "#262a36"; g.fillRect(0, top + LANE_H - 1, w, 1);
    });
    if (lanes.length) playhead(g, w * HEAD_AT, h);
  }

  const laneColor = (lane) => lane.choreography.palette?.[0] || COLORS.beat;
  const clock = (s) => `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`;

  // ------------------------------------------------------------ wiring
  el("play").addEventListener("click", () => (playing ? pause() : play()));
  el("click-on").checked = localStorage.getItem("k1.click") !== "off";
  el("click-on").addEventListener("change", (e) => localStorage.setItem("k1.click", e.target.checked ? "on" : "off"));
  const seekOn = (canvas, timeAt) => canvas.addEventListener("click", (e) => {
    if (audio) seek(timeAt(e.offsetX / canvas.clientWidth));
  });
  seekOn(el("wave-overview"), (f) => f * audio.duration);
  seekOn(el("wave-detail"), (f) => position() + (f - HEAD_AT) * WINDOW_S);
  el("compare-form").addEventListener("submit", (e) => { e.preventDefault(); analyseWith(el("compare-preset").value); });
  document.addEventListener("keydown", (e) => {
    if (e.code !== "Space" || el("detail").hidden || /INPUT|TEXTAREA|SELECT|BUTTON/.test(e.target.tagName)) return;
    e.preventDefault();
    if (playing) pause(); else play();
  });
  window.addEventListener("resize", requestDraw);

  return { open, close, play, pause, seek, position, get clicks() { return clicks; }, get playing() { return playing; } };
})();
