// The leaders' team view: small progressive enhancements; the pages work without them.
"use strict";

// Choosing another team shows it at once (the form's button is there without script).
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form?.requestSubmit());
}

// The sponsor form shows only the fields of the chosen kind of goal.
const kind = document.querySelector("select[data-target-kind]");
if (kind instanceof HTMLSelectElement) {
  const show = () => {
    for (const group of document.querySelectorAll("[data-target]")) {
      group.hidden = group.getAttribute("data-target") !== kind.value;
    }
  };
  kind.addEventListener("change", show);
  show();
}
