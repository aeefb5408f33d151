// Compose: people search over the directory, the recipient count before sending, the
// Markdown preview, and the custom reminder fields shown only when chosen.

import { api, strings } from "./common.js";

const form = document.getElementById("compose");
const debounce = (fn, ms) => {
  let t = null;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
};

if (form) {
  const search = document.getElementById("people-search");
  const results = document.getElementById("people-results");
  const picked = document.getElementById("picked");
  const count = document.getElementById("recipient-count");

  const recount = debounce(async () => {
    const members = [...form.querySelectorAll('input[name="member"]')].map((i) => i.value);
    const departments = [...form.querySelectorAll('input[name="department"]:checked')].map((i) => i.value);
    try {
      const res = await api("POST", "/web/audience/preview", { members, departments });
      if (res.ok) count.textContent = String((await res.json()).recipients);
    } catch {
      count.textContent = "–";
    }
  }, 200);

  const addRemove = (li) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link";
    b.textContent = strings.remove;
    b.setAttribute("aria-label", `${strings.remove}: ${li.querySelector("span").textContent}`);
    b.addEventListener("click", () => {
      li.remove();
      recount();
      search.focus();
    });
    li.append(b);
  };
  for (const li of picked.querySelectorAll("li")) addRemove(li);

  const pick = (m) => {
    if (!form.querySelector(`input[name="member"][value="${CSS.escape(m.id)}"]`)) {
      const li = document.createElement("li");
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "member";
      input.value = m.id;
      const name = document.createElement("span");
      name.textContent = m.name;
      li.append(input, name);
      addRemove(li);
      picked.append(li);
      recount();
    }
    results.hidden = true;
    results.textContent = "";
    search.value = "";
    search.focus();
  };

  const find = debounce(async () => {
    const q = search.value.trim();
    if (!q) {
      results.hidden = true;
      return;
    }
    const res = await api("GET", `/api/v1/members?limit=8&q=${encodeURIComponent(q)}`);
    if (!res.ok) return;
    const page = await res.json();
    results.textContent = "";
    const people = page.items.filter((m) => m.active);
    if (people.length === 0) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = strings.no_matches;
      results.append(li);
    }
    for (const m of people) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `${m.name} · ${m.email}`;
      b.addEventListener("click", () => pick(m));
      li.append(b);
      results.append(li);
    }
    results.hidden = false;
  }, 200);

  search.hidden = false;
  search.addEventListener("input", find);
  search.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      // Enter picks the first match instead of sending the notice half-written.
      ev.preventDefault();
      results.querySelector("button")?.click();
    } else if (ev.key === "ArrowDown") {
      ev.preventDefault();
      results.querySelector("button")?.focus();
    }
  });
  form.addEventListener("change", (ev) => {
    if (ev.target.name === "department") recount();
  });
  recount();

  const body = document.getElementById("body");
  const preview = document.getElementById("preview");
  body.addEventListener("input", debounce(async () => {
    const res = await api("POST", "/web/markdown/preview", { body: body.value });
    // Sanitised on the server by the same code that renders the notice.
    if (res.ok) preview.innerHTML = (await res.json()).html;
  }, 400));

  const custom = [...form.querySelectorAll(".custom-plan")];
  const showPlan = () => {
    const plan = form.querySelector('input[name="plan"]:checked')?.value;
    for (const el of custom) el.hidden = plan !== "custom";
  };
  for (const r of form.querySelectorAll('input[name="plan"]')) r.addEventListener("change", showPlan);
  showPlan();
}
