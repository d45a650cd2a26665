/* learnloop in the browser: progressive enhancement only, the pages work without it. */
"use strict";

// The service worker gives the installed app its offline shell. No permission prompts here:
// registering a service worker asks the user nothing.
if ("serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error) => {
      console.warn("learnloop: offline support unavailable", error);
    });
  });
}

// On the offline page, come back by ourselves as soon as the connection does.
if (document.body && document.body.classList.contains("page-offline")) {
  window.addEventListener("online", () => window.location.reload());
}
