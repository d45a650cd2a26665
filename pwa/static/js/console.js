// The L&D console in the browser: small progressive enhancements; every page works without.
"use strict";

// Ask before a destructive action: <form data-confirm="Archive this course?">.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  const question = form.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  // one click, one submission: a double click must not create two rows
  const button = event.submitter;
  if (button instanceof HTMLButtonElement && form.method.toLowerCase() === "post") {
    window.setTimeout(() => { button.disabled = true; }, 0);
  }
});

// Inline validation as one types: a field shows the browser's message for its constraints
// (required, min, max, maxlength, pattern, type) once it has been left.
document.addEventListener("focusout", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement || input instanceof HTMLTextAreaElement || input instanceof HTMLSelectElement)) return;
  if (!input.closest(".console-form")) return;
  const field = input.closest(".field");
  if (!field) return;
  let message = field.querySelector(".field-error[data-live]");
  if (input.checkValidity()) {
    input.removeAttribute("aria-invalid");
    if (message) message.remove();
    return;
  }
  input.setAttribute("aria-invalid", "true");
  if (!message) {
    message = document.createElement("p");
    message.className = "field-error";
    message.dataset.live = "1";
    message.id = `${input.id}-live-error`;
    field.appendChild(message);
    input.setAttribute("aria-describedby", message.id);
  }
  message.textContent = input.validationMessage;
});

// Copy buttons: <button data-copy="#element-id">.
document.addEventListener("click", async (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-copy]") : null;
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    const label = button.textContent;
    button.textContent = button.dataset.copied || "✓";
    window.setTimeout(() => { button.textContent = label; }, 1500);
  } catch (error) {
    console.warn("learnloop: copying failed", error);
  }
});

// The sidebar is a <details> so it works as a menu on tablets without script; on a laptop it
// stays open, and on a tablet it starts closed.
const menu = document.querySelector(".console-menu");
if (menu) {
  const wide = window.matchMedia("(min-width: 62.01rem)");
  if (!wide.matches) menu.open = false;
  // a tablet turned to landscape (or a window widened) gets the sidebar back
  wide.addEventListener("change", (change) => { if (change.matches) menu.open = true; });
  menu.querySelector("summary").addEventListener("click", (event) => {
    if (wide.matches) event.preventDefault();
  });
}
