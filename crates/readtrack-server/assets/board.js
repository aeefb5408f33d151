// The read board, live: counts and bars move with every `receipt.updated` frame, the
// person's row changes in place, and anything the frame cannot tell (a department's
// bar for a person not on this page) is re-read from the API shortly after.

import { api, connectStream, strings, timeElement } from "./common.js";

const board = document.getElementById("board");
const live = document.getElementById("live");

const ORDER = { sent: 0, delivered: 1, read: 2, acknowledged: 3 };
const setText = (id, v) => {
  const el = document.getElementById(id);
  if (el) el.textContent = String(v);
};

function applySummary(s) {
  setText("n-recipients", s.recipients);
  setText("n-delivered", s.delivered);
  setText("n-read", s.read);
  setText("n-acknowledged", s.acknowledged);
  setText("n-unread", s.unread);
  setText("n-hidden", s.hidden);
  // Hidden people too few to count are in no figure but `recipients` and `hidden`.
  const counted = s.hidden_not_counted ? s.recipients - s.hidden : s.recipients;
  const p = document.getElementById("p-total");
  if (p) {
    p.max = Math.max(1, counted);
    p.value = s.read;
  }
  setText("pct-total", counted > 0 ? Math.round((s.read * 100) / counted) : 0);
  for (const [label, n] of Object.entries(s.responses || {})) {
    const li = [...document.querySelectorAll("#tally li")].find((x) => x.dataset.response === label);
    if (li) li.querySelector(".tally-n").textContent = String(n);
  }
}

function applyDepartment(line) {
  const li = [...document.querySelectorAll(".depts li")].find((x) => x.dataset.dept === line.department_id);
  if (!li) return;
  li.dataset.read = line.read;
  li.dataset.acknowledged = line.acknowledged;
  li.querySelector(".d-read").textContent = String(line.read);
  const p = li.querySelector("progress");
  p.max = Math.max(1, line.recipients);
  p.value = line.read;
}

function setCell(row, cls, iso, outside) {
  const cell = row.querySelector(`.${cls}`);
  if (!cell) return;
  cell.textContent = "";
  if (iso) cell.append(timeElement(iso));
  else if (outside) {
    const s = document.createElement("span");
    s.className = "muted";
    s.textContent = strings.outside_hours;
    cell.append(s);
  } else cell.textContent = "–";
}

/** Updates a person's row; returns false when the row is not on this page. */
function applyPerson(f) {
  const row = document.querySelector(`#people tr[data-member="${CSS.escape(f.member_id)}"]`);
  if (!row) return false;
  const before = row.dataset.state;
  if ((ORDER[f.state] ?? 0) < (ORDER[before] ?? 0)) return true;
  row.dataset.state = f.state;
  const badge = row.querySelector(".state");
  badge.className = `state state-${f.state}`;
  badge.textContent = strings[f.state] ?? strings.unread;
  const hasRead = row.querySelector(".read-at time");
  if ((f.state === "read" || f.state === "acknowledged") && !hasRead) setCell(row, "read-at", f.at, f.outside_working_hours);
  if (f.state === "acknowledged") {
    setCell(row, "acked-at", f.at, f.outside_working_hours);
    // A frame carries no answer: fetch the row as a reload would show it.
    refetchSoon();
  }
  // The department's bar follows the row: one more read, or one more confirmation.
  const li = [...document.querySelectorAll(".depts li")].find((x) => x.dataset.dept === row.dataset.dept);
  if (li) {
    const d = { department_id: row.dataset.dept, recipients: Number(li.dataset.recipients), read: Number(li.dataset.read), acknowledged: Number(li.dataset.acknowledged) };
    if (ORDER[before] < 2 && ORDER[f.state] >= 2) d.read += 1;
    if (ORDER[before] < 3 && f.state === "acknowledged") d.acknowledged += 1;
    applyDepartment(d);
  }
  return true;
}

let refetchTimer = null;
function refetchSoon() {
  clearTimeout(refetchTimer);
  refetchTimer = setTimeout(refetch, 1200);
}

async function refetch() {
  const filter = board.dataset.filter ? `&state=${encodeURIComponent(board.dataset.filter)}` : "";
  try {
    const res = await api("GET", `/api/v1/messages/${encodeURIComponent(board.dataset.id)}/receipts?limit=500${filter}`);
    if (!res.ok) return;
    const b = await res.json();
    applySummary(b.summary);
    for (const d of b.by_department) applyDepartment(d);
    for (const item of b.items) {
      const row = document.querySelector(`#people tr[data-member="${CSS.escape(item.member_id)}"]`);
      if (!row) continue;
      row.dataset.state = item.state;
      const badge = row.querySelector(".state");
      badge.className = `state state-${item.state}`;
      badge.textContent = strings[item.state] ?? strings.unread;
      setCell(row, "read-at", item.read_at, item.outside_working_hours);
      setCell(row, "acked-at", item.acked_at, Boolean(item.acked_outside_working_hours));
      const answer = row.querySelector(".answer");
      if (answer) answer.textContent = item.response ? ` · ${item.response}` : "";
      const reminders = row.querySelector(".reminders");
      if (reminders) {
        reminders.textContent = String(item.reminders);
        if (item.emails && item.emails.length) {
          const mail = document.createElement("span");
          mail.className = "muted small";
          mail.title = strings.emails_sent ?? "";
          mail.textContent = ` ✉ ${item.emails.length}`;
          reminders.append(mail);
        }
      }
    }
  } catch {
    // The stream's reconnect will bring a fresh look.
  }
}

if (board) {
  const id = board.dataset.id;
  connectStream((frame) => {
    if (frame.type !== "receipt.updated" || frame.message_id !== id) return;
    applySummary(frame.summary);
    if (!frame.member_id || !applyPerson(frame)) refetchSoon();
  }, (state, resumed) => {
    live.dataset.state = state;
    live.querySelector(".live-text").textContent = state === "live" ? strings.live : strings.reconnecting;
    if (state === "live" && resumed) refetch();
  });

  const remind = document.getElementById("remind");
  const remindStatus = document.getElementById("remind-status");
  if (remind) {
    remind.hidden = false;
    remind.addEventListener("click", async () => {
      remind.disabled = true;
      try {
        const res = await api("POST", `/api/v1/messages/${encodeURIComponent(id)}/remind`, {});
        if (res.ok) {
          const r = await res.json();
          remindStatus.textContent = `${strings.remind_done}: ${r.reminded ?? 0}` + (r.deferred ? ` · ${r.deferred} ${strings.remind_deferred}` : "");
          // Reminder counts are not pushed to the sender: read them back once.
          refetch();
        } else if (res.status === 404 || res.status === 405) {
          remindStatus.textContent = strings.remind_unavailable;
        } else if (res.status === 429) {
          remindStatus.textContent = strings.remind_too_soon;
        } else {
          remindStatus.textContent = strings.remind_failed;
        }
      } catch {
        remindStatus.textContent = strings.remind_failed;
      } finally {
        remind.disabled = false;
      }
    });
  }
}
