// citywatch driver terminal: the next stop where passengers wait, in large type, with one button. The
// distance and the time to the stop count down between the boarding bell's updates; a new stop chimes and
// its card pulses once (no vibration: the screen is fixed to the dashboard).
"use strict";
const $ = (s) => document.querySelector(s);
const bus = decodeURIComponent(location.pathname.split("/").pop());
const key = `cw-terminal-${bus}`;
let token = localStorage.getItem(key);
let shown = null; // the stop on screen
let heard = new Set(); // the requests already announced
let clockOffset = 0; // the API's clock minus this terminal's (from the stream's Date header)

$("#bus").value = bus;
async function signedIn(r) {
  const b = await r.json();
  if (!r.ok) { $("#signin-error").textContent = b.detail; return; }
  token = b.access_token;
  localStorage.setItem(key, token);
  run();
}
// pairing: the code an operator reads out from the console, once
$("#pair-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  signedIn(await fetch("/api/v1/driver/pair", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ bus, code: $("#code").value }) }));
});
$("#signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  signedIn(await fetch("/api/v1/driver/token", { method: "POST",
    body: new URLSearchParams({ username: $("#bus").value, password: $("#secret").value }) }));
});

// how far the first stop is now: the state's distance and time, less what has passed since it was computed
// (the bus keeps the speed the estimate assumed; the next update corrects it)
function remaining(stop, at) {
  const elapsed = Math.max(0, (Date.now() + clockOffset - at) / 1000);
  const eta = stop.eta_s === null ? null : Math.max(0, stop.eta_s - elapsed);
  const dist = stop.distance_m === null ? null
    : stop.eta_s ? Math.max(0, stop.distance_m * (eta / stop.eta_s)) : stop.distance_m;
  return { eta, dist };
}

function drawEta() {
  if (!shown) return;
  const { eta, dist } = remaining(shown, shown.at);
  const parts = [];
  if (dist !== null) parts.push(dist >= 1000 ? t("driver.km", { n: (dist / 1000).toFixed(1) }) : t("driver.m", { n: Math.round(dist / 10) * 10 }));
  if (eta !== null) parts.push(eta < 15 ? t("driver.eta.now") : eta < 60 ? t("driver.eta.s", { n: Math.floor(eta / 5) * 5 }) : t("driver.eta.min", { n: Math.ceil(eta / 60) }));
  $("#eta").textContent = parts.join(" · ");
}
setInterval(drawEta, 1000);

function chime() {  // two rising tones: noticeable, not alarming
  try {
    const ctx = new AudioContext();
    [[660, 0], [880, 0.18]].forEach(([f, at]) => {
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = f; g.gain.setValueAtTime(0.15, ctx.currentTime + at);
      g.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + at + 0.35);
      o.connect(g).connect(ctx.destination); o.start(ctx.currentTime + at); o.stop(ctx.currentTime + at + 0.4);
    });
  } catch { /* no audio device */ }
}

function render(state) {
  $("#busline").textContent = state.route_id ? t("driver.busline", { bus: state.bus_id, route: state.route_id }) : state.bus_id;
  const [first, ...rest] = state.stops || [];
  const at = Date.parse(state.ts) || Date.now() + clockOffset;
  shown = first ? { ...first, at } : null;
  $("#empty").hidden = !!first;
  $("#next").hidden = !first;
  if (first) {
    $("#stop-name").textContent = first.name;
    $("#passengers").textContent = tn("driver.passengers", first.passengers);
    $("#wheelchair").hidden = !first.wheelchair;
    drawEta();
    $("#ack").hidden = first.acknowledged;
    $("#acked").hidden = !first.acknowledged;
  }
  const fresh = (state.stops || []).flatMap((s) => s.request_ids).filter((r) => !heard.has(r));
  if (fresh.length) {  // a stop the driver has not been told of: chime, and pulse its card once
    fresh.forEach((r) => heard.add(r));
    chime();
    const card = $("#next");
    card.classList.remove("pulse"); void card.offsetWidth; card.classList.add("pulse");
  }
  $("#later").replaceChildren(...rest.map((s) => Object.assign(document.createElement("li"),
    { textContent: `${s.name} — ${tn("driver.passengers", s.passengers)}${s.wheelchair ? " ♿" : ""}` })));
}

$("#ack").addEventListener("click", async () => {
  if (!shown) return;
  $("#ack").disabled = true;
  try {
    await fetch(`/api/v1/driver/${encodeURIComponent(bus)}/ack`, { method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ stop_id: shown.stop_id, request_ids: shown.request_ids }) });
  } finally { $("#ack").disabled = false; }
});

async function run() {
  $("#signin").hidden = true;
  $("#screen").hidden = false;
  for (;;) {
    try {
      const r = await fetch(`/api/v1/driver/${encodeURIComponent(bus)}/stream`, { headers: { Authorization: `Bearer ${token}` } });
      if (r.status === 401 || r.status === 403) {
        localStorage.removeItem(key); token = null;
        $("#screen").hidden = true; $("#signin").hidden = false; $("#conn").hidden = true;
        $("#signin-error").textContent = t("driver.again");
        return;
      }
      if (!r.ok) throw new Error(r.statusText);
      const date = Date.parse(r.headers.get("date"));
      if (!Number.isNaN(date)) clockOffset = date - Date.now();
      $("#conn").hidden = true;
      await readEvents(r, (ev) => render(ev.data));
    } catch { /* dropped */ }
    $("#conn").hidden = false; // say it plainly, keep showing the last state, try again
    await new Promise((res) => setTimeout(res, 1500));
  }
}

loadI18n().then(() => { if (token) run(); });
