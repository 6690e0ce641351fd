// citywatch operator console: plain JavaScript, no external assets (control rooms are often offline).
"use strict";
const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k ?? ""));
  return e;
};
const state = { token: sessionStorage.getItem("cw-token"), me: null, selected: null, lastEventId: null,
                streamAbort: null, view: "inbox", timers: [], checked: new Set() };

async function api(path, opts = {}) {
  const headers = { ...(opts.headers || {}), Authorization: `Bearer ${state.token}`, "Accept-Language": I18N.lang };
  if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.json); }
  const r = await fetch(path, { ...opts, headers });
  if (r.status === 401) { logout(); throw new Error("signed out"); }
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(body.detail || r.statusText);
  return body;
}
const canAct = () => state.me && (state.me.role === "operator" || state.me.role === "admin");

// -- sign in -----------------------------------------------------------------------------
$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new URLSearchParams({ username: $("#username").value, password: $("#password").value });
  const r = await fetch("/api/v1/auth/token", { method: "POST", body: form });
  const body = await r.json();
  if (!r.ok) { $("#login-error").textContent = body.detail; return; }
  state.token = body.access_token;
  sessionStorage.setItem("cw-token", state.token);
  if (WALL) startWall().catch(failed); else start();
});

function logout() {
  sessionStorage.removeItem("cw-token");
  state.token = null;
  state.streamAbort?.abort();
  state.timers.forEach(clearInterval);
  location.reload();
}

async function start() {
  state.me = await api("/api/v1/auth/me");
  if (state.me.language && state.me.language !== I18N.lang) setLang(state.me.language);
  drawWho();
  document.body.dataset.role = state.me.role;
  $("#login").hidden = true;
  $("#tabs").hidden = false;
  show("inbox");
  await loadPlaces();
  $("#zone-filter").append(...[...state.zones].sort(([a], [b]) => a.localeCompare(b)).map(([z, name]) => el("option", { value: z }, name)));
  await loadAlerts();
  stream();
  state.timers.push(setInterval(() => { if (state.view === "map") drawMap(); if (state.view === "boards") drawBoards(); }, 5000));
}

// where things are: devices and zones by their names, so that alerts say a place, not an id
async function loadPlaces() {
  const [devices, zones] = await Promise.all([api("/api/v1/devices?limit=5000"), api("/api/v1/zones")]);
  state.devices = new Map(devices.map((d) => [d.device_id, d]));
  state.zones = new Map(zones.map((z) => [z.zone_id, z.name]));
  for (const d of devices) if (d.zone_id && !state.zones.has(d.zone_id)) state.zones.set(d.zone_id, d.zone_id);
}
// an alert's subject as a place: the device's name and its district, or the zone's name (the id on hover)
function place(subject) {
  if (subject.startsWith("zone:")) return state.zones?.get(subject.slice(5)) || subject;
  const d = state.devices?.get(subject);
  if (!d) return subject;
  const zone = state.zones?.get(d.zone_id);
  return zone ? `${d.name} · ${zone}` : d.name;
}

// what an operator did, said where they look (and to screen readers): shown for a few seconds
function said(text, ok = true) {
  $("#announce").textContent = text;
  const toast = $("#toast");
  toast.textContent = text;
  toast.className = ok ? "toast ok" : "toast bad";
  toast.hidden = false;
  clearTimeout(said.timer);
  said.timer = setTimeout(() => { toast.hidden = true; }, 4000);
}

// a view that could not be drawn says so (and why, in the browser's console) instead of staying blank
function failed(e) {
  console.error(e?.stack || e);
  $("#announce").textContent = e?.message || String(e);
}

function drawWho() {
  $("#who").replaceChildren(t("who", { name: state.me.name, role: t(`role.${state.me.role}`) }) + " ",
    el("button", { onclick: logout }, t("login.signout")));
  $("#lang-switch").replaceChildren(languageSwitch(async (lang) => {  // the account keeps it; the page redraws
    if (state.me) {
      await api("/api/v1/auth/me", { method: "PATCH", json: { language: lang } });
      drawWho(); await loadAlerts(); show(state.view);
      if (state.selected) await openDetail(state.selected);
    }
  }));
}

for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => show(b.dataset.view));
function show(view) {
  state.view = view;
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== view;
  for (const b of document.querySelectorAll("#tabs button")) b.toggleAttribute("aria-current", b.dataset.view === view);
  if (view === "map") drawMap().catch(failed);
  if (view === "boards") drawBoards();
  if (view === "rules") drawRules();
  if (view === "maintenance") drawMaintenance();
  if (view === "report-page") drawReport().catch(failed);
}

// -- maintenance windows: current and coming, planned ahead, extended, ended ------------------
async function drawMaintenance() {
  const ws = await api("/api/v1/maintenance");
  const act = async (path, init, done) => {
    try { await api(path, init); said(done); } catch (e) { said(e.message, false); }
    await drawMaintenance();
  };
  $("#m-windows").replaceChildren(
    el("tr", {}, ...["#", t("m.subject"), t("m.rules"), t("report.since"), t("report.until"), t("mute.reason"), t("report.person"), t("m.muted"), ""]
      .map((h) => el("th", { scope: "col" }, h))),
    ...ws.map((w) => el("tr", { "data-window": w.id }, el("td", {}, String(w.id)), el("td", { title: w.subject }, place(w.subject)),
      el("td", {}, w.rule_prefix || t("m.all")),
      el("td", {}, fmtTime(w.starts_at)), el("td", {}, fmtTime(w.ended_at || w.ends_at)), el("td", {}, w.reason), el("td", {}, w.created_by),
      el("td", {}, String(w.muted_alerts)),
      el("td", { class: "operator-only" },
        el("button", { class: "m-extend", onclick: () => act(`/api/v1/maintenance/${w.id}`, { method: "PATCH", json: { extend_min: 60 } }, t("actions.extended", { id: w.id })) }, t("actions.extend")),
        el("button", { class: "m-end", onclick: () => act(`/api/v1/maintenance/${w.id}/end`, { method: "POST" }, t("actions.unmuted", { id: w.id })) }, t("m.end"))))));
  if (!ws.length) $("#m-windows").append(el("tr", {}, el("td", { colspan: "9", class: "muted" }, t("m.none"))));
}
$("#m-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData($("#m-form"));
  const body = { subject: f.get("subject").trim(), reason: f.get("reason").trim(), duration_min: Math.round(Number(f.get("hours")) * 60) };
  if (f.get("rule_prefix")) body.rule_prefix = f.get("rule_prefix").trim();
  if (f.get("starts_at")) body.starts_at = new Date(f.get("starts_at")).toISOString();
  try {
    const w = await api("/api/v1/maintenance", { method: "POST", json: body });
    said(t("m.created", { subject: place(w.subject), id: w.id }));
    $("#m-form").reset();
  } catch (e) { said(e.message, false); }
  await drawMaintenance();
});

