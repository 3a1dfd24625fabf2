// Argus triage dashboard: tickets on a map drawn from the district's own layers, filters, SLA
// countdowns, a ticket's evidence and sightings, and review actions. Talks only to the API.
//
// Every string from the server reaches the page as text (`el` below sets textContent; Leaflet
// tooltips get DOM nodes, never HTML strings): a hit's class, an agent id or a unit name is
// shown literally, whatever it holds. The server's Content-Security-Policy forbids inline
// script and style besides.
"use strict";

const CLASS_COLOURS = {
  vending_in_lane: "#e65100",
  construction_waste: "#6d4c41",
  illegal_structure: "#1565c0",
};
const CLASS_NAMES = {
  vending_in_lane: "street vending",
  construction_waste: "construction waste",
  illegal_structure: "illegal structure",
};
// The lifecycle's steps (engine::State::can_become).
const NEXT = {
  new: ["dispatched", "rejected", "duplicate"],
  dispatched: ["in_progress", "rejected", "duplicate"],
  in_progress: ["resolved"],
  resolved: ["verified", "in_progress"],
  verified: ["closed"],
};
const OPEN = ["new", "dispatched", "in_progress", "resolved"];
const BASE_STYLE = {
  ground: { color: "#cfd8c4", weight: 0, fillOpacity: 0.6 },
  road: { color: "#ffffff", weight: 0, fillColor: "#ffffff", fillOpacity: 1 },
  footway: { color: "#e8e2d6", weight: 0, fillOpacity: 1 },
  building: { color: "#9ea4ad", weight: 0.5, fillColor: "#c3c7cd", fillOpacity: 1 },
  vending_zone: { color: "#2e7d32", weight: 1, dashArray: "3", fillOpacity: 0.08 },
  construction_site: { color: "#f9a825", weight: 1, dashArray: "3", fillOpacity: 0.1 },
  grid_cell: { color: "#90a4ae", weight: 0.3, fill: false },
  jurisdiction: { color: "#37474f", weight: 2.5, fill: false },
};

let token = sessionStorage.getItem("argus-token") || "";
const hashToken = new URLSearchParams(location.hash.slice(1)).get("token");
if (hashToken) {
  token = hashToken;
  sessionStorage.setItem("argus-token", token);
  history.replaceState(null, "", location.pathname);
}

const $ = (id) => document.getElementById(id);

// An element with attributes (`class`, `data-*`, …; `style` as an object) and children
// (nodes, or strings added as text).
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "style") Object.assign(e.style, v);
    else if (k === "className") e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c == null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const dot = (cls) => el("span", { className: "dot", style: { background: CLASS_COLOURS[cls] || "#555" } });
const className = (cls) => CLASS_NAMES[cls] || String(cls);
const stateName = (st) => String(st).replace("_", " ");
const units = {};
let tickets = [];
let selected = null;
const markers = new Map();

const map = L.map("map", { preferCanvas: true, zoomSnap: 0.25, attributionControl: false });
map.setView([30.7, 121.02], 15);
const ticketLayer = L.layerGroup().addTo(map);

function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  return fetch(path, Object.assign({}, options, { headers })).then((r) => {
    if (r.status === 401) {
      $("login").hidden = false;
      throw new Error("sign in with an access token");
    }
    if (!r.ok) return r.text().then((t) => { throw new Error(r.status + " " + t); });
    return r;
  });
}

function status(text) {
  $("status").textContent = text;
}

function fmtDuration(s) {
  const a = Math.abs(s);
  const t = a >= 3600 ? Math.floor(a / 3600) + " h " + Math.floor((a % 3600) / 60) + " min"
    : a >= 60 ? Math.floor(a / 60) + " min " + Math.floor(a % 60) + " s"
    : Math.floor(a) + " s";
  return s < 0 ? t + " late" : t + " left";
}

function sla(t) {
  if (t.due_at == null) return { text: "—", late: false };
  const left = t.due_at - Date.now() / 1000;
  return { text: fmtDuration(left), late: left < 0 };
}

