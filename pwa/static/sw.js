/* learnloop service worker: an offline app shell, no libraries.
 *
 * Served from /sw.js (root scope) by backend/web/pwa_routes.py, which replaces
 * __SHELL_VERSION__ with a hash of the shell's files: every deploy that changes them gets
 * new caches, and the old ones are deleted on activate.
 *
 *   app shell (CSS, JS, icons, manifest, /offline)  precached, cache-first
 *   page navigations                                 network-first → cached page → /offline
 *     (a cached page gets data-copy-from="<its Date header>" on <body>: js/app.js says
 *      "offline, last updated …")
 *     (/log too: it is a signed-in page, so it is kept on the first visit, in the private
 *      cache, never precached: the install may run before anyone signs in)
 *   GET /api/v1/me/today                             network-first → cached copy
 *   anything else (POSTs, other /api/ calls, …)      not touched: straight to the network
 */
"use strict";

const VERSION = "__SHELL_VERSION__";
const SHELL_CACHE = `learnloop-shell-${VERSION}`;
// the learner's own pages and data; emptied on sign-out so the next person can't see them
const PRIVATE_CACHE = `learnloop-private-${VERSION}`;
const OFFLINE_URL = "/offline";
const TODAY_API = "/api/v1/me/today";
const SHELL = [
  OFFLINE_URL,
  "/manifest.webmanifest",
  "/static/css/app.css",
  "/static/js/app.js",
  "/static/js/log.js",
  "/static/icons/icon.svg",
  "/static/icons/icon-192.png",
  "/static/icons/icon-512.png",
  "/static/icons/icon-maskable-512.png",
  "/static/icons/apple-touch-icon.png",
];

self.addEventListener("install", (event) => {
  // cache: "reload" skips the HTTP cache, so the shell matches this version
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  const current = [SHELL_CACHE, PRIVATE_CACHE];
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith("learnloop-") && !current.includes(name))
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // the L&D console is a laptop tool that needs the network: never cached, never offline
  if (url.pathname === "/console" || url.pathname.startsWith("/console/")) return;

  if (request.method !== "GET") {
    // signing out: forget the cached pages and data of whoever was signed in
    if (request.method === "POST" && url.pathname === "/logout") {
      event.waitUntil(caches.delete(PRIVATE_CACHE));
    }
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(navigation(request));
  } else if (url.pathname === TODAY_API) {
    event.respondWith(networkFirst(request));
  } else if (SHELL.includes(url.pathname) || url.pathname.startsWith("/static/")) {
    event.respondWith(cacheFirst(request));
  }
});

/** Fetch and keep a copy of complete, same-origin, successful answers. */
async function fetchAndKeep(request, cacheName) {
  const response = await fetch(request);
  if (response.ok && response.type === "basic" && !response.redirected) {
    const cache = await caches.open(cacheName);
    await cache.put(request, response.clone());
  }
  return response;
}

async function navigation(request) {
  try {
    return await fetchAndKeep(request, PRIVATE_CACHE);
  } catch (offline) {
    // "/?source=pwa" (the start URL) falls back to a cached "/" too
    const copy =
      (await caches.match(request, { cacheName: PRIVATE_CACHE })) ||
      (await caches.match(request, { cacheName: PRIVATE_CACHE, ignoreSearch: true }));
    if (copy) return markAsCopy(copy);
    return (await caches.match(OFFLINE_URL, { cacheName: SHELL_CACHE })) || Response.error();
  }
}

/** A kept page, marked as a copy fetched at its Date header, so it can say it is offline. */
async function markAsCopy(response) {
  const fetched = (response.headers.get("date") || "").replace(/[^\w ,:+-]/g, "");
  const html = (await response.text()).replace("<body ", `<body data-copy-from="${fetched}" `);
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  headers.delete("content-encoding"); // the text above is already decoded
  return new Response(html, { status: response.status, statusText: response.statusText, headers });
}

async function networkFirst(request) {
  try {
    return await fetchAndKeep(request, PRIVATE_CACHE);
  } catch (offline) {
    return (await caches.match(request, { cacheName: PRIVATE_CACHE })) || Response.error();
  }
}

async function cacheFirst(request) {
  const cached = await caches.match(request, { cacheName: SHELL_CACHE });
  return cached || fetchAndKeep(request, SHELL_CACHE);
}

/* ---- Web Push: show a nudge, and open the app where it points (backend/push) ------------
 * The payload is the JSON of backend/push/payload.py: nudge_id, title, body, url, icon,
 * badge, tag (the nudge kind: a newer nudge of a kind replaces the older notification), lang.
 */
self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch (notJson) {
    message = { body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(message.title || "learnloop", {
      body: message.body || "",
      icon: message.icon || "/static/icons/icon-192.png",
      badge: message.badge || "/static/icons/badge-96.png",
      tag: message.tag || "",
      lang: message.lang || "",
      data: { url: message.url || "/", nudge_id: message.nudge_id || null },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  const notification = event.notification;
  notification.close();
  const data = notification.data || {};
  let target = new URL(data.url || "/", self.location.origin);
  if (target.origin !== self.location.origin) target = new URL("/", self.location.origin);
  event.waitUntil(Promise.all([reportNudgeClick(data.nudge_id), openApp(target.href)]));
});

/** Tell the server the nudge worked (measurement); never in the learner's way. */
async function reportNudgeClick(nudgeId) {
  if (!nudgeId) return;
  try {
    await fetch(`/api/v1/nudges/${encodeURIComponent(nudgeId)}/click`, {
      method: "POST",
      credentials: "same-origin",
      keepalive: true,
    });
  } catch (offline) {
    // offline: the click is lost for the statistics, the learner still gets the app
  }
}

/** Focus an open window of the app and take it to ``url``, or open a new one. */
async function openApp(url) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
  if (open) {
    const focused = (await open.focus()) || open;
    try {
      return await focused.navigate(url);
    } catch (notControlled) {
      // navigate() only works on windows this worker controls
    }
  }
  return self.clients.openWindow(url);
}
