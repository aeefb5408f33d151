// The service worker: the installable app's offline side. The inbox and the notices the
// member opened are kept and shown when the server cannot be reached (a notice opened
// offline is still read on the device, into the outbox); scripts and styles come from
// the cache at once and refresh behind; and receipts waiting in the outbox are sent by
// Background Sync where the browser has it, even after every page was closed (else the
// next page sends them). Signing out forgets the kept pages.

const VERSION = "1";
const ASSETS = `rt-assets-${VERSION}`;
const PAGES = `rt-pages-${VERSION}`;
const PRECACHE = [
  "/assets/app.css",
  "/assets/common.js",
  "/assets/outbox.js",
  "/assets/inbox.js",
  "/assets/notice.js",
  "/assets/icon.svg",
];
// Pages worth having offline: the inbox (and the list it refreshes) and each notice.
const OFFLINE_PAGES = [/^\/inbox$/, /^\/inbox\/list$/, /^\/notices\/[^/]+$/];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(ASSETS).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key !== ASSETS && key !== PAGES) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.method === "POST" && url.pathname === "/logout") {
    // Another person may sign in on this device next.
    event.waitUntil(caches.delete(PAGES));
    return;
  }
  if (req.method !== "GET") return;
  if (url.pathname.startsWith("/assets/")) {
    event.respondWith(staleWhileRevalidate(req, event));
  } else if (OFFLINE_PAGES.some((p) => p.test(url.pathname))) {
    event.respondWith(networkFirst(req));
  }
});

async function staleWhileRevalidate(req, event) {
  const cache = await caches.open(ASSETS);
  const hit = await cache.match(req);
  const fresh = fetch(req).then((res) => {
    if (res.ok) cache.put(req, res.clone());
    return res;
  });
  if (hit) {
    event.waitUntil(fresh.catch(() => undefined));
    return hit;
  }
  return fresh;
}

async function networkFirst(req) {
  const cache = await caches.open(PAGES);
  try {
    const res = await fetch(req);
    // A redirect (to sign-in) or an error page is not the page to keep.
    if (res.ok && !res.redirected) await cache.put(req, res.clone());
    return res;
  } catch (err) {
    const hit = await cache.match(req);
    if (hit) return hit;
    throw err;
  }
}

// The outbox lives in IndexedDB (outbox.js); each item carries the CSRF token of the
// page that queued it, since the cookie alone does not authorise a write.
self.addEventListener("sync", (event) => {
  if (event.tag === "rt-outbox") event.waitUntil(flushOutbox());
});

function openOutbox() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("readtrack", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("outbox", { keyPath: "event_id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function flushOutbox() {
  const db = await openOutbox();
  const items = await request(db.transaction("outbox").objectStore("outbox").getAll());
  const byToken = new Map();
  for (const item of items) {
    if (!item.csrf) continue;
    if (!byToken.has(item.csrf)) byToken.set(item.csrf, []);
    byToken.get(item.csrf).push(item);
  }
  for (const [csrf, group] of byToken) {
    for (let i = 0; i < group.length; i += 500) {
      const batch = group.slice(i, i + 500);
      // A network failure rejects, and the browser tries the sync again later.
      const res = await fetch("/api/v1/receipts", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({
          receipts: batch.map(({ event_id, message_id, kind, at, device_at, response }) =>
            ({ event_id, message_id, kind, at, device_at, response })),
        }),
      });
      if (res.status === 401 || res.status === 403) break; // signed out: the next page sends them
      if (!res.ok) throw new Error(`receipts answered ${res.status}`);
      const body = await res.json();
      const store = db.transaction("outbox", "readwrite").objectStore("outbox");
      for (const r of body.results) if (r.event_id) store.delete(r.event_id);
    }
  }
}
