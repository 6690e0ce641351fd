// Server-Sent Events read with fetch (so the token travels in a header, not the URL):
// calls onEvent({event, data, id}) for every event until the stream ends.
"use strict";
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev = {};
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue; // keep-alive comment
        const k = line.slice(0, line.indexOf(":")), v = line.slice(line.indexOf(":") + 1).replace(/^ /, "");
        ev[k] = ev[k] ? `${ev[k]}\n${v}` : v;
      }
      if (ev.data) onEvent({ event: ev.event || "message", data: JSON.parse(ev.data), id: ev.id });
    }
  }
}
