// Shared helpers of the pages' scripts: page metadata, the JSON API with the CSRF
// header, times in the viewer's zone, and the realtime stream with resume.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";

export const csrf = meta("csrf-token");
export const memberId = meta("rt-member");
export const zone = meta("rt-zone") || undefined;
export const lang = meta("rt-lang") || "en";
export const strings = JSON.parse(document.getElementById("rt-strings")?.textContent || "{}");

// ----- the server's clock -----
// Like the SDK's ServerClock: every answer says when the server answered
// (`x-server-time`, and the page itself in `<meta name="rt-server-time">`); taken to be
// the middle of the round trip, it gives the device clock's offset with an error of at
// most half the round trip. The sample with the shortest round trip wins until it is ten
// minutes old or a new one disagrees by more than both errors (the device clock was set).
// Kept in localStorage, so a page opened offline still knows it.

const CLOCK_KEY = "rt-clock";
const TRUSTED_FOR_MS = 10 * 60 * 1000;
let clockSample = null;
try {
  clockSample = JSON.parse(localStorage.getItem(CLOCK_KEY) || "null");
} catch {
  clockSample = null;
}

/** Learns from one answer: sent and received by the device's clock, `serverIso` the server's. */
export function observeClock(sent, received, serverIso) {
  const server = Date.parse(serverIso);
  if (!Number.isFinite(server) || !(received >= sent)) return;
  const rtt = received - sent;
  const sample = { offset: server - (sent + rtt / 2), rtt, taken: received };
  const best = clockSample;
  const replace = !best
    || sample.rtt <= best.rtt
    || received < best.taken
    || received - best.taken >= TRUSTED_FOR_MS
    || Math.abs(sample.offset - best.offset) > best.rtt / 2 + sample.rtt / 2 + 1000;
  if (!replace) return;
  clockSample = sample;
  try {
    localStorage.setItem(CLOCK_KEY, JSON.stringify(sample));
  } catch {
    // Storage may be off (private windows): the page still uses what it learned.
  }
}

/** The server clock's offset from the device's in milliseconds, 0 while unknown. */
export function clockOffset() {
  return clockSample ? Math.round(clockSample.offset) : 0;
}

/** Now, as `{at, device_at}`: the server's time line, and the device's own clock. */
export function stamp() {
  const device = Date.now();
  return {
    at: new Date(device + clockOffset()).toISOString(),
    device_at: new Date(device).toISOString(),
  };
}

// The page itself: made at `rt-server-time`, asked for and received at the navigation
// timing's requestStart and responseStart.
{
  const made = meta("rt-server-time");
  const nav = performance.getEntriesByType?.("navigation")?.[0];
  if (made && nav && nav.responseStart > 0) {
    observeClock(performance.timeOrigin + nav.requestStart, performance.timeOrigin + nav.responseStart, made);
  }
}

// On a phone the navigation is one row that scrolls sideways: keep the current entry in
// view.
document.querySelector('.main-nav a[aria-current="page"]')?.scrollIntoView({ block: "nearest", inline: "nearest" });

/** Calls the JSON API with the session cookie and the page's CSRF token. */
export async function api(method, path, body) {
  const headers = { "x-csrf-token": csrf };
  if (body !== undefined) headers["content-type"] = "application/json";
  const sent = Date.now();
  const res = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const server = res.headers.get("x-server-time");
  if (server) observeClock(sent, Date.now(), server);
  return res;
}

const secondsFormat = new Intl.DateTimeFormat(lang === "en" ? "en-CA" : "zh-Hant-HK", {
  timeZone: zone,
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
});

/** `2026-11-28 17:03:09` in the viewer's zone, as the server renders it. */
export function formatSeconds(iso) {
  const parts = Object.fromEntries(secondsFormat.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}

/** A `<time>` element for an instant. */
export function timeElement(iso) {
  const t = document.createElement("time");
  t.dateTime = iso;
  t.textContent = formatSeconds(iso);
  return t;
}

/**
 * Keeps a WebSocket to /api/v1/stream open: reconnects with backoff and resumes with
 * `since=` the last sequence number seen, so no frame is missed across a restart.
 * `onFrame(frame)` gets every frame; `onState("live" | "reconnecting", resumed)` the link.
 */
export function connectStream(onFrame, onState = () => {}) {
  let lastSeq = null;
  let attempt = 0;
  let everOpen = false;
  const open = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // The session cookie authenticates the stream; the CSRF token proves it is this page.
    const params = new URLSearchParams({ csrf });
    if (lastSeq !== null) params.set("since", String(lastSeq));
    let ws;
    try {
      ws = new WebSocket(`${scheme}://${location.host}/api/v1/stream?${params}`);
    } catch {
      return retry();
    }
    ws.onmessage = (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      if (frame.type === "reset") {
        // The server cannot resume from where this page was: what it shows may be
        // stale, so load it again.
        location.reload();
        return;
      }
      if (frame.type === "hello") {
        if (lastSeq === null) lastSeq = frame.last_seq;
        attempt = 0;
        onState("live", everOpen);
        everOpen = true;
      }
      if (typeof frame.seq === "number") lastSeq = Math.max(lastSeq ?? 0, frame.seq);
      onFrame(frame);
    };
    ws.onclose = () => retry();
    ws.onerror = () => ws.close();
  };
  const retry = () => {
    onState("reconnecting", everOpen);
    attempt += 1;
    // Capped exponential backoff with jitter, so a restarted server is not stampeded.
    const delay = Math.min(5000, 250 * 2 ** attempt) * (0.75 + Math.random() / 2);
    setTimeout(open, delay);
  };
  open();
}

// The installable app's service worker (offline pages, Background Sync of the outbox).
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => undefined);
}
