// Game design: refresh the preview as values change (the Preview button works without this).
const form = document.getElementById("game-form");
const panel = document.getElementById("game-preview");
const previewButton = form && form.querySelector("button[formaction]");

if (form && panel && previewButton) {
  let timer = 0;
  let inFlight = null;

  async function refresh() {
    if (inFlight) inFlight.abort();
    inFlight = new AbortController();
    panel.classList.add("is-loading");
    try {
      const response = await fetch(previewButton.formAction, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        credentials: "same-origin",
        signal: inFlight.signal,
      });
      if (!response.ok) return; // errors show when the form is sent
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("game-preview");
      if (fresh) panel.replaceChildren(...fresh.childNodes);
    } catch (error) {
      if (error.name !== "AbortError") throw error;
    } finally {
      panel.classList.remove("is-loading");
    }
  }

  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  });
}