// a setting's value in words: lists joined, mappings as "key value"
function showValue(v) {
  if (Array.isArray(v)) return v.join(", ");
  if (v && typeof v === "object") return Object.entries(v).map(([k, x]) => `${k} ${showValue(x)}`).join(", ");
  return String(v);
}
// one CCTV event type's rule (or the part of it a zone or camera gives) in words
const sevWord = (s) => (s === "off" ? t("rules.off") : t(`severity.${s}`));
const areaWord = (a) => (I18N.messages[I18N.lang]?.[`area.${a}`] ? t(`area.${a}`) : a);
const eventWord = (type) => t(`event.${type}`);
function eventRule(x) {
  const out = [];
  if (x.day !== undefined) out.push(t("rules.by_day", { sev: sevWord(x.day) }));
  if (x.night) out.push(t("rules.at_night", { sev: sevWord(x.night) }));
  for (const [area, sev] of Object.entries(x.areas || {})) out.push(t("rules.at_area", { sev: sevWord(sev), area: areaWord(area) }));
  for (const [sev, at] of Object.entries(x.above_confidence || {})) out.push(t("rules.from_confidence", { sev: sevWord(sev), at }));
  for (const [sev, n] of Object.entries(x.above_count || {})) out.push(t("rules.from_count", { sev: sevWord(sev), n }));
  if (x.same_as) out.push(t("rules.same_as", { event: eventWord(x.same_as) }));
  return out.join(", ");
}
const eventRules = (table) => Object.entries(table).map(([type, x]) => `${eventWord(type)}: ${eventRule(x)}`).join("; ");
function eventTable(table) {  // the table in force: how severe each event type is
  return el("table", { class: "events" }, el("tr", {}, el("th", { scope: "col" }, t("rules.event")), el("th", { scope: "col" }, t("col.severity"))),
    ...Object.entries(table).map(([type, x]) => el("tr", {}, el("th", { scope: "row" }, eventWord(type)), el("td", {}, eventRule(x)))));
}

// -- the rules in force (read-only): per rule its procedure and timings; thresholds; notification routes
async function drawRules() {
  const r = await api("/api/v1/rules");
  const secs = (s) => (s === null || s === undefined ? t("rules.never") : s < 5400 ? t("span.min", { n: Math.round(s / 60) }) : t("span.h", { n: (s / 3600).toFixed(1) }));
  const a = r.analytics;
  $("#rules-source").textContent = t("rules.source", { source: r.source, digest: r.digest }) + " " +
    (!a ? t("rules.unknown")
      : a.same_as_file ? t("rules.same", { at: fmtTime(a.reported_at) })
      : a.refused ? t("rules.refused", { digest: a.digest, why: a.refused })
      : t("rules.behind", { digest: a.digest }));
  $("#rules-source").classList.toggle("error", Boolean(a && !a.same_as_file));
  const row = (name, p) => el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, [p.escalate_after_s, ...p.escalate_again_after_s].map(secs).join(t("rules.then"))),
    el("td", {}, secs(p.remind_after_s)), el("td", {}, t(p.auto_resolve ? "rules.yes" : "rules.no")),
    el("td", {}, p.runbook ? t("rules.own", { n: p.runbook[I18N.lang]?.length ?? 0 }) : t("rules.packaged")));
  $("#r-policies").replaceChildren(
    el("tr", {}, ...[t("f.rule"), t("rules.escalates"), t("rules.reminds"), t("rules.resolves"), t("procedure.label")].map((h) => el("th", { scope: "col" }, h))),
    ...Object.entries(r.policies).map(([name, p]) => row(name, p)), row(t("rules.other"), r.default_policy));
  const own = Object.fromEntries(Object.entries(r.policies).filter(([, p]) => p.runbook).map(([n, p]) => [n, p.runbook]));
  const lang = I18N.lang;
  $("#r-runbooks").replaceChildren(...Object.entries({ ...r.runbooks, ...own }).sort(([a], [b]) => a.localeCompare(b)).map(([name, steps]) =>
    el("article", { lang: steps[lang] ? lang : Object.keys(steps)[0] }, el("h4", {}, name + (own[name] ? t("rules.own_mark") : "")),
      el("ol", {}, ...(steps[lang] || Object.values(steps)[0]).map((s) => el("li", {}, s))))));
  $("#r-thresholds").replaceChildren(...Object.entries(r.thresholds).map(([domain, t]) => el("article", {}, el("h4", {}, domain),
    el("dl", {}, ...Object.entries(t).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, k === "events" ? eventTable(v) : showValue(v))])))));
  const devs = Object.entries(r.devices);
  $("#r-devices").replaceChildren(...(devs.length
    ? devs.flatMap(([dev, sections]) => Object.entries(sections).map(([section, kv]) => el("tr", {},
        el("th", { scope: "row" }, dev), el("td", {}, section),
        el("td", {}, Object.entries(kv).map(([k, v]) => `${k} ${k === "events" ? eventRules(v) : showValue(v)}`).join(", ")))))
    : [el("tr", {}, el("td", { class: "muted" }, t("rules.no_devices")))]));
  $("#r-routes").replaceChildren(
    el("tr", {}, ...[t("report.sink"), t("rules.min_severity"), t("filters.kind"), t("f.rule"), t("report.notifications"), t("rules.per_hour"), t("rules.min_level")]
      .map((h) => el("th", { scope: "col" }, h))),
    ...Object.entries(r.notifications).map(([sink, x]) => el("tr", {}, el("th", { scope: "row" }, sink), el("td", {}, sevWord(x.min_severity)),
      el("td", {}, x.kinds.join(", ") || t("m.all")), el("td", {}, x.rules.join(", ") || t("m.all")), el("td", {}, x.what.join(", ") || t("m.all")),
      el("td", {}, x.max_per_hour ?? t("rules.no_cap")), el("td", {}, x.min_escalation_level || t("filters.any")))));
}

// -- alerts inbox --------------------------------------------------------------------------
$("#filters").addEventListener("change", () => loadAlerts());
$("#filters").addEventListener("submit", (e) => { e.preventDefault(); loadAlerts(); });

