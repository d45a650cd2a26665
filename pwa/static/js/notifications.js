/* learnloop: switch Web Push notifications on or off for this device.
 *
 * Progressive enhancement of a [data-push] box (first-run step 3 and Settings). The browser is
 * asked for permission only when the person presses the button, never on page load. Then the
 * device subscribes with the server's VAPID key (GET /api/v1/push/public-key) and the
 * subscription is handed to the server (POST /api/v1/me/push-subscriptions). Any failure ends
 * in a calm message in the box; the page itself keeps working.
 */
"use strict";

(() => {
  const box = document.querySelector("[data-push]");
  if (!box) return;
  if (!("serviceWorker" in navigator && "PushManager" in window && "Notification" in window)) return;

  const button = box.querySelector("[data-push-toggle]");
  const status = box.querySelector("[data-push-status]");
  const fallback = box.querySelector("[data-push-unsupported]");
  if (!button || !status) return;
  box.hidden = false;
  button.hidden = false;
  if (fallback) fallback.hidden = true;

  const say = (key) => {
    status.textContent = box.dataset[key] || "";
  };

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)learnloop_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /** The VAPID key as the Push API wants it: base64url text to bytes. */
  function keyBytes(base64url) {
    const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  /** A short name for this device, so the person can recognise it later. */
  function deviceLabel() {
    const ua = navigator.userAgent;
    const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox"
      : /Chrom(e|ium)\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
    const system = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS"
      : /Mac OS X/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
    return system ? `${browser} on ${system}` : browser;
  }

  /** The promise's outcome, or an error after `ms`: a silent push service never hangs the button. */
  function within(ms, promise, what) {
    return Promise.race([
      promise,
      new Promise((resolve, reject) => setTimeout(() => reject(new Error(`${what}: no answer`)), ms)),
    ]);
  }

  const registration = () => within(10000, navigator.serviceWorker.ready, "service worker");

  async function subscription() {
    const reg = await registration();
    return reg.pushManager.getSubscription();
  }

  async function turnOn() {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      say(permission === "denied" ? "msgDenied" : "msgOff");
      return;
    }
    const reg = await registration();
    const keyResponse = await fetch("/api/v1/push/public-key", { credentials: "same-origin" });
    if (!keyResponse.ok) throw new Error(`public key: ${keyResponse.status}`);
    const { public_key: publicKey } = await keyResponse.json();
    const sub =
      (await reg.pushManager.getSubscription()) ||
      (await within(
        10000,
        reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) }),
        "push service",
      ));
    const saved = await fetch("/api/v1/me/push-subscriptions", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrfToken() },
      body: JSON.stringify({ ...sub.toJSON(), user_agent_label: deviceLabel() }),
    });
    if (!saved.ok) {
      // a device the server does not know would never get a message: undo, try again later
      await sub.unsubscribe();
      throw new Error(`subscription: ${saved.status}`);
    }
    say("msgOn");
  }

  async function turnOff() {
    const sub = await subscription();
    // the server forgets the device the next time the push service says it is gone
    if (sub) await sub.unsubscribe();
    say("msgOff");
  }

  async function isOn() {
    if (Notification.permission !== "granted") return false;
    try {
      return Boolean(await subscription());
    } catch (noWorker) {
      return false;
    }
  }

  async function show() {
    const on = await isOn();
    button.dataset.state = on ? "on" : "off";
    button.textContent = on ? box.dataset.labelOff : box.dataset.labelOn;
    if (Notification.permission === "denied") say("msgDenied");
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      if (button.dataset.state === "on") await turnOff();
      else await turnOn();
    } catch (error) {
      console.warn("learnloop: notifications", error);
      say("msgFailed");
    } finally {
      button.disabled = false;
      await show();
    }
  });

  button.dataset.state = "off";
  if (Notification.permission === "granted") show();
  else if (Notification.permission === "denied") say("msgDenied");
})();
