// Shared helpers of the pages' scripts: page metadata, the JSON API with the CSRF
// header, times in the viewer's zone, and the realtime stream with resume.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";

export const csrf = meta("csrf-token");
export const memberId = meta("rt-member");
export const zone = meta("rt-zone") || undefined;
export const lang = meta("rt-lang") || "en";
export const strings = JSON.parse(document.getElementById("rt-strings")?.textContent || "{}");

/** Calls the JSON API with the session cookie and the page's CSRF token. */
export async function api(method, path, body) {
  const headers = { "x-csrf-token": csrf };
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
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