async function loadAlerts(flashId = null) {
  drawCounts();
  const f = new FormData($("#filters"));
  const q = new URLSearchParams({ limit: "200" });
  for (const [k, v] of f.entries()) if (v) q.append(k, v);
  const page = await api(`/api/v1/alerts?${q}`);
  state.shown = page.items.map((a) => a.id);
  state.items = new Map(page.items.map((a) => [a.id, a]));  // as the API gives them: in the reader's language
  for (const id of [...state.checked]) if (!state.shown.includes(id)) state.checked.delete(id);
  const rows = page.items.map((a) => {
    const box = el("input", { type: "checkbox", class: "pick", "aria-label": t("table.select", { id: a.id, title: a.title }) });
    box.checked = state.checked.has(a.id);
    box.addEventListener("click", (e) => e.stopPropagation());
    box.addEventListener("change", () => { box.checked ? state.checked.add(a.id) : state.checked.delete(a.id); bulkBar(); });
    const tr = el("tr", { tabindex: "0", "data-id": a.id, "data-state": a.state, class: a.id === state.selected ? "selected" : "" },
      el("td", { class: "operator-only" }, box),
      el("td", {}, el("span", { class: `sev ${a.severity}` }, t(`severity.${a.severity}`))), el("td", {}, t(`state.${a.state}`)),
      el("td", {}, a.title, a.muted_by ? el("span", { class: "muted-tag", title: t("tag.muted.hint", { id: a.muted_by }) }, t("tag.muted")) : "",
        a.escalation_level && a.state === "open" ? el("span", { class: "escalated-tag", title: t("tag.escalated.hint", { level: a.escalation_level }) }, ` ▲${a.escalation_level}`) : ""),
      el("td", { title: a.subject }, place(a.subject)), el("td", {}, fmtTime(a.opened_at)), el("td", {}, String(a.count)));
    tr.addEventListener("click", () => openDetail(a.id));
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openDetail(a.id); } });
    if (a.id === flashId) tr.classList.add("flash");
    return tr;
  });
  $("#alerts tbody").replaceChildren(...rows);
  if (!rows.length) $("#alerts tbody").append(el("tr", {}, el("td", { colspan: "7", class: "muted" }, t("inbox.none"))));
  bulkBar();
}

// the open alerts by severity, above the list: what the room faces at a glance
async function drawCounts() {
  const s = await api("/api/v1/alerts/stats");
  $("#counts").replaceChildren(...["critical", "warning", "info"].map((sev) =>
    el("span", { class: `count ${sev}${s.open_by_severity[sev] ? "" : " zero"}`, "data-severity": sev },
      el("b", {}, String(s.open_by_severity[sev] || 0)), " ", t(`severity.${sev}`))),
    el("span", { class: "count acked" }, el("b", {}, String(s.acknowledged)), " ", t("state.acknowledged")));
}

// -- many alerts at once (a storm): select, then acknowledge or resolve them all ---------------
function bulkBar() {
  const n = state.checked.size;
  $("#bulk-count").textContent = n ? t("bulk.count", { n }) : "";
  $("#bulk-ack").disabled = $("#bulk-resolve").disabled = n === 0;
  $("#select-all").checked = n > 0 && n === (state.shown || []).length;
}
$("#select-all").addEventListener("change", (e) => {
  state.checked = new Set(e.target.checked ? state.shown : []);
  for (const box of document.querySelectorAll("#alerts .pick")) box.checked = e.target.checked;
  bulkBar();
});
async function bulk(action) {
  const ids = [...state.checked];
  const note = action === "resolve" ? (prompt(t("bulk.note", { n: ids.length }), "") ?? null) : "";
  if (note === null) return;
  try {
    const res = await api("/api/v1/alerts/bulk", { method: "POST", json: { ids, action, note } });
    const done = res.filter((r) => r.ok).length, not = res.filter((r) => !r.ok);
    said(t(action === "resolve" ? "bulk.done.resolve" : "bulk.done.ack", { n: done }) +
      (not.length ? t("bulk.not", { n: not.length, why: not.map((r) => `#${r.id} ${r.error}`).join("; ") }) : ""), !not.length);
    state.checked.clear();
  } catch (e) { said(e.message, false); }
  await loadAlerts();
  if (state.selected) await openDetail(state.selected);
}
// -- the shift report: what the outgoing shift hands over (the last 12 hours), as text for the shift log
$("#report").addEventListener("click", () => show("report-page"));
$("#report-hours").addEventListener("change", () => drawReport().catch(failed));
$("#report-print").addEventListener("click", () => window.print());  // the browser's print: paper or a PDF
$("#report-back").addEventListener("click", () => show("inbox"));

// the shift report as a page for the hand-over: the head figures, what the next shift inherits, the episodes,
// the rules that fired, who did what, maintenance and notifications; in the reader's language and the city's time
async function drawReport() {
  const hours = Number($("#report-hours").value);
  const end = new Date(), start = new Date(end - hours * 3600e3);
  const r = await api(`/api/v1/alerts/report?start=${start.toISOString()}&end=${end.toISOString()}`);
  $("#report-range").textContent = t("report.range", { start: fmtTime(r.start), end: fmtTime(r.end), tz: I18N.tz });
  const mins = (s) => (s === null ? "—" : t("report.minutes", { n: (s / 60).toFixed(1) }));
  const sev = (x) => el("span", { class: `sev ${x}` }, t(`severity.${x}`));
  const figure = (id, n, label) => el("div", { class: "figure", id }, el("b", {}, String(n)), el("span", {}, label));
  const section = (title, head, rows, empty) => [el("h3", {}, title),
    rows.length ? el("table", { class: "report-table" }, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c))))))
      : el("p", { class: "muted" }, empty)];
  $("#report-body").replaceChildren(
    el("div", { class: "figures" },
      figure("r-opened", r.opened, t("report.opened")),
      figure("r-critical", r.opened_by_severity.critical || 0, t("severity.critical")),
      figure("r-warning", r.opened_by_severity.warning || 0, t("severity.warning")),
      figure("r-escalated", r.escalated, t("report.escalated")),
      figure("r-mtta", mins(r.mtta_s), t("report.mtta")),
      figure("r-mttr", mins(r.mttr_s), t("report.mttr")),
      figure("r-load", r.load.per_hour.toFixed(1), t("report.load", { rating: t(`load.${r.load.rating.replace(/[ -]/g, "_")}`) }))),
    ...section(t("report.still_open", { n: r.still_open.length }), [t("col.severity"), t("col.state"), t("col.title"), t("col.subject"), t("col.opened"), t("f.assignee")],
      r.still_open.map((a) => [sev(a.severity), t(`state.${a.state}`), a.title, place(a.subject), fmtTime(a.opened_at), a.assignee || "—"]), t("report.none")),
    ...section(t("report.episodes"), [t("col.severity"), t("col.title"), t("col.subject"), t("report.since"), t("report.until")],
      r.episodes.map((e) => [sev(e.severity), e.title, place(e.subject), fmtTime(e.since), e.until ? fmtTime(e.until) : t("report.ongoing")]), t("report.none")),
    ...section(t("report.by_rule"), [t("f.rule"), t("report.opened"), t("report.worst"), t("report.open_now")],
      r.by_rule.map((x) => [x.rule, String(x.opened), sev(x.worst), String(x.still_open)]), t("report.none")),
    ...section(t("report.people"), [t("report.person"), t("state.acknowledged"), t("state.resolved"), t("actions.comment")],
      r.operators.map((o) => [o.actor, String(o.acknowledged), String(o.resolved), String(o.commented)]), t("report.none")),
    ...section(t("nav.maintenance"), [t("f.subject"), t("mute.reason"), t("report.since"), t("report.until"), t("report.person")],
      r.maintenance.map((w) => [place(w.subject), w.reason, fmtTime(w.starts_at), fmtTime(w.until), w.created_by]), t("report.none")),
    ...section(t("report.notifications"), [t("report.sink"), t("report.sent"), t("report.held"), t("report.not_routed")],
      r.notifications.map((n) => [n.sink, String(n.sent), String(n.held_back), String(n.not_routed)]), t("report.none")));
}
$("#bulk-ack").addEventListener("click", () => bulk("acknowledge"));
$("#bulk-resolve").addEventListener("click", () => bulk("resolve"));

