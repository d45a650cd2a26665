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

// The connection notice of the signed-in pages (_tabbar.html): offline, and since when the page
// shows old numbers. The service worker marks a page it answered from its cache with
// data-copy-from (the time the copy was fetched); log.js fills in the moments waiting to be sent.
(() => {
  const notice = document.getElementById("connection");
  if (!notice) return;
  const line = notice.querySelector("[data-connection-offline]");
  const loadedAt = new Date();
  const copyFrom = document.body.dataset.copyFrom;

  function when(moment) {
    const lang = document.documentElement.lang || undefined;
    const sameDay = moment.toDateString() === new Date().toDateString();
    const options = sameDay
      ? { hour: "2-digit", minute: "2-digit" }
      : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
    return new Intl.DateTimeFormat(lang, options).format(moment);
  }

  // a copy from the cache means the network failed, whatever navigator.onLine says
  let offline = navigator.onLine === false || copyFrom !== undefined;

  function update() {
    let text = "";
    if (offline) {
      const since = copyFrom ? new Date(copyFrom) : loadedAt;
      text = Number.isNaN(since.getTime())
        ? notice.dataset.msgOffline
        : notice.dataset.msgUpdated.replace("{when}", when(since));
    }
    line.textContent = text;
    line.hidden = !text;
    window.learnloopConnection.refresh();
  }

  window.learnloopConnection = {
    /** Show the notice while any of its lines has something to say. */
    refresh() {
      const lines = notice.querySelectorAll("[data-connection-offline], [data-connection-waiting]");
      notice.hidden = [...lines].every((part) => part.hidden);
      document.body.classList.toggle("has-connection-notice", !notice.hidden);
    },
  };
  window.addEventListener("offline", () => {
    offline = true;
    update();
  });
  // back online, a copy reloads for the real numbers; not here: Today (log.js reloads it once
  // the waiting moments are sent), Log and Settings (they keep what the learner is typing)
  const typing = ["page-today", "page-log", "page-settings"];
  window.addEventListener("online", () => {
    offline = false;
    update();
    const classes = document.body.classList;
    if (copyFrom !== undefined && !typing.some((name) => classes.contains(name))) {
      window.location.reload();
    }
  });
  update();
})();

// Settings: "Saved." is about the form as it was saved; the first change after that clears it.
(() => {
  const form = document.getElementById("settings-form");
  const saved = document.getElementById("saved");
  if (!form || !saved) return;
  const clear = () => {
    saved.textContent = "";
  };
  form.addEventListener("input", clear, { once: true });
  form.addEventListener("change", clear, { once: true });
})();
