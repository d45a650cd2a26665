// The import page while an import runs: poll its status and show the progress; when it is
// done, load the page again for the summary. Without JS the page has a refresh link.
"use strict";

const panel = document.getElementById("import-job");
if (panel && panel.dataset.status === "running") {
  const bar = document.getElementById("import-progress");
  const text = document.getElementById("import-progress-text");
  const template = text ? text.textContent : "";
  const poll = async () => {
    try {
      const response = await fetch(panel.dataset.statusUrl, { headers: { accept: "application/json" } });
      if (response.ok) {
        const job = await response.json();
        if (job.status !== "running") {
          window.location.reload();
          return;
        }
        if (bar) {
          bar.max = Math.max(job.total_rows, 1);
          bar.value = job.processed_rows;
        }
        if (text) {
          const numbers = template.match(/[\d.,\u00a0]+/g) || [];
          // the sentence is translated on the server: swap only its first number
          if (numbers.length) text.textContent = template.replace(numbers[0], job.processed_rows.toLocaleString(document.documentElement.lang));
        }
      }
    } catch (error) {
      // a dropped connection: try again at the next tick
    }
    window.setTimeout(poll, 500);
  };
  window.setTimeout(poll, 300);
}
