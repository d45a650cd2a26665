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
  form.addEventListener("change", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLInputElement || target instanceof HTMLSelectElement)) return;
    if (["shape", "colour", "icon", "emblem_source"].includes(target.name)) updateEmblem();
    if (target.name === "measure") updateUnit();
  });
  updateUnit();
}
