/* learnloop: log a learning moment, online or offline.
 *
 * Progressive enhancement of the form on /log (which posts to /log without JavaScript).
 * Every moment gets its own client id (crypto.randomUUID()) and an occurred_at when it is
 * made; both travel with every attempt, so the server counts a retried moment once.
 * A moment that can't reach the server waits in IndexedDB (the "outbox", keyed by client id)
 * and is sent on the next page load or "online" event; it leaves the outbox only after the
 * server answered 200/201 (or refused it for good).
 * Also loaded on Today, to flush the outbox there.
 */
"use strict";

(() => {
  const DB_NAME = "learnloop";
  const STORE = "outbox";
  const MOMENTS_API = "/api/v1/me/moments";

  const nav = document.querySelector("[data-learnloop-user]");
  const userId = nav ? nav.dataset.learnloopUser : "";
  if (!userId || !("indexedDB" in window)) return;

  // ---- the outbox (IndexedDB) ------------------------------------------------------------

  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "client_id" });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function withStore(mode, action) {
    const db = await openDb();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const request = action(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(request ? request.result : undefined);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }

  const queue = (item) => withStore("readwrite", (store) => store.put(item));
  const unqueue = (clientId) => withStore("readwrite", (store) => store.delete(clientId));
  const queued = () => withStore("readonly", (store) => store.getAll());

  // ---- talking to the server -------------------------------------------------------------

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)learnloop_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /** POST one moment. Resolves to {status, body}; rejects only on a network error. */
  async function send(moment) {
    const response = await fetch(MOMENTS_API, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrfToken() },
      body: JSON.stringify(moment),
    });
    let body = null;
    try {
      body = await response.json();
    } catch (notJson) {
      body = null;
    }
    return { status: response.status, body };
  }

  // worth another try later: signed out, CSRF cookie gone, rate limited, server trouble
  const retryLater = (status) => status === 401 || status === 403 || status === 429 || status >= 500;

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
  }

  const outboxStatus = document.getElementById("outbox-status");
  let outboxTimer = 0;
  function showOutbox(message, stay) {
    if (!outboxStatus) return;
    outboxStatus.textContent = message;
    outboxStatus.hidden = false;
    // it floats over the page above the tab bar: "sent" goes after a while, once read;
    // a moment that was dropped stays said
    clearTimeout(outboxTimer);
    if (!stay) {
      outboxTimer = setTimeout(() => {
        outboxStatus.hidden = true;
      }, 8000);
    }
  }

  // "2 moments waiting to be sent" in the connection notice (_tabbar.html, js/app.js)
  const connection = document.getElementById("connection");
  const waitingLine = connection && connection.querySelector("[data-connection-waiting]");
  async function showWaiting() {
    if (!waitingLine || !window.learnloopConnection) return;
    let count = 0;
    try {
      count = (await queued()).filter((item) => item.user === userId).length;
    } catch (unavailable) {
      count = 0;
    }
    waitingLine.textContent =
      count === 1 ? connection.dataset.msgWaitingOne : format(connection.dataset.msgWaitingOther, { num: count });
    waitingLine.hidden = count === 0;
    window.learnloopConnection.refresh();
  }

  let flushing = null;

  /** Send every queued moment of this user, each with its own client id. */
  function flush() {
    if (!flushing) {
      flushing = flushOnce().finally(() => {
        flushing = null;
      });
    }
    return flushing;
  }

  async function flushOnce() {
    let sent = 0;
    const dropped = [];
    let items = [];
    try {
      items = await queued();
    } catch (unavailable) {
      return { sent, dropped };
    }
    for (const item of items) {
      if (item.user !== userId) continue; // someone else's, waiting for them to sign in
      let result;
      try {
        result = await send(item.moment);
      } catch (offline) {
        break; // still offline: try again on the next "online" or page load
      }
      if (result.status === 200 || result.status === 201) {
        await unqueue(item.client_id);
        sent += 1;
      } else if (!retryLater(result.status)) {
        // refused for good (e.g. older than 30 days, competency removed): don't retry forever
        await unqueue(item.client_id);
        dropped.push(item.moment.what);
      }
    }
    if (outboxStatus) {
      if (dropped.length) {
        showOutbox(dropped.map((what) => format(outboxStatus.dataset.msgDropped, { what })).join(" "), true);
      } else if (sent) {
        showOutbox(outboxStatus.dataset.msgSent);
      }
    }
    return { sent, dropped };
  }

  // ---- the form on /log ------------------------------------------------------------------

  const form = document.getElementById("log-form");
  const status = document.getElementById("log-status");
  const done = document.getElementById("log-done");

  function say(message) {
    status.textContent = message;
    status.hidden = !message;
  }

  function fieldError(name, message) {
    const error = document.getElementById(`${name}-error`);
    const input = name === "minutes" ? form.querySelector("#minutes-other") : form.querySelector(`#${name}`);
    if (error) {
      error.textContent = message || "";
      error.hidden = !message;
    }
    if (input) {
      if (message) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
  }

  function chosenMinutes() {
    const other = form.elements.minutes_other.value.trim();
    if (other) return Number(other);
    const chip = form.querySelector("input[name=minutes]:checked");
    return chip ? Number(chip.value) : NaN;
  }

  function readForm() {
    const moment = {
      client_id: form.elements.client_id.value,
      what: form.elements.what.value.trim(),
      minutes: chosenMinutes(),
      occurred_at: new Date().toISOString(),
    };
    const competency = form.elements.competency_id && form.elements.competency_id.value;
    if (competency) moment.competency_id = Number(competency);
    const colleague = form.elements.colleague_id && form.elements.colleague_id.value;
    if (colleague) moment.colleague_id = Number(colleague);
    return moment;
  }

  function validate(moment) {
    const whatOk = moment.what.length >= 2;
    const minutesOk = Number.isInteger(moment.minutes) && moment.minutes >= 1 && moment.minutes <= 480;
    fieldError("what", whatOk ? "" : form.dataset.msgWhat);
    fieldError("minutes", minutesOk ? "" : form.dataset.msgMinutes);
    if (!whatOk) form.elements.what.focus();
    else if (!minutesOk) form.elements.minutes_other.focus();
    return whatOk && minutesOk;
  }

  function startNewMoment() {
    form.elements.what.value = "";
    form.elements.minutes_other.value = "";
    form.elements.client_id.value = crypto.randomUUID();
  }

  function confirm(result) {
    const title = document.getElementById("log-done-title");
    const week = document.getElementById("log-done-week");
    title.textContent =
      result.status === "duplicate" ? form.dataset.msgDuplicate : format(form.dataset.msgXp, { xp: result.xp });
    const goal = result.today && result.today.weekly_goal;
    week.textContent = goal ? format(form.dataset.msgWeek, { done: goal.minutes, goal: goal.target_minutes }) : "";
    done.hidden = false;
    done.focus();
  }

  async function submit(event) {
    event.preventDefault();
    say("");
    done.hidden = true;
    const moment = readForm();
    if (!validate(moment)) return;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      let result = null;
      if (navigator.onLine !== false) {
        try {
          result = await send(moment);
        } catch (offline) {
          result = null;
        }
      }
      if (result === null || retryLater(result.status)) {
        await queue({ client_id: moment.client_id, user: userId, moment });
        startNewMoment();
        say(form.dataset.msgQueued);
        showWaiting();
      } else if (result.status === 200 || result.status === 201) {
        startNewMoment();
        confirm(result.body);
      } else {
        // the server refused it; show why next to the field it names, if it names one
        const detail = (result.body && result.body.detail) || "";
        const field = ["what", "minutes"].find((name) => detail.startsWith(`${name}`));
        if (field) fieldError(field, form.dataset[`msg${field[0].toUpperCase()}${field.slice(1)}`]);
        else say(form.dataset.msgFailed);
      }
    } finally {
      button.disabled = false;
    }
  }

  if (form && "randomUUID" in crypto) {
    form.elements.client_id.value = crypto.randomUUID();
    form.addEventListener("submit", submit);
    // a chip and the number field are one choice: picking one clears the other
    form.elements.minutes_other.addEventListener("input", () => {
      if (form.elements.minutes_other.value) {
        form.querySelectorAll("input[name=minutes]").forEach((chip) => {
          chip.checked = false;
        });
      }
    });
    form.querySelectorAll("input[name=minutes]").forEach((chip) =>
      chip.addEventListener("change", () => {
        form.elements.minutes_other.value = "";
        fieldError("minutes", "");
      }),
    );
  }

  // ---- flushing ---------------------------------------------------------------------------

  async function flushAndRefresh(event) {
    const { sent } = await flush();
    await showWaiting();
    // Today shows the numbers the server has: reload them once the outbox delivered something,
    // or, back online, when the service worker had answered with its copy
    const copy = event && event.type === "online" && document.body.dataset.copyFrom !== undefined;
    if ((sent || copy) && document.body.classList.contains("page-today")) window.location.reload();
  }

  window.addEventListener("online", flushAndRefresh);
  if (navigator.onLine !== false) flushAndRefresh();
  else showWaiting();

  // for the browser tests
  window.learnloopOutbox = { flush, queued };
})();
