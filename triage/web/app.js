// Argus triage dashboard: tickets on a map drawn from the district's own layers, filters, SLA
// countdowns, a ticket's evidence and sightings, and review actions; the patrols with their
// schedules and runs, a run's route, events and tickets (`#run=ID`, `#ticket=ID` link them).
// Talks only to the API; buttons that change things are shown to an operator only (the API
// checks every change regardless).
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
let role = "viewer";
const markers = new Map();
const canChange = () => role === "operator" || role === "admin";

const map = L.map("map", { preferCanvas: true, zoomSnap: 0.25, attributionControl: false });
map.setView([30.7, 121.02], 15);
const ticketLayer = L.layerGroup().addTo(map);
const routeLayer = L.layerGroup().addTo(map);
// Routes are drawn as SVG paths (the tickets stay on the canvas).
const routeRenderer = L.svg();

function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  return fetch(path, Object.assign({}, options, { headers })).then((r) => {
    if (r.status === 401) {
      $("login").hidden = false;
      throw new Error("sign in with an access token");
    }
    if (!r.ok) {
      return r.text().then((t) => {
        let why = t;
        try { why = JSON.parse(t).error || t; } catch (_) { /* not JSON */ }
        throw new Error(r.status + " " + why);
      });
    }
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
    const { ticket: t, sightings, audit, runs } = await (await api("/api/v1/tickets/" + encodeURIComponent(id))).json();
    routeLayer.clearLayers();
    history.replaceState(null, "", "#ticket=" + encodeURIComponent(id));
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
      el("h3", {}, "Patrol flights"),
      el("ul", { className: "flights", "data-testid": "flights" }, (runs || []).map((r) =>
        el("li", {}, runLink(r), ` ${r.plan_id} · ${r.kind} · ${r.relation === "verification" ? "sent to verify it" : "saw it"} · ${r.scheduled_at}`))),
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

// A run state's colour group.
function stateGroup(st) {
  if (st === "ok") return "good";
  if (["failed", "rejected", "timeout", "canceled", "partially_done"].includes(st)) return "bad";
  if (["skipped", "missed"].includes(st)) return "idle";
  return "active";
}

const runBadge = (st) => el("span", { className: "run-state " + stateGroup(st), "data-state": st }, stateName(st));
const runLink = (r) => el("a", { href: "#run=" + encodeURIComponent(r.run_id), "data-run": r.run_id }, runBadge(r.state));

async function whoami() {
  try {
    role = (await (await api("/api/v1/whoami")).json()).role;
  } catch (e) {
    role = "viewer";
  }
}

function renderPatrols(plans, docks) {
  $("patrols").hidden = plans.length === 0;
  $("docks").replaceChildren(...docks.map((d) =>
    el("span", { "data-dock": d.id }, `${d.id} `,
      el("span", { className: d.online ? "online" : "offline" }, d.online ? "online" : "offline"),
      d.busy ? " · busy" : "")));
  $("plans").replaceChildren(...plans.map((p) => {
    const head = el("h3", {}, `${p.id}`, el("span", { className: "cron" }, `${p.kind} · ${p.dock}`));
    if (canChange()) {
      const b = el("button", { className: "run-now", "data-plan": p.id }, "Run now");
      b.onclick = () => runNow(p.id);
      head.append(b);
    }
    const sc = p.schedule;
    const blackouts = sc ? [sc.blackout_hours, ...(sc.blackout_dates || [])].filter(Boolean) : [];
    return el("div", { className: "plan", "data-plan": p.id },
      head,
      el("div", { className: "cron", "data-testid": "schedule" },
        sc ? `${sc.cron} (${sc.timezone})${blackouts.length ? " · not " + blackouts.join(", ") : ""}` : "not scheduled (run on demand)"),
      el("div", {}, "Next: ", el("span", { className: "next" }, p.next.map((n) => n.local).join(" · ") || "—")),
      el("ul", { className: "last-runs" }, p.last_runs.map((r) =>
        el("li", {}, runLink(r), ` ${r.kind} · ${r.scheduled_at.slice(0, 16).replace("T", " ")} UTC${r.reason ? " · " + r.reason : ""}`))),
    );
  }));
}

async function refreshPatrols() {
  try {
    const [plans, docks] = await Promise.all([
      api("/api/v1/patrols").then((r) => r.json()),
      api("/api/v1/docks").then((r) => r.json()),
    ]);
    renderPatrols(plans, docks);
  } catch (e) {
    status("patrols: " + e.message);
  }
}

async function runNow(planId) {
  try {
    const r = await (await api(`/api/v1/patrols/${encodeURIComponent(planId)}/run`, { method: "POST" })).json();
    status(`run ${r.run_id} of ${planId} asked for`);
    await refreshPatrols();
    location.hash = "run=" + encodeURIComponent(r.run_id);
  } catch (e) {
    status(e.message);
    await refreshPatrols();
  }
}

async function cancelRun(id) {
  try {
    await api(`/api/v1/runs/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    await refreshPatrols();
    await showRun(id);
  } catch (e) {
    status(e.message);
  }
}

async function showRun(id) {
  const d = $("detail");
  try {
    const { run: r, events, route, tickets: found } = await (await api("/api/v1/runs/" + encodeURIComponent(id))).json();
    selected = null;
    history.replaceState(null, "", "#run=" + encodeURIComponent(id));
    const actions = [];
    if (canChange() && !r.over) {
      const b = el("button", { className: "cancel-run", "data-run": r.run_id }, "Cancel");
      b.onclick = () => cancelRun(r.run_id);
      actions.push(b);
    }
    d.replaceChildren(
      el("h2", {}, `Patrol ${r.plan_id} — `, runBadge(r.state)),
      el("div", {}, "Run ", el("code", {}, r.run_id), ` · ${r.kind} · dock ${r.dock_id}`),
      el("div", {}, `At ${r.scheduled_at} · updated ${r.updated_at}${r.reason ? " · " + r.reason : ""}`),
      el("div", { className: "actions", "data-testid": "run-actions" }, actions),
      el("h3", {}, `Tickets found (${found.length})`),
      el("ul", { className: "run-tickets", "data-testid": "run-tickets" }, found.map((t) =>
        el("li", {}, dot(t.class),
          el("a", { href: "#ticket=" + encodeURIComponent(t.ticket_id), "data-ticket": t.ticket_id }, className(t.class)),
          ` · ${stateName(t.state)}`))),
      el("h3", {}, "Events"),
      el("ol", { className: "run-events" }, events.map((e) =>
        el("li", {}, `${e.at.slice(11, 19)} ${e.event}`))),
      el("div", { hidden: route != null }, "Route: its plan is not loaded"),
    );
    d.hidden = false;
    routeLayer.clearLayers();
    if (route) {
      const line = L.polyline(route.geometry.coordinates.map(([lon, lat]) => [lat, lon]), {
        renderer: routeRenderer, color: "#6a1b9a", weight: 3, className: "route",
      }).addTo(routeLayer);
      const [hlon, hlat] = route.properties.home;
      L.circleMarker([hlat, hlon], { renderer: routeRenderer, radius: 6, color: "#6a1b9a", className: "route-home" })
        .bindTooltip(el("span", {}, `dock ${r.dock_id}`)).addTo(routeLayer);
      map.fitBounds(line.getBounds(), { padding: [20, 20] });
    }
    render();
  } catch (e) {
    status(e.message);
  }
}

// `#run=ID` and `#ticket=ID` open a run or a ticket (the token is never in the address).
function follow() {
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.get("run")) showRun(h.get("run"));
  else if (h.get("ticket")) select(h.get("ticket"));
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
  start();
};
window.addEventListener("hashchange", follow);
async function start() {
  await whoami();
  await loadBasemap();
  await Promise.all([refresh(), refreshPatrols()]);
  follow();
}
start();
setInterval(refresh, 3000);
setInterval(refreshPatrols, 10000);
setInterval(tick, 1000);