async function openDetail(id) {
  state.selected = id;
  for (const tr of document.querySelectorAll("#alerts tbody tr")) tr.classList.toggle("selected", tr.dataset.id == id);
  const a = await api(`/api/v1/alerts/${id}`);
  const x = a.explanation || {};
  const dl = el("dl", {});
  const add = (k, v) => { if (v !== null && v !== undefined && v !== "") dl.append(el("dt", {}, k), el("dd", {}, String(v))); };
  add(t("f.rule"), a.rule); add(t("f.subject"), a.subject); add(t("f.severity"), t(`severity.${a.severity}`)); add(t("f.state"), t(`state.${a.state}`));
  add(t("f.observed"), x.observed); add(t("f.threshold"), x.threshold); add(t("f.baseline"), x.baseline); add(t("f.score"), x.score);
  add(t("f.window"), x.window_start ? `${fmtTime(x.window_start)} – ${fmtTime(x.window_end)}` : null);
  add(t("f.why"), x.message);
  if (Array.isArray(x.details?.devices)) add(t("f.devices"), x.details.devices.join(", "));  // e.g. a zone outage
  if (Array.isArray(x.details?.cameras)) {  // a CCTV incident: the cameras to put on the wall screen
    const first = x.details.first_camera;
    add(t("f.cameras"), x.details.cameras.map((c) => (c === first ? t("f.first", { camera: c }) : c)).join(", "));
  }
  add(t("f.escalated"), a.escalation_level ? t("f.escalated.value", { level: a.escalation_level, at: fmtTime(a.escalated_at) }) : null);
  add(t("f.muted"), a.muted_by ? t("f.muted.value", { id: a.muted_by }) : null);
  add(t("f.assignee"), a.assignee); add(t("f.opened"), fmtTime(a.opened_at)); add(t("f.last_seen"), fmtTime(a.last_seen));
  const parts = [el("h3", {}, a.title), dl];
  if (a.procedure) parts.push(procedure(a));
  const chart = await windowChart(a);
  if (chart) parts.push(chart);
  if (canAct() && a.state !== "resolved") parts.push(actions(a));
  if (a.earlier?.length) {  // does it keep coming back, and what was done last time?
    parts.push(el("h4", {}, t("detail.earlier", { subject: a.subject, n: a.earlier.length })),
      el("ul", { class: "earlier" }, ...a.earlier.map((e) => el("li", {},
        `${fmtTime(e.opened_at)}${e.count > 1 ? ` ×${e.count}` : ""} — ` +
        (e.resolved_at ? t("detail.earlier.resolved", { who: e.resolved_by }) + (e.note ? `: ${e.note}` : "") : t("detail.earlier.open"))))));
  }
  parts.push(el("h4", {}, t("detail.audit")),
    el("ol", { class: "audit" }, ...a.audit.map((e) => el("li", {}, t("detail.audit.entry", { at: fmtTime(e.at), action: auditAction(e.action), actor: e.actor }) + (e.detail ? `: ${e.detail}` : "")))));
  $("#detail").replaceChildren(...parts);
}

// an audit trail's action in the reader's words (one the catalogue lacks, as the API wrote it)
function auditAction(action) {
  const said = t(`audit.${action}`);
  return said === `audit.${action}` ? action : said;
}

// what to do: the rule's procedure as a checklist; a tick is the operator's, with who and when, in the audit trail
function procedure(a) {
  const steps = a.procedure.steps;
  const done = steps.filter((s) => s.done).length;
  return el("section", { class: "procedure", "aria-label": t("procedure.label"), lang: a.procedure.language },
    el("h4", {}, t("procedure.title", { done, n: steps.length })),
    el("ol", {}, ...steps.map((s) => {
      const box = el("input", { type: "checkbox", id: `step-${s.step}`, "data-step": s.step });
      box.checked = s.done;
      box.disabled = !canAct();
      box.addEventListener("change", () => perform(a, `/api/v1/alerts/${a.id}/procedure/${s.step}`,
        { method: "POST", json: { done: box.checked } }, t("procedure.said", { n: s.step, what: t(box.checked ? "procedure.done" : "procedure.undone") })));
      return el("li", { class: s.done ? "done" : "" }, el("label", { for: box.id }, box, " ", s.text),
        s.done ? el("span", { class: "by" }, ` — ${s.by}, ${fmtTime(s.at)}`) : "");
    })));
}

// an operator's act on the open alert: the request, then the list and the detail anew
async function perform(a, path, init, done = "") {
  try {
    await api(path, init);
    if (done) said(done);
  } catch (e) { said(e.message, false); }
  await loadAlerts(); await openDetail(a.id);
}

function actions(a) {
  const act = (path, json) => perform(a, `/api/v1/alerts/${a.id}/${path}`, { method: "POST", json });
  const note = el("input", { "aria-label": t("actions.note"), placeholder: t("actions.note.placeholder"), id: "note" });
  const who = el("input", { "aria-label": t("actions.assignee"), placeholder: t("actions.assignee.placeholder"), id: "assignee" });
  const id = a.muted_by, rs = { rule: a.rule, subject: a.subject };
  return el("div", { class: "actions", role: "group", "aria-label": t("actions.label") },
    a.state === "open" ? el("button", { id: "ack", onclick: () => act("acknowledge") }, t("actions.ack")) : "",
    who, el("button", { id: "assign", onclick: () => act("assign", { assignee: who.value || null }) }, t("actions.assign")),
    note, el("button", { id: "comment", onclick: () => note.value && act("comments", { text: note.value }) }, t("actions.comment")),
    el("button", { id: "resolve", onclick: () => act("resolve", { note: note.value }) }, t("actions.resolve")),
    ...(a.muted_by
      ? [el("button", { id: "extend", title: t("actions.extend.hint", { id }),
          onclick: () => perform(a, `/api/v1/maintenance/${id}`, { method: "PATCH", json: { extend_min: 60 } }, t("actions.extended", { id })) },
          t("actions.extend")),
        el("button", { id: "unmute", title: t("actions.unmute.hint", { id }),
          onclick: () => perform(a, `/api/v1/maintenance/${id}/end`, { method: "POST" }, t("actions.unmuted", { id })) },
          t("actions.unmute"))]
      : [el("button", { id: "mute", title: t("actions.mute.hint"), onclick: () => muteDialog(a, note.value) }, t("actions.mute")),
        // ISA-18.2 shelving: a nuisance alert set aside for the shift, this rule on this subject only
        el("button", { id: "shelve", title: t("actions.shelve.hint", rs),
          onclick: () => perform(a, "/api/v1/maintenance", { method: "POST", json: { subject: a.subject, rule_prefix: a.rule, duration_min: 480,
            reason: note.value || t("actions.shelve.reason", { id: a.id }) } }, t("actions.shelved", rs)) },
          t("actions.shelve"))]));
}

