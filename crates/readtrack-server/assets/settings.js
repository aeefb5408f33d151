// The settings form, a little friendlier: it says at once when an edit to the policy text
// will make a new version, and dims a default plan's fields while the plan is off. The
// form works the same without it.

const text = document.getElementById("policy-text");
const changed = document.getElementById("policy-changed");
if (text && changed) {
  const saved = text.defaultValue.replace(/\r\n/g, "\n").trim();
  const update = () => {
    changed.hidden = text.value.replace(/\r\n/g, "\n").trim() === saved;
  };
  text.addEventListener("input", update);
  update();
}

for (const box of document.querySelectorAll(".plan-box")) {
  const on = box.querySelector(".plan-on");
  if (!on) continue;
  const sync = () => box.classList.toggle("plan-off", !on.checked);
  on.addEventListener("change", sync);
  sync();
}