async function loadBasemap() {
  try {
    const g = await (await api("/api/v1/basemap")).json();
    // Drawn bottom to top in BASE_STYLE's order, one Leaflet layer per district layer: unit
    // borders over the streets.
    const bounds = L.latLngBounds([]);
    for (const name of Object.keys(BASE_STYLE)) {
      const features = g.features.filter((f) => f.properties.layer === name);
      if (!features.length) continue;
      const layer = L.geoJSON({ type: "FeatureCollection", features }, {
        style: BASE_STYLE[name],
        interactive: false,
      }).addTo(map);
      bounds.extend(layer.getBounds());
    }
    for (const f of g.features.filter((f) => f.properties.layer === "jurisdiction")) {
      L.tooltip({ permanent: true, direction: "center", className: "unit-label" })
        .setLatLng(L.geoJSON(f).getBounds().getCenter())
        .setContent(el("span", {}, String(f.properties.id)))
        .addTo(map);
    }
    for (const f of g.features) {
      if (f.properties.layer === "jurisdiction") units[f.properties.id] = f.properties.name || f.properties.id;
    }
    const sel = $("f-unit");
    for (const [id, name] of Object.entries(units)) {
      const o = document.createElement("option");
      o.value = id;
      o.textContent = id + " " + name;
      sel.appendChild(o);
    }
    if (bounds.isValid()) map.fitBounds(bounds);
  } catch (e) {
    status("basemap: " + e.message);
  }
}

function wanted(t) {
  const st = $("f-state").value;
  if (st === "" && !OPEN.includes(t.state)) return false;
  if (st === "review" && !(t.review && t.state === "new")) return false;
  if (st !== "" && st !== "review" && st !== "all" && t.state !== st) return false;
  if ($("f-class").value && t.class !== $("f-class").value) return false;
  if ($("f-unit").value && t.unit !== $("f-unit").value) return false;
  return true;
}

function render() {
  const shown = tickets.filter(wanted);
  const open = tickets.filter((t) => OPEN.includes(t.state));
  const review = tickets.filter((t) => t.review && t.state === "new").length;
  const late = open.filter((t) => sla(t).late).length;
  $("counts").replaceChildren(
    el("span", { "data-testid": "open-count" }, `${open.length} open`),
    el("span", {}, `${review} to review`),
    el("span", { className: late ? "bad" : "" }, `${late} past SLA`),
  );
  const body = $("list").tBodies[0];
  body.textContent = "";
  ticketLayer.clearLayers();
  markers.clear();
  for (const t of shown) {
    const tr = body.insertRow();
    tr.dataset.ticket = t.ticket_id;
    if (t.ticket_id === selected) tr.className = "sel";
    const s = sla(t);
    const inReview = t.review && t.state === "new";
    tr.append(
      el("td", {}, dot(t.class), className(t.class)),
      el("td", {}, t.unit || "—"),
      el("td", { className: inReview ? "review" : "" }, stateName(t.state) + (inReview ? " (review)" : "")),
      el("td", {}, String(t.sightings)),
      el("td", { className: "sla" + (s.late ? " late" : ""), "data-due": t.due_at ?? "" }, s.text),
    );
    tr.onclick = () => select(t.ticket_id);
    const m = L.circleMarker([t.lat, t.lon], {
      radius: 7,
      color: "#fff",
      weight: 1.5,
      fillColor: CLASS_COLOURS[t.class] || "#555",
      fillOpacity: 0.95,
    }).addTo(ticketLayer);
    m.bindTooltip(el("span", {}, `${className(t.class)} · ${t.state} · ${t.unit || "no unit"}`));
    m.on("click", () => select(t.ticket_id));
    markers.set(t.ticket_id, m);
  }
  status(`${shown.length} of ${tickets.length} tickets shown · updated ${new Date().toLocaleTimeString()}`);
}

// Every page of a list, following its `Link: <…>; rel="next"`, up to `max` tickets.
async function allPages(path, max) {
  const out = [];
  let next = path;
  while (next && out.length < max) {
    const r = await api(next);
    out.push(...(await r.json()));
    const link = r.headers.get("Link") || "";
    const m = link.match(/<([^>]+)>;\s*rel="next"/);
    next = m ? m[1] : null;
  }
  return out;
}

