// Insights: the period filter shows its date fields for "Choose dates…", and the leadership
// summary's print button opens the browser's print dialog (save as PDF from there).
const period = document.querySelector("[data-period-select]");
const dates = document.querySelector("[data-custom-dates]");
if (period && dates) {
  const sync = () => {
    const custom = period.value === "custom";
    dates.hidden = !custom;
    for (const input of dates.querySelectorAll("input")) input.disabled = !custom;
  };
  period.addEventListener("change", sync);
  sync();
}

for (const button of document.querySelectorAll("[data-print]")) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}
