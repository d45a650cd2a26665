// The badge designer: the emblem preview follows the shape, colour and icon as they are
// chosen, and the tier table names its unit (courses, hours, weeks...). The Preview button
// does everything else on the server; without JS the page works the same.
"use strict";

const form = document.querySelector(".designer-form");
if (form) {
  const emblem = document.querySelector("img[data-emblem-preview]");
  const picked = (name) => form.querySelector(`input[name="${name}"]:checked`)?.value;
  const updateEmblem = () => {
    if (!emblem) return;
    const source = picked("emblem_source");
    if (source === "upload") return;
    const shape = picked("shape"), colour = picked("colour"), icon = picked("icon");
    if (!shape || !colour || !icon) return;
    const query = new URLSearchParams({ shape, colour, icon });
    emblem.src = `/console/badges/emblem.svg?${query}`;
  };
  const measure = form.querySelector("select[data-measure]");
  const unitLabel = form.querySelector("[data-unit-label]");
  const updateUnit = () => {
    if (!measure || !unitLabel) return;
    const unit = measure.selectedOptions[0]?.dataset.unit;
    unitLabel.textContent = unit ? `(${unit})` : "";
  };
  // the name and description in the preview follow the typing (in the page's language,
  // the Dutch text when the English one is empty, as learners get it)
  const previewName = document.querySelector("[data-preview-name]");
  const previewDescription = document.querySelector("[data-preview-description]");
  const localized = (field) => {
    const nl = form.elements.namedItem(`${field}_nl`)?.value.trim() ?? "";
    const en = form.elements.namedItem(`${field}_en`)?.value.trim() ?? "";
    return previewName?.dataset.lang === "en" && en ? en : nl;
  };
  form.addEventListener("input", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement)) return;
    if (previewName && target.name.startsWith("name_")) {
      previewName.textContent = localized("name") || previewName.dataset.empty || "";
    }
    if (previewDescription && target.name.startsWith("description_")) {
      previewDescription.textContent = localized("description");
    }
  });
  form.addEventListener("change", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLInputElement || target instanceof HTMLSelectElement)) return;
    if (["shape", "colour", "icon", "emblem_source"].includes(target.name)) updateEmblem();
    if (target.name === "measure") updateUnit();
  });
  updateUnit();
}
