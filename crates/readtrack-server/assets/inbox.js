// The inbox: reports `delivered` for notices this device now shows (never `read`), and
// refreshes the list, rendered by the server, when a notice arrives.

import { queue } from "./outbox.js";
import { connectStream } from "./common.js";

const list = document.getElementById("inbox-list");

function deliver() {
  for (const li of list.querySelectorAll('li[data-state="sent"]')) {
    li.dataset.state = "delivered";
    queue({ message_id: li.dataset.id, kind: "delivered" });
  }
  const count = document.querySelector("#unread-summary .count");
  if (count) count.textContent = String(list.querySelectorAll("li.unread").length);
}

let refreshing = null;
async function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const res = await fetch("/inbox/list", { credentials: "same-origin" });
      if (res.redirected) {
        // The session ended: show the sign-in page rather than splice it into the list.
        location.reload();
      } else if (res.ok) {
        // Server-rendered by the inbox's own template: every user string is escaped.
        list.innerHTML = await res.text();
        deliver();
      }
    } catch {
      // Offline: the list stays as it is and refreshes on the next frame or focus.
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

if (list) {
  deliver();
  connectStream((frame) => {
    if (frame.type === "message.created") refresh();
  }, (state, resumed) => {
    if (state === "live" && resumed) refresh();
  });
  // Coming back with the Back button shows a cached page: bring it up to date.
  window.addEventListener("pageshow", (ev) => {
    if (ev.persisted) refresh();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
  });
}
