/* Service worker of the report page: the page opens without a network.
 *
 * Served at /report/sw.js (a view) so that its scope is /report/. It answers only GET
 * requests of the pages it controls:
 *   - /report/ pages: network first (a fresh page and CSRF token when online), the saved
 *     copy when the network fails or is too slow;
 *   - static files (?static=/static/): cache first, refreshed in the background so a new
 *     release is picked up on the next visit.
 * Everything else, the API above all, goes to the network untouched: a report that cannot
 * be sent is kept in IndexedDB by the page itself (report.js), never here.
 */
"use strict";

const VERSION = "yunbao-report-v1";
const PAGES = VERSION + "-pages";
const STATIC = VERSION + "-static";
const STATIC_PREFIX = new URL(self.location.href).searchParams.get("static") || "/static/";
const SCOPE_PATH = new URL(self.registration.scope).pathname; // "/report/"
const SLOW_NETWORK_MS = 6000;

self.addEventListener("install", () => {
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names
        .filter((name) => name.indexOf("yunbao-report-") === 0 && name.indexOf(VERSION + "-") !== 0)
        .map((name) => caches.delete(name))))
      .then(() => self.clients.claim())
  );
});

// The page, on its first visit (before this worker controlled it), lists what it loaded.
self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type !== "precache" || !Array.isArray(data.urls)) return;
  event.waitUntil(Promise.all(data.urls.map((url) => {
    const path = new URL(url, self.location.href);
    if (path.origin !== self.location.origin) return null;
    const cacheName = path.pathname.indexOf(STATIC_PREFIX) === 0 ? STATIC : PAGES;
    return fetch(url, { credentials: "same-origin" })
      .then((response) => (response.ok ? caches.open(cacheName).then((c) => c.put(url, response)) : null))
      .catch(() => null);
  })));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.indexOf(STATIC_PREFIX) === 0) {
    event.respondWith(cacheFirst(event, request));
  } else if (request.mode === "navigate" && url.pathname.indexOf(SCOPE_PATH) === 0) {
    event.respondWith(networkFirst(event, request));
  }
});

/** Save a copy of a good response; cloned at once, before the page starts reading it. */
function keep(cache, request, response) {
  if (!response.ok) return null;
  const copy = response.clone();
  return cache.then((c) => c.put(request, copy));
}

// Both call event.waitUntil at once (while the event is being dispatched), as they must.

function cacheFirst(event, request) {
  const cache = caches.open(STATIC);
  const refresh = fetch(request);
  event.waitUntil(refresh
    .then((response) => keep(cache, request, response))
    .catch(() => null));
  return cache
    .then((c) => c.match(request, { ignoreVary: true }))
    .then((hit) => hit || refresh);
}

function networkFirst(event, request) {
  const cache = caches.open(PAGES);
  const network = fetch(request);
  event.waitUntil(network
    .then((response) => keep(cache, request, response))
    .catch(() => null));
  return cache.then((c) => c.match(request, { ignoreVary: true }).then((saved) => {
    if (!saved) {
      // Never opened at this address (another QR code): any saved report page will do; the
      // page then takes the area from its own address.
      return network.catch((error) => c
        .match(SCOPE_PATH, { ignoreSearch: true, ignoreVary: true })
        .then((any) => {
          if (any) return any;
          throw error;
        }));
    }
    // A poor network: wait a while for a fresh page, then show the saved one.
    const slow = new Promise((resolve) => setTimeout(() => resolve(saved), SLOW_NETWORK_MS));
    return Promise.race([network.catch(() => saved), slow]);
  }));
}