// muting, scoped explicitly: this rule on this subject by default; everything of the subject only when chosen,
// and for a whole zone (a district) only with a reason and a confirmation, so one click never silences a district
function muteDialog(a, note) {
  const zone = a.subject.startsWith("zone:");
  const scope = (id, value, text, checked) => el("label", { class: "choice" },
    Object.assign(el("input", { type: "radio", name: "mute-scope", id, value }), { checked }), " ", text);
  const span = (m) => (m < 60 ? t("span.min", { n: m }) : t("span.h", { n: m / 60 }));
  const duration = el("select", { id: "mute-duration", "aria-label": t("mute.how_long") },
    ...[30, 60, 120, 240, 480].map((m) => Object.assign(el("option", { value: m }, span(m)), { selected: m === 120 })));
  const reason = el("input", { id: "mute-reason", "aria-label": t("mute.reason"), placeholder: t("mute.reason.placeholder"), value: note || "" });
  const confirm = el("input", { type: "checkbox", id: "mute-confirm" });
  const z = a.subject.slice(5), rs = { rule: a.rule, subject: a.subject };
  const confirmRow = el("label", { class: "choice warn", id: "mute-confirm-row", hidden: "" }, confirm, " ", t("mute.confirm", { zone: z }));
  const ok = el("button", { id: "mute-ok", class: "primary" }, t("mute.ok"));
  const dialog = el("dialog", { id: "mute-dialog", "aria-labelledby": "mute-title" },
    el("h3", { id: "mute-title" }, t("mute.title", { subject: a.subject })),
    el("fieldset", {}, el("legend", {}, t("mute.what")),
      scope("scope-rule", "rule", t("mute.scope.rule", rs), true),
      scope("scope-subject", "subject", zone ? t("mute.scope.zone", { zone: z }) : t("mute.scope.device", { subject: a.subject }), false)),
    el("label", { for: "mute-duration" }, t("mute.for")), duration,
    el("label", { for: "mute-reason" }, t("mute.reason")), reason, confirmRow,
    el("p", { class: "error", id: "mute-why", role: "status" }),
    el("div", { class: "actions" }, ok, el("button", { id: "mute-cancel", onclick: () => dialog.close() }, t("mute.cancel"))));
  const wide = () => dialog.querySelector("#scope-subject").checked;
  const check = () => {  // what is missing before the mute may go ahead
    confirmRow.hidden = !(zone && wide());
    const why = zone && wide() && !reason.value.trim() ? t("mute.need_reason")
      : zone && wide() && !confirm.checked ? t("mute.need_confirm") : "";
    $("#mute-why", dialog).textContent = why;
    ok.disabled = Boolean(why);
  };
  dialog.addEventListener("input", check); dialog.addEventListener("change", check);
  dialog.addEventListener("close", () => dialog.remove());
  ok.addEventListener("click", async () => {
    const minutes = Number(duration.value), all = wide();
    const json = { subject: a.subject, duration_min: minutes,
      reason: reason.value.trim() || t("mute.default_reason", { id: a.id }), ...(all ? {} : { rule_prefix: a.rule }) };
    dialog.close();
    await perform(a, "/api/v1/maintenance", { method: "POST", json },
      all ? t("mute.done.all", { subject: a.subject, span: span(minutes) }) : t("mute.done.rule", { ...rs, span: span(minutes) }));
  });
  document.body.append(dialog);
  check();
  dialog.showModal();
}

