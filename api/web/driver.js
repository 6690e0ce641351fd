// citywatch driver terminal: the next stop where passengers wait, in large type, with one button.
"use strict";
const $ = (s) => document.querySelector(s);
const bus = decodeURIComponent(location.pathname.split("/").pop());
const key = `cw-terminal-${bus}`;
let token = localStorage.getItem(key);
let shown = null; // the stop on screen

$("#bus").value = bus;
$("#signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await fetch("/api/v1/driver/token", { method: "POST",
    body: new URLSearchParams({ username: $("#bus").value, password: $("#secret").value }) });
  const b = await r.json();
  if (!r.ok) { $("#signin-error").textContent = b.detail; return; }
  token = b.access_token;
  localStorage.setItem(key, token);
  run();
});

function render(state) {
  $("#busline").textContent = `${state.bus_id}${state.route_id ? ` · route ${state.route_id}` : ""}`;
  const [first, ...rest] = state.stops || [];
  shown = first || null;
  $("#empty").hidden = !!first;
  $("#next").hidden = !first;
  if (first) {
    $("#stop-name").textContent = first.name;
    $("#passengers").textContent = `${first.passengers} ${first.passengers === 1 ? "passenger" : "passengers"}`;
    $("#wheelchair").hidden = !first.wheelchair;
    const parts = [];
    if (first.distance_m !== null) parts.push(first.distance_m >= 1000 ? `${(first.distance_m / 1000).toFixed(1)} km` : `${Math.round(first.distance_m)} m`);
    if (first.eta_s !== null) parts.push(first.eta_s < 60 ? "less than a minute" : `${Math.round(first.eta_s / 60)} min`);
    $("#eta").textContent = parts.join(" · ");
    $("#ack").hidden = first.acknowledged;
    $("#acked").hidden = !first.acknowledged;
  }
  $("#later").replaceChildren(...rest.map((s) => Object.assign(document.createElement("li"), { textContent: `${s.name} — ${s.passengers}${s.wheelchair ? " ♿" : ""}` })));
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
        $("#signin-error").textContent = "Please sign in again.";
        return;
      }
      if (!r.ok) throw new Error(r.statusText);
      $("#conn").hidden = true;
      await readEvents(r, (ev) => render(ev.data));
    } catch { /* dropped */ }
    $("#conn").hidden = false; // say it plainly, keep showing the last state, try again
    await new Promise((res) => setTimeout(res, 1500));
  }
}

if (token) run();
