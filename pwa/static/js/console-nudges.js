// The console's nudge pages: filters apply on change, a character count against the
// push-friendly length, and the placeholders of the kind chosen. Every page works without.
"use strict";

for (const form of document.querySelectorAll("form[data-autosubmit]")) {
  form.classList.add("enhanced");
  form.addEventListener("change", () => form.requestSubmit());
}

function showCount(input) {
  const friendly = Number(input.dataset.friendly);
  let counter = input.parentElement.querySelector(".char-count");
  if (!counter) {
    counter = document.createElement("p");
    counter.className = "char-count";
    counter.setAttribute("aria-live", "polite");
    input.insertAdjacentElement("afterend", counter);
  }
  const length = input.value.length;
  counter.textContent = `${length} / ${friendly}`;
  counter.classList.toggle("over", length > friendly);
}

for (const input of document.querySelectorAll("[data-friendly]")) {
  showCount(input);
  input.addEventListener("input", () => showCount(input));
}

// the new-text form: the hint lists the placeholders of the kind picked
const kindSelect = document.querySelector("select[name=kind]#f-kind");
const help = document.querySelector("[data-placeholders] .field-hint");
if (kindSelect && help) {
  kindSelect.addEventListener("change", () => {
    const source = document.querySelector(`dd[data-kind="${kindSelect.value}"]`);
    if (!source) return;
    const names = source.dataset.names ? source.dataset.names.split(" ") : [];
    help.replaceChildren();
    if (!names.length) {
      help.textContent = help.dataset.none || "";
      return;
    }
    help.append(document.createTextNode(`${help.dataset.lead || ""} `));
    for (const name of names) {
      const code = document.createElement("code");
      code.textContent = `{${name}}`;
      help.append(code, document.createTextNode(" "));
    }
  });
}