// a small chart of the data window, when the alert is about a device and says which metric
async function windowChart(a) {
  const x = a.explanation || {};
  const metric = x.details?.metric || x.details?.pollutant;
  if (!metric) return null;
  const end = new Date(x.window_end || a.last_seen).getTime();
  const begin = x.window_start ? new Date(x.window_start).getTime() : end - 3 * 3600e3;
  const t0 = new Date(begin - 3600e3).toISOString(), t1 = new Date(end + 3600e3).toISOString();
  let s;
  try { s = await api(`/api/v1/devices/${encodeURIComponent(a.subject)}/series?metric=${metric}&start=${t0}&end=${t1}&max_points=120`); }
  catch { return null; }
  const pts = s.points.filter((p) => p.v !== null);
  if (pts.length < 2) return null;
  // an unusual-pattern alert (aq.shape) also draws, per stretch of hours, the mean it had (solid) and the
  // mean the closest pattern this station has shown had there (dashed): what was new, at a glance
  const steps = [];
  const segs = x.details?.segments_h, shape = x.details?.shape, near = x.details?.nearest;
  if (Array.isArray(segs) && Array.isArray(shape) && Array.isArray(near) && near.length === segs.length) {
    let to = end;
    const isNew = (h) => !Array.isArray(x.details.new_segments_h) || x.details.new_segments_h.includes(h);
    segs.forEach((h, i) => { const from = to - h * 3600e3; steps.push({ from, to, now: shape[i], then: near[i], isNew: isNew(h) }); to = from; });
  }
  const vs = [...pts.map((p) => p.v), ...steps.flatMap((st) => [st.now, st.then])];
  const lo = Math.min(...vs), hi = Math.max(...vs) || 1;
  const a0 = new Date(t0).getTime(), a1 = new Date(t1).getTime();
  const W = 320, H = 90, tx = (t) => ((t - a0) / (a1 - a0)) * W, ty = (v) => H - ((v - lo) / (hi - lo || 1)) * (H - 10) - 5;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${metric} around the alert: ${lo.toFixed(2)} to ${hi.toFixed(2)} ${s.unit}`);
  const poly = (points, colour, dash, cls) => {
    const line = document.createElementNS(svg.namespaceURI, "polyline");
    line.setAttribute("points", points.map(([t, v]) => `${tx(t)},${ty(v)}`).join(" "));
    line.setAttribute("fill", "none"); line.setAttribute("stroke", colour); line.setAttribute("stroke-width", "2");
    if (dash) line.setAttribute("stroke-dasharray", "4 3");
    if (cls) line.setAttribute("class", cls);
    svg.append(line);
  };
  poly(pts.map((p) => [new Date(p.t).getTime(), p.v]), "#58a6ff", false, "data");
  for (const st of steps) {
    poly([[st.from, st.then], [st.to, st.then]], "#d29922", true, "known");
    if (st.isNew) poly([[st.from, st.now], [st.to, st.now]], "#f85149", false, "new");
  }
  const caption = steps.length
    ? `${metric} (${s.unit}) around the alert; red: its means over the stretches that were new, dashed: the closest pattern this station has shown`
    : `${metric} (${s.unit}) around the alert`;
  return el("figure", {}, svg, el("figcaption", { class: "muted" }, caption));
}

// -- the live stream (SSE read with fetch, so the token travels in a header) ------------------
async function stream() {
  const live = $("#live");
  for (;;) {
    state.streamAbort = new AbortController();
    try {
      const q = state.lastEventId ? `?after=${state.lastEventId}` : "";
      const r = await fetch(`/api/v1/alerts/stream${q}`, { headers: { Authorization: `Bearer ${state.token}` }, signal: state.streamAbort.signal });
      if (r.status === 401) return logout();
      live.classList.add("on"); live.title = "live";
      await readEvents(r, (ev) => onAlertEvent(ev.event, ev.data, ev.id));
    } catch (e) { if (state.streamAbort.signal.aborted) return; }
    live.classList.remove("on"); live.title = "reconnecting…";
    await new Promise((res) => setTimeout(res, 2000));
  }
}

let reloadPending = null;
function onAlertEvent(what, a, id) {
  if (id) state.lastEventId = id;
  const loud = a.severity === "critical" && !a.muted && (what === "opened" || what === "reopened" || what === "escalated" || what === "reminded");
  if (loud) beep();
  const alarming = a.severity === "critical" && (what === "opened" || what === "reopened" || what === "escalated");
  clearTimeout(reloadPending);
  reloadPending = setTimeout(async () => {
    await loadAlerts(alarming ? a.alert_id : null);  // only a new critical alert flashes
    if (loud) $("#announce").textContent = t("alert.critical", { title: state.items.get(a.alert_id)?.title || a.title });
    if (state.selected === a.alert_id) openDetail(a.alert_id);
  }, 150);
}

function beep() {
  try {
    const ctx = new AudioContext(), o = ctx.createOscillator(), g = ctx.createGain();
    o.frequency.value = 880; g.gain.value = 0.1; o.connect(g).connect(ctx.destination);
    o.start(); o.stop(ctx.currentTime + 0.25);
  } catch { /* no audio device */ }
}

// -- city map (Leaflet, no tile server: offline): district outlines, bus routes, devices by kind ----------
// Devices cluster at low zoom; alerting devices are never clustered and lie on top; a click opens the device,
// its live alerts, and from there the alert in the inbox.
const KINDS = { aq: "A", parking: "P", cctv: "C", stop: "S", bus: "B" };
const map = { view: null, zones: null, routes: null, devices: null, alerting: null, waiting: null };

function marker(lat, lon, kind, cls, label, popup) {
  const icon = L.divIcon({ className: `mk kind-${kind} ${cls}`, html: `<span><i>${KINDS[kind] || "?"}</i></span>`, iconSize: [22, 22] });
  return L.marker([lat, lon], { icon, title: label, alt: label, keyboard: true, riseOnHover: true }).bindPopup(popup);
}

function devicePopup(d, alerts, st) {
  const box = el("div", { class: "popup" }, el("strong", {}, d.name || d.device_id),
    el("div", { class: "muted" }, `${d.device_id} · ${t(`kind.${d.kind}`)} · ${t(`map.state.${st}`)}`));
  for (const a of alerts) {
    box.append(el("div", {}, el("a", { href: "#", class: "to-alert", "data-id": a.id,
      onclick: (e) => { e.preventDefault(); show("inbox"); openDetail(a.id); } }, `${t(`severity.${a.severity}`)}: ${a.title}`)));
  }
  return box;
}

// a bus's popup: where it is, and for operators a one-time code to pair its terminal (read out to the driver)
function busPopup(busId, label) {
  const box = el("div", { class: "popup" }, el("strong", {}, label));
  if (canAct()) {
    const out = el("p", { class: "pairing" });
    box.append(el("button", { class: "pair", "data-bus": busId, onclick: async () => {
      try {
        const p = await api(`/api/v1/driver/${encodeURIComponent(busId)}/pairing`, { method: "POST" });
        out.replaceChildren(t("pair.code", { bus: busId }), el("b", { class: "pair-code" }, `${p.code.slice(0, 3)} ${p.code.slice(3)}`),
          t("pair.until", { at: fmtClock(p.expires_at) }));
      } catch (e) { said(e.message, false); }
    } }, t("pair.button")), out);
  }
  return box;
}

async function drawMap() {
  const [devices, open, buses, requests, zones, routes] = await Promise.all([
    api("/api/v1/devices?limit=5000"), api("/api/v1/alerts?limit=500"), api("/api/v1/buses"), api("/api/v1/bell/requests"),
    map.view ? null : api("/api/v1/zones"), map.view ? null : api("/api/v1/transit/routes"),
  ]);
  $("#map-legend").replaceChildren(...["aq", "parking", "cctv", "stop", "bus"].map((k) =>
    el("span", { class: "key" }, el("span", { class: `mk kind-${k}` }, el("span", {}, el("i", {}, KINDS[k]))), " ", t(`kind.${k}`))),
    el("span", { class: "key" }, el("span", { class: "mk kind-aq alerting" }, el("span", {}, el("i", {}, "!"))), " ", t("map.alerting")),
    el("span", { class: "key" }, el("span", { class: "ring" }), " ", t("map.waiting")));
  if (!map.view) {  // once: the map, the districts with their names, the routes
    map.view = L.map("citymap", { zoomSnap: 0.25, minZoom: 6, maxZoom: 19, attributionControl: true, zoomControl: !WALL });
    map.view.attributionControl.setPrefix(false);
    const outlines = zones.filter((z) => z.boundary);
    map.zones = L.geoJSON(outlines.map((z) => ({ type: "Feature", properties: z, geometry: z.boundary })), {
      style: { color: "#8b949e", weight: 2, fillColor: "#30363d", fillOpacity: 0.25, className: "zone" },
      onEachFeature: (f, layer) => layer.bindTooltip(f.properties.name, { permanent: true, direction: "center", className: "zone-label" }),
    }).addTo(map.view);
    for (const a of new Set(outlines.map((z) => z.attribution).filter(Boolean))) map.view.attributionControl.addAttribution(a);
    const colours = ["#58a6ff", "#d2a8ff", "#3fb950", "#f0883e", "#ff7b72", "#79c0ff"];
    map.routes = L.geoJSON(routes, {
      style: (f) => ({ color: colours[[...f.properties.route_id].reduce((n, c) => n + c.charCodeAt(0), 0) % colours.length], weight: 4, opacity: 0.7, className: "route" }),
      onEachFeature: (f, layer) => layer.bindTooltip(f.properties.name, { sticky: true }),
    }).addTo(map.view);
    // the view first (layers of markers need one): the districts, else the devices, else the world
    const located = devices.filter((d) => d.lat !== null && d.lon !== null).map((d) => [d.lat, d.lon]);
    const bounds = map.zones.getBounds().isValid() ? map.zones.getBounds() : L.latLngBounds(located);
    if (bounds.isValid()) map.view.fitBounds(bounds, { padding: [20, 20] }); else map.view.setView([0, 0], 2);
    map.devices = L.markerClusterGroup({ maxClusterRadius: 45, disableClusteringAtZoom: 16, showCoverageOnHover: false }).addTo(map.view);
    map.waiting = L.layerGroup().addTo(map.view);
    map.alerting = L.layerGroup().addTo(map.view);  // added last: on top of everything
  }
  const bySubject = new Map();
  for (const a of open.items) bySubject.set(a.subject, [...(bySubject.get(a.subject) || []), a]);
  const calm = [], loud = [], waiting = [];
  const pts = devices.filter((d) => d.lat !== null && d.lon !== null && d.kind !== "bus");
  for (const d of pts) {
    const alerts = bySubject.get(d.device_id) || [];
    const st = alerts.length ? "alerting" : d.state === "online" ? "ok" : "offline";
    const m = marker(d.lat, d.lon, d.kind, st, `${d.name || d.device_id}: ${t(`map.state.${st}`)}`, devicePopup(d, alerts, st));
    if (alerts.length) { m.setZIndexOffset(1000); loud.push(m); } else calm.push(m);
  }
  const panels = new Map(devices.filter((d) => d.kind === "stop").map((d) => [d.device_id, d]));
  const count = new Map();  // per stop panel, the passengers waiting there
  for (const r of requests) count.set(r.device_id, (count.get(r.device_id) || 0) + r.passengers);
  for (const [panel, n] of count) {
    const s = panels.get(panel);
    if (s && s.lat !== null) waiting.push(L.circleMarker([s.lat, s.lon], { radius: 14, color: "#f2cc60", weight: 3, fill: false, className: "waiting" })
      .bindTooltip(t("map.waiting.at", { stop: s.name, n })));
  }
  for (const b of buses) {
    const label = t("map.bus", { bus: b.bus_id, route: b.route_id, kmh: b.speed_kmh.toFixed(0) });
    loud.push(marker(b.lat, b.lon, "bus", "ok", label, busPopup(b.bus_id, label)).setZIndexOffset(500));
  }
  map.devices.clearLayers(); map.devices.addLayers(calm);
  map.waiting.clearLayers(); waiting.forEach((w) => map.waiting.addLayer(w));
  map.alerting.clearLayers(); loud.forEach((m) => map.alerting.addLayer(m));
  map.view.invalidateSize();
}

// -- boards ----------------------------------------------------------------------------------
const table = (id, head, rows) => $(id).replaceChildren(
  el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h)))),
  el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c))))));

// a small chart of one station's PM2.5 over the last 24 hours (quarter-hour means), drawn once every 5 minutes
const SPARK_MS = 300000;
const sparks = new Map();  // station -> { at, el }
function sparkline(deviceId) {
  const known = sparks.get(deviceId);
  if (known && Date.now() - known.at < SPARK_MS) return known.el;
  const box = el("div", { class: "spark", "data-device": deviceId });
  sparks.set(deviceId, { at: Date.now(), el: box });
  const t1 = new Date(), t0 = new Date(t1 - 24 * 3600e3);
  api(`/api/v1/devices/${encodeURIComponent(deviceId)}/series?metric=pm25&start=${t0.toISOString()}&end=${t1.toISOString()}&max_points=96`)
    .then((s) => {
      const pts = s.points.filter((p) => p.v !== null);
      if (pts.length < 2) return;
      const data = [pts.map((p) => Date.parse(p.t) / 1000), pts.map((p) => p.v)];
      box.replaceChildren();
      new uPlot({ width: 120, height: 32, cursor: { show: false }, legend: { show: false }, select: { show: false },
        axes: [{ show: false }, { show: false }], scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(hi, 35)] } },
        series: [{}, { stroke: "#79c0ff", width: 2, fill: "rgba(121,192,255,.15)", points: { show: false } }] }, data, box);
      box.title = t("boards.spark", { max: Math.round(Math.max(...data[1])), now: Math.round(data[1][data[1].length - 1]) });
    })
    .catch(() => { sparks.delete(deviceId); });
  return box;
}

const grade = (g, text) => el("span", { class: `band ${g || "none"}` }, text);
const pm = (v, g) => (v === null || v === undefined ? el("span", { class: "muted" }, "—") : grade(g, `${Math.round(v)} ${t(`grade.${g}`)}`));

// the bell's ETAs count down between refreshes: each from when it was read
let etas = [];
setInterval(() => {
  for (const { node, eta, at } of etas) {
    const left = Math.max(0, eta - (Date.now() - at) / 1000);
    node.textContent = left < 60 ? t("driver.eta.s", { n: Math.floor(left / 5) * 5 }) : t("driver.eta.min", { n: Math.ceil(left / 60) });
  }
}, 1000);

async function drawBoards() {
  const [st, adv, lots, cctv, reqs, passes, ingest] = await Promise.all([
    api("/api/v1/airquality/stations"), api("/api/v1/airquality/advisories"), api("/api/v1/parking/lots"),
    api("/api/v1/cctv/counts"), api("/api/v1/bell/requests"), api("/api/v1/bell/passes/stats?start=" + new Date(Date.now() - 86400e3).toISOString()),
    api("/api/v1/platform/ingest"),
  ]);
  const zone = (z) => state.zones?.get(z) || z || "";
  table("#b-aq", [t("boards.station"), t("filters.zone"), t("boards.cai"), t("boards.pm10"), t("boards.pm25"), t("boards.pm25_24h")],
    st.map((s) => [s.name, zone(s.zone_id),
      s.cai === null ? el("span", { class: "muted" }, "—") : grade(s.grade, `${s.cai} ${t(`grade.${s.grade}`)}`),
      pm(s.pm10_24h, s.grades.pm10), pm(s.pm25_24h, s.grades.pm25), sparkline(s.device_id)]));
  $("#b-adv").replaceChildren(...(adv.length ? adv.map((a) => el("li", {}, t("boards.advisory", { title: a.title, since: fmtTime(a.issued_at) })))
    : [el("li", { class: "muted" }, t("boards.none"))]));
  table("#b-parking", [t("boards.lot"), t("boards.occupancy"), t("boards.free"), t("boards.status")], lots.map((l) => {
    const rate = l.capacity ? Math.min(1, (l.capacity - l.available) / l.capacity) : 0;
    return [l.name, el("span", { class: `meter ${l.status}`, role: "meter", "aria-valuenow": Math.round(rate * 100), "aria-valuemin": 0, "aria-valuemax": 100,
      title: `${Math.round(rate * 100)}%` }, el("span", { style: null, class: "fill", "data-pct": Math.round(rate * 100) })),
      t("wall.free", { n: l.available, of: l.capacity }), el("span", { class: `status ${l.status}` }, t(`lot.${l.status}`))];
  }));
  for (const f of document.querySelectorAll("#b-parking .fill")) f.style.width = `${f.dataset.pct}%`;
  const zones = {};
  for (const c of cctv) zones[c.zone] = (zones[c.zone] || 0) + c.events;
  table("#b-cctv", [t("filters.zone"), t("boards.events")], Object.entries(zones).map(([z, n]) => [zone(z), String(n)]));
  const now = Date.now();
  etas = [];
  table("#b-bell", [t("boards.stop"), t("boards.route"), t("boards.bus"), t("boards.eta"), t("boards.waiting")], reqs.map((r) => {
    const eta = el("span", { class: "eta" }, "—");
    if (r.eta_s !== null) etas.push({ node: eta, eta: r.eta_s, at: now });
    const stop = [...(state.devices?.values() || [])].find((d) => d.device_id === r.device_id);
    return [stop ? stop.name : r.stop_id, r.route_id, r.bus_id || "—", eta, t("driver.eta.min", { n: Math.ceil(r.waiting_s / 60) })];
  }));
  const np = passes.reduce((n, p) => n + p.no_stop_passes, 0);
  $("#b-passes").textContent = t("boards.no_stop", { n: np });
  table("#b-platform", [t("boards.received"), t("boards.written"), t("boards.duplicates"), t("boards.dead"), t("boards.gaps")],
    [[ingest.received, ingest.written, ingest.duplicates, ingest.dead_lettered, ingest.gaps].map((n) => n.toLocaleString(I18N.lang))]);
}

// -- the wall screen (?wall): a read-only kiosk for 1920×1080 and 3840×2160 seen from 3–5 m -------------
// Signed in with a viewer's API key given in the address's fragment (never sent to a server or a log):
// /console?wall#key=cwk_…; summary tiles, the map, and a side panel that rotates through the latest alerts,
// the air and the parking. No controls: nothing to click, nothing that scrolls.
// the panel turns every 20 s, or as often as the address says (?wall&turn=30: seconds, at least 5)
const WALL_TURN_MS = Math.max(5, Number(new URLSearchParams(location.search).get("turn")) || 20) * 1000;
async function startWall() {
  const key = new URLSearchParams(location.hash.slice(1)).get("key");
  if (key) { state.token = key; sessionStorage.setItem("cw-token", key); history.replaceState(null, "", location.pathname + location.search); }
  if (!state.token) { $("#login").hidden = false; return; }
  state.me = await api("/api/v1/auth/me");
  if (state.me.language) setLang(state.me.language);
  $("#login").hidden = true;
  $("#wall").hidden = false;
  await loadPlaces();
  $("#wall-map").append($("#citymap"));
  state.view = "wall";
  const panels = [wallAlerts, wallAir, wallParking];
  let turn = 0;
  const draw = async () => {
    const k = turn;  // a panel read for an earlier turn is not drawn over the current one
    const panel = async () => { const [title, rows] = await panels[k % panels.length](); if (k === turn) wallPanel(title, rows); };
    await Promise.all([wallTiles(), drawMap(), panel()]).catch(failed);
  };
  await draw();
  state.timers.push(setInterval(draw, 5000), setInterval(() => { turn += 1; draw(); }, WALL_TURN_MS));
}

async function wallTiles() {
  const [s, adv, lots, reqs] = await Promise.all([api("/api/v1/alerts/stats"), api("/api/v1/airquality/advisories"),
    api("/api/v1/parking/lots"), api("/api/v1/bell/requests")]);
  const tile = (id, n, label, cls) => el("div", { class: `tile ${cls}${n ? "" : " zero"}`, id }, el("b", {}, String(n)), el("span", {}, label));
  $("#wall-tiles").replaceChildren(
    tile("t-critical", s.open_by_severity.critical || 0, t("wall.critical"), "critical"),
    tile("t-warning", s.open_by_severity.warning || 0, t("wall.warning"), "warning"),
    tile("t-advisories", adv.length, t("wall.advisories"), "advisory"),
    tile("t-full", lots.filter((l) => l.status === "full").length, t("wall.lots_full"), "parking"),
    tile("t-buses", new Set(reqs.filter((r) => r.bus_id).map((r) => r.bus_id)).size, t("wall.buses_waiting"), "bus"),
    el("div", { class: "tile clock" }, el("b", {}, fmtClock(Date.now())), el("span", {}, t("wall.now"))));
}

function wallPanel(title, rows) {
  $("#wall-side").replaceChildren(el("h2", {}, title), el("ol", { class: "wall-list" }, ...rows.slice(0, 7)));
}

async function wallAlerts() {
  const page = await api("/api/v1/alerts?min_severity=warning&limit=8");
  return [t("wall.latest"), page.items.length ? page.items.map((a) => el("li", { class: a.severity },
    el("span", { class: `sev ${a.severity}` }, t(`severity.${a.severity}`)), " ", el("span", { class: "what" }, a.title),
    el("span", { class: "where" }, `${place(a.subject)} · ${fmtClock(a.opened_at)}`))) : [el("li", { class: "muted" }, t("inbox.none"))]];
}

async function wallAir() {
  const st = await api("/api/v1/airquality/stations");
  const worst = st.filter((s) => s.cai !== null).sort((a, b) => b.cai - a.cai);
  return [t("wall.air"), worst.map((s) => el("li", {}, el("span", { class: `band ${s.grade}` }, `${s.cai} ${t(`grade.${s.grade}`)}`), " ",
    el("span", { class: "what" }, s.name), el("span", { class: "where" }, state.zones.get(s.zone_id) || "")))];
}

async function wallParking() {
  const lots = await api("/api/v1/parking/lots");
  return [t("wall.parking"), [...lots].sort((a, b) => a.available - b.available).map((l) => el("li", {},
    el("span", { class: `status ${l.status}` }, t("wall.free", { n: l.available, of: l.capacity })), " ", el("span", { class: "what" }, l.name)))];
}

const WALL = new URLSearchParams(location.search).has("wall");
if (WALL) document.body.classList.add("wall");
loadI18n().then(() => {
  $("#lang-switch").replaceChildren(languageSwitch());
  if (WALL) startWall().catch(failed);
  else if (state.token) start().catch(() => logout());
});