async function refresh() {
  try {
    // Every open ticket (the work), and the latest finished ones (for context).
    const [open, finished] = await Promise.all([
      allPages("/api/v1/tickets?state=open&limit=5000", 100000),
      allPages("/api/v1/tickets?state=finished&limit=1000", 1000),
    ]);
    tickets = open.concat(finished);
    $("login").hidden = true;
    render();
  } catch (e) {
    status(e.message);
  }
}

async function evidenceImage(url) {
  const blob = await (await api(url)).blob();
  return URL.createObjectURL(blob);
}

async function select(id) {
  selected = id;
  const d = $("detail");
  try {
    const { ticket: t, sightings, audit } = await (await api("/api/v1/tickets/" + encodeURIComponent(id))).json();
    const s = sla(t);
    const inReview = t.review && t.state === "new";
    const actions = (NEXT[t.state] || []).map((to) => {
      const b = el("button", { "data-to": to }, stateName(to));
      b.onclick = () => move(t.ticket_id, to);
      return b;
    });
    d.replaceChildren(
      el("h2", {}, `${className(t.class)} — ${stateName(t.state)}${inReview ? " (waiting for review)" : ""}`),
      el("div", {}, "Ticket ", el("code", {}, t.ticket_id), ` · category ${t.category}`),
      el("div", {}, `Unit ${t.unit || "—"} ${units[t.unit] || ""} · cell ${t.grid_cell || "—"}`),
      el("div", {}, `${t.lat.toFixed(6)}, ${t.lon.toFixed(6)} ± ${t.uncertainty_m.toFixed(1)} m · best score ${t.best_score.toFixed(2)}`),
      el("div", {}, "SLA: ", el("span", { className: "sla" + (s.late ? " late" : ""), "data-due": t.due_at ?? "" }, s.text)),
      el("div", { className: "actions", "data-testid": "actions" }, actions),
      el("div", { className: "evidence", "data-testid": "evidence" }),
      el("h3", {}, "Sightings"),
      el("ol", { className: "sightings" }, sightings.map((x) =>
        el("li", {}, `${x.observed_at} · ${x.agent_id} · score ${x.score.toFixed(2)}${x.update_of ? " (update)" : ""}`))),
      el("h3", {}, "History"),
      el("ol", {}, audit.map((e) =>
        el("li", {}, `${new Date(e.at * 1000).toLocaleTimeString()} ${e.actor}: ${e.event}`))),
    );
    d.hidden = false;
    const ev = d.querySelector(".evidence");
    for (const x of sightings.filter((x) => !x.update_of).slice(0, 6)) {
      const fig = document.createElement("figure");
      const img = document.createElement("img");
      img.alt = "evidence " + x.hit_id;
      img.src = await evidenceImage(x.evidence_url);
      fig.append(img);
      const cap = document.createElement("figcaption");
      cap.textContent = x.agent_id + " " + x.observed_at.slice(11, 19);
      fig.append(cap);
      ev.append(fig);
    }
    const m = markers.get(id);
    if (m) map.panTo(m.getLatLng());
    render();
  } catch (e) {
    status(e.message);
  }
}

async function move(id, to) {
  try {
    await api(`/api/v1/tickets/${encodeURIComponent(id)}/transition`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ to, note: "dashboard" }),
    });
    await refresh();
    await select(id);
  } catch (e) {
    status(e.message);
  }
}

function tick() {
  for (const el of document.querySelectorAll(".sla[data-due]")) {
    if (!el.dataset.due) continue;
    const left = Number(el.dataset.due) - Date.now() / 1000;
    el.textContent = fmtDuration(left);
    el.classList.toggle("late", left < 0);
  }
}

const legend = L.control({ position: "bottomleft" });
legend.onAdd = () => {
  const div = L.DomUtil.create("div", "legend");
  div.replaceChildren(...Object.entries(CLASS_NAMES).map(([k, v]) => el("div", {}, dot(k), v)));
  return div;
};
legend.addTo(map);

for (const id of ["f-state", "f-class", "f-unit"]) $(id).onchange = render;
$("login").onsubmit = (e) => {
  e.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("argus-token", token);
  loadBasemap().then(refresh);
};
loadBasemap().then(refresh);
setInterval(refresh, 3000);
setInterval(tick, 1000);
