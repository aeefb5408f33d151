// The device's receipt outbox. Every receipt is written to IndexedDB first and sent
// from there, with retries, until the server has answered for it: a notice read while
// the server is unreachable is reported with the time it was really read.

import { api, csrf, memberId, stamp } from "./common.js";

const DB_NAME = "readtrack";
const STORE = "outbox";
let dbPromise = null;

function db() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "event_id" });
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  return dbPromise;
}

async function tx(mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const t = d.transaction(STORE, mode);
    const store = t.objectStore(STORE);
    let result;
    Promise.resolve(fn(store)).then((r) => { result = r; });
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

function all() {
  return tx("readonly", (store) => new Promise((resolve) => {
    const req = store.getAll();
    req.onsuccess = () => resolve(req.result);
  }));
}

/** A random event id: `crypto.randomUUID` where the page is a secure context. */
function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Queues a receipt (`{message_id, kind, at?, device_at?, response?}`) durably, then tries
 * to send. Without `at`, it is stamped now: on the server's time line as this page
 * learned it, with the device's own time beside it (`device_at`). Resolves once the
 * receipt is safely stored on the device, with the stored item.
 */
export async function queue(receipt) {
  const now = receipt.at ? { at: receipt.at, device_at: receipt.device_at } : stamp();
  const item = {
    event_id: uuid(),
    message_id: receipt.message_id,
    kind: receipt.kind,
    at: now.at,
    member: memberId,
    // For the service worker's Background Sync, which has no page to read it from.
    csrf,
  };
  if (now.device_at) item.device_at = now.device_at;
  if (receipt.response) item.response = receipt.response;
  await tx("readwrite", (store) => store.put(item));
  flush();
  requestBackgroundSync();
  return item;
}

/** Asks the service worker to send the outbox when the connection is back, even if the
 * page is closed by then (where the browser has Background Sync). */
function requestBackgroundSync() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.ready
    .then((reg) => reg.sync?.register("rt-outbox"))
    .catch(() => undefined);
}

/** Receipts still waiting on this device for the signed-in member. */
export async function pending() {
  return (await all()).filter((i) => i.member === memberId);
}

let running = false;
let again = false;
let attempt = 0;
let timer = null;

function retryLater(retryAfterSecs) {
  attempt += 1;
  const backoff = Math.min(10000, 1000 * 2 ** (attempt - 1)) * (0.75 + Math.random() / 2);
  const delay = retryAfterSecs ? Math.max(1000, retryAfterSecs * 1000) : backoff;
  clearTimeout(timer);
  timer = setTimeout(flush, delay);
}

async function sendOnce() {
  const items = (await pending()).slice(0, 500);
  if (items.length === 0) {
    attempt = 0;
    return false;
  }
  let res;
  try {
    res = await api("POST", "/api/v1/receipts", {
      receipts: items.map(({ event_id, message_id, kind, at, device_at, response }) => ({ event_id, message_id, kind, at, device_at, response })),
    });
  } catch {
    retryLater();
    return false;
  }
  if (res.status === 401 || res.status === 403) {
    // Signed out or a stale page: keep them for the next signed-in page.
    return false;
  }
  if (!res.ok) {
    retryLater(Number(res.headers.get("retry-after")) || 0);
    return false;
  }
  const body = await res.json();
  const byId = new Map(items.map((i) => [i.event_id, i]));
  // Every answered item leaves the outbox: applied and duplicate are done, and a
  // rejected one would be rejected again (it is reported to the page instead).
  await tx("readwrite", (store) => {
    for (const r of body.results) if (r.event_id) store.delete(r.event_id);
  });
  for (const r of body.results) {
    const item = byId.get(r.event_id);
    window.dispatchEvent(new CustomEvent("rt-outbox", { detail: { ...item, status: r.status, error: r.error } }));
  }
  attempt = 0;
  return items.length === 500;
}

/** Sends what is waiting; overlapping calls coalesce into one more round. */
export async function flush() {
  if (running) {
    again = true;
    return;
  }
  running = true;
  try {
    let more;
    do {
      again = false;
      more = await sendOnce();
    } while (more || again);
  } catch {
    retryLater();
  } finally {
    running = false;
  }
}

window.addEventListener("online", flush);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") flush();
});
flush();
