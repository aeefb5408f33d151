// The settings form, a little friendlier: it says at once when an edit to the policy text
// will make a new version, and dims a default plan's fields while the plan is off. The
// form works the same without it.

const texts = [document.getElementById("policy-text"), ...document.querySelectorAll(".policy-translation")].filter(Boolean);
const changed = document.getElementById("policy-changed");
if (texts.length && changed) {
  const norm = (s) => s.replace(/\r\n/g, "\n").trim();
  const update = () => {
    changed.hidden = texts.every((t) => norm(t.value) === norm(t.defaultValue));
  };
  for (const t of texts) t.addEventListener("input", update);
  update();
}

for (const box of document.querySelectorAll(".plan-box")) {
  const on = box.querySelector(".plan-on");
  if (!on) continue;
  const sync = () => box.classList.toggle("plan-off", !on.checked);
  on.addEventListener("change", sync);
  sync();
}
