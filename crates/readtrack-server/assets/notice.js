// A notice page. It reports `read` only once the body's end has been on screen and the
// body has then been at least half on screen (or filled half the window) for one second,
// in a visible tab that has focus; leaving, hiding or blurring the tab restarts the
// second. A notice longer than the screen is thus read only once scrolled to its end.
// Confirmations go through the same outbox, with the time of the click.

import { queue } from "./outbox.js";
import { strings, timeElement } from "./common.js";

const article = document.getElementById("notice");
if (article && article.dataset.recipient === "true") {
  const messageId = article.dataset.id;
  let state = article.dataset.state;
  const body = document.getElementById("notice-body");
  const target = body && body.textContent.trim() ? body : article;
  const status = document.getElementById("read-status");
  const isRead = () => state === "read" || state === "acknowledged";
  const pendingEvents = new Set();

  const showRead = (item) => {
    status.textContent = `✓ ${strings.marked_read} · `;
    status.append(timeElement(item.at));
    const sync = document.createElement("span");
    sync.className = "sync muted";
    sync.textContent = ` (${strings.waiting_to_sync})`;
    status.append(sync);
    status.classList.add("done");
    status.dataset.eventId = item.event_id;
    if (item.device_at) status.dataset.deviceAt = item.device_at;
  };

  window.addEventListener("rt-outbox", (ev) => {
    const d = ev.detail;
    if (!pendingEvents.has(d.event_id)) return;
    pendingEvents.delete(d.event_id);
    if (status.dataset.eventId === d.event_id) {
      const sync = status.querySelector(".sync");
      if (sync) sync.textContent = ` (${strings.synced})`;
      status.dataset.synced = "true";
    }
  });

  if (state === "sent") {
    // Showing the page means the device has the notice.
    queue({ message_id: messageId, kind: "delivered" });
    state = "delivered";
  }

  let visible = false;
  // The end of the body: once it has been on screen, the whole notice has been shown.
  let endSeen = false;
  const end = document.createElement("span");
  end.className = "notice-end";
  end.setAttribute("aria-hidden", "true");
  end.style.cssText = "display:block;height:1px";
  target.append(end);
  let timer = null;
  const canCount = () => visible && endSeen && document.visibilityState === "visible" && document.hasFocus();

  const markRead = async () => {
    timer = null;
    if (isRead() || !canCount()) return;
    state = "read";
    observer.disconnect();
    const item = await queue({ message_id: messageId, kind: "read" });
    pendingEvents.add(item.event_id);
    showRead(item);
  };

  const update = () => {
    if (isRead()) return;
    if (canCount()) {
      if (!timer) timer = setTimeout(markRead, 1000);
    } else if (timer) {
      clearTimeout(timer);
      timer = null;
    }
  };

  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (e.target === end) {
        if (e.isIntersecting) endSeen = true;
        continue;
      }
      const shownHeight = e.intersectionRect.height;
      visible = e.isIntersecting && (e.intersectionRatio >= 0.5 || shownHeight >= window.innerHeight / 2);
    }
    update();
  }, { threshold: [0, 0.1, 0.25, 0.5, 0.75, 1] });
  if (!isRead()) {
    observer.observe(target);
    observer.observe(end);
  }
  document.addEventListener("visibilitychange", update);
  window.addEventListener("focus", update);
  window.addEventListener("blur", update);

  const form = document.getElementById("ack-form");
  if (form) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const response = ev.submitter?.value || "";
      const item = await queue({ message_id: messageId, kind: "ack", response });
      pendingEvents.add(item.event_id);
      state = "acknowledged";
      observer.disconnect();
      if (timer) clearTimeout(timer);
      if (!status.classList.contains("done")) showRead(item);
      const done = document.getElementById("ack-status");
      done.textContent = `✓ ${strings.you_confirmed}`;
      if (response) {
        const strong = document.createElement("strong");
        strong.textContent = response;
        done.append(": ", strong);
      }
      done.hidden = false;
      form.remove();
      done.setAttribute("tabindex", "-1");
      done.focus();
    });
  }
}
