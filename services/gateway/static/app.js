// K1 dashboard: plain JS, no build step. The token lives in sessionStorage only.
"use strict";
const API = "/api/v1";
const BAR_TRUSTED = 0.5;         // contracts.genesis_map.BAR_TRUSTED: below it bar lines are a guess
const $ = (id) => document.getElementById(id);
const rows = new Map();          // track_id -> <tr>
let socket = null, retryMs = 500, selected = null;

const token = () => sessionStorage.getItem("k1.token");
const authHeaders = () => ({ Authorization: `Bearer ${token()}` });

function claims(jwt) {
  try { return JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); }
  catch { return null; }
}

async function api(path, options = {}) {
  const response = await fetch(API + path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  if (response.status === 401) { signOut("Your token was refused or has expired."); throw new Error("unauthorized"); }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail; } catch { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

// ---------------------------------------------------------------- sign in / out
// `make run` prints /#token=<jwt>: a fragment never reaches a server. Take it into sessionStorage
// and out of the address bar (and so out of history and bookmarks) before anything else runs.
function tokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const value = params.get("token");
  if (value === null) return;
  params.delete("token");
  const rest = params.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  signIn(value, { start: false });
}

function signIn(value, { start: go = true } = {}) {
  const c = claims(value.trim());
  if (!c || !c.role) { $("signin-error").textContent = "That does not look like a K1 token."; return; }
  if (c.exp && c.exp * 1000 < Date.now()) {
    $("signin-error").textContent = "That sign-in link has expired: run `k1 token` or open a fresh link.";
    return;
  }
  sessionStorage.setItem("k1.token", value.trim());
  if (go) start();
}

function signOut(message = "") {
  sessionStorage.removeItem("k1.token");
  if (socket) { socket.onclose = null; socket.close(); socket = null; }
  Track.close();
  rows.clear(); document.querySelector("#tracks tbody").replaceChildren();
  $("app").hidden = true; $("signin").hidden = false; $("signout").hidden = true;
  $("who").textContent = "signed out"; $("signin-error").textContent = message;
}

async function start() {
  const c = claims(token());
  $("who").textContent = `${c.sub} (${c.role})`;
  $("signin").hidden = true; $("app").hidden = false; $("signout").hidden = false;
  $("upload-card").hidden = c.role === "viewer";
  try { await loadPresets(); } catch (err) { console.warn(err); }
  route();
  try {
    await loadTracks();
    connect();
  } catch (err) { console.warn(err); }
}

let presetNames = [];
async function loadPresets() {
  const presets = await (await api("/presets")).json();
  presetNames = presets.map((p) => p.name);
  $("preset").replaceChildren(...presets.map((p) => new Option(`${p.name} — ${p.description}`, p.name)));
}

async function loadTracks() {
  const page = await (await api("/tracks?limit=100")).json();
  page.items.slice().reverse().forEach(upsertRow);
}

// ---------------------------------------------------------------- pages: the list, a track
function route() {
  const id = new URLSearchParams(location.search).get("track");
  selected = id;
  rows.forEach((tr, key) => tr.classList.toggle("selected", key === id));
  $("list-view").hidden = Boolean(id);
  $("detail").hidden = !id;
  if (id) openTrack(id).catch((err) => { $("d-status").textContent = String(err.message || err); });
  else Track.close();
}

function go(id) {
  history.pushState({}, "", id ? `/?track=${encodeURIComponent(id)}` : "/");
  route();
}

// ---------------------------------------------------------------- table
function upsertRow(t) {
  let tr = rows.get(t.track_id);
  if (!tr) {
    tr = document.createElement("tr");
    tr.dataset.trackId = t.track_id;
    tr.innerHTML = "<td><div class='file'></div><div class='reason'></div></td><td><span class='status'></span></td>" +
                   "<td class='stage'></td><td><progress max='100' value='0'></progress></td><td class='created muted'></td>";
    tr.addEventListener("click", () => go(t.track_id));
    document.querySelector("#tracks tbody").prepend(tr);
    rows.set(t.track_id, tr);
  }
  if (t.filename) tr.querySelector(".file").textContent = t.filename;
  if (t.created_at) tr.querySelector(".created").textContent = new Date(t.created_at).toLocaleString();
  const status = tr.querySelector(".status");
  status.textContent = t.status; status.className = `status ${t.status}`;
  tr.dataset.status = t.status;
  // Why a track failed (or why an uploaded map of it was refused) reads in the list itself.
  const reason = t.error_reason ?? t.error;
  if (reason !== undefined) tr.querySelector(".reason").textContent = reason || "";
  tr.querySelector(".stage").textContent = t.stage || "";
  tr.querySelector("progress").value = t.progress_pct ?? t.percent ?? 0;
  $("empty").hidden = rows.size > 0;
}

// ---------------------------------------------------------------- live updates
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}${API}/events?token=${encodeURIComponent(token())}`);
  // Whatever changed before the socket was open (between the list's first load and now, or
  // while it was reconnecting) is read again, so no update is lost in the gap.
  socket.onopen = () => {
    retryMs = 500; $("live").className = "badge on";
    loadTracks().catch((err) => console.warn(err));
  };
  socket.onmessage = (event) => onUpdate(JSON.parse(event.data));
  socket.onclose = () => {
    $("live").className = "badge off";
    if (token()) setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

async function onUpdate(u) {
  if (u.status === "deleted") { rows.get(u.track_id)?.remove(); rows.delete(u.track_id); return; }
  if (!rows.has(u.track_id)) {
    try { upsertRow(await (await api(`/tracks/${u.track_id}`)).json()); } catch { return; }
  }
  upsertRow({ track_id: u.track_id, status: u.status, stage: u.stage, percent: u.percent, error: u.error });
  if (selected === u.track_id && ["ready", "warning", "failed"].includes(u.status)) openTrack(u.track_id);
}

// ---------------------------------------------------------------- upload
function upload(file, preset) {
  const bar = $("upload-progress"), label = $("upload-status");
  const xhr = new XMLHttpRequest();
  // Cut by code points, not UTF-16 units, so an emoji at the limit is not split in half.
  const name = Array.from(file.name.normalize("NFC")).slice(0, 255).join("");
  const query = new URLSearchParams({ filename: name, preset });
  xhr.open("POST", `${API}/tracks?${query}`);
  xhr.setRequestHeader("Authorization", `Bearer ${token()}`);
  xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
  bar.hidden = false; bar.value = 0; label.textContent = "uploading…";
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 200 || xhr.status === 201) {
      bar.value = 100;
      label.textContent = body.duplicate ? `already known: ${body.filename}` : `uploaded: ${body.filename}`;
      upsertRow({ ...body, stage: "uploaded", progress_pct: 0, created_at: new Date().toISOString() });
    } else {
      label.textContent = `upload refused (${xhr.status}): ${body.detail || xhr.statusText}`;
    }
  };
  xhr.onerror = () => { label.textContent = "upload failed: network error"; };
  xhr.send(file);
}

// ---------------------------------------------------------------- a track's page
async function openTrack(id) {
  const t = await (await api(`/tracks/${id}`)).json();
  if (selected !== id) return;
  $("detail-title").textContent = t.filename;
  $("d-status").textContent = `${t.status} (${t.stage}, ${Math.round(t.progress_pct)} %)`;
  $("d-preset").textContent = t.preset;
  $("d-duration").textContent = t.duration_ms ? `${(t.duration_ms / 1000).toFixed(1)} s` : "–";
  $("d-error").textContent = t.error_reason || "–";
  $("d-bpm").textContent = t.analysis?.bpm ? t.analysis.bpm.toFixed(1) : "–";
  $("d-beats").textContent = "–"; $("d-meter").textContent = "–"; $("d-sections").replaceChildren();
  await showPicture(t.analysis?.picture_url);
  const map = t.analysis?.map_url ? await fetchMap(t.analysis.map_url) : null;
  if (map) showMap(map);
  await Track.open(t, map, presetNames, claims(token())?.role !== "viewer");
}

async function fetchMap(url) {
  const response = await fetch(url, { headers: authHeaders() });
  return response.ok ? response.json() : null;
}

async function showPicture(url) {
  const img = $("picture");
  img.hidden = true; $("picture-none").hidden = false;
  if (!url) return;
  const blob = await (await fetch(url, { headers: authHeaders() })).blob();
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(blob);
  img.onload = () => { img.hidden = false; $("picture-none").hidden = true; };
}

function showMap(map) {
  const rhythm = map.layers?.rhythm || {};
  const beats = rhythm.beat_grid_ms || [];
  $("d-beats").textContent = `${beats.length} (${(rhythm.downbeat_ms || []).length} downbeats)`;
  const written = rhythm.time_signature || (rhythm.beats_per_bar ? `${rhythm.beats_per_bar} beats a bar` : "");
  const barConfidence = map.metadata?.analysis_config?.bar_confidence;
  const unsure = typeof barConfidence === "number" && barConfidence < BAR_TRUSTED;
  $("d-meter").textContent = written ? written + (unsure ? " (bar lines uncertain)" : "") : "–";
  const sections = map.layers?.annotations?.sections || [];
  $("d-sections").replaceChildren(...sections.map((s) => {
    const li = document.createElement("li");
    li.textContent = `${s.label}: ${(s.start_ms / 1000).toFixed(1)}–${(s.end_ms / 1000).toFixed(1)} s`;
    return li;
  }));
}

// ---------------------------------------------------------------- wiring
$("signin-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("token").value); });
$("signout").addEventListener("click", () => signOut());
for (const link of [$("home"), $("back")]) {
  link.addEventListener("click", (e) => { e.preventDefault(); go(null); });
}
window.addEventListener("popstate", () => { if (token()) route(); });
// A link that differs from the open page only in its fragment does not reload the page.
window.addEventListener("hashchange", () => { tokenFromFragment(); if (token() && $("app").hidden) start(); });
$("upload-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const file = $("file").files[0];
  if (file) upload(file, $("preset").value);
});
tokenFromFragment();
if (token()) start();
