// ReportIn web app: service worker (scope /app/). It keeps one copy of the app's files per
// version so that the app opens without a network. API calls are never answered from here:
// reports waiting for the network are kept by the page itself (outbox.js, in IndexedDB).
"use strict";

const CONFIG = {{ config|safe }};
const CACHE = "reportin-app-" + CONFIG.version;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      // "reload": past the HTTP cache, so a new version never keeps an old file.
      .then((cache) => cache.addAll(CONFIG.assets.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((name) => name.startsWith("reportin-app-") && name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) {
    return;
  }
  if (request.mode === "navigate" && url.pathname === CONFIG.shell) {
    // The app has one page; whatever its query, the kept copy serves.
    event.respondWith(caches.match(CONFIG.shell).then((kept) => kept || fetch(request)));
    return;
  }
  if (CONFIG.assets.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((kept) => kept || fetch(request)));
  }
  // Everything else (the API above all) goes to the network as usual.
});

// A notice or reminder pushed by the server (enforcement.channels.WebPushChannel: RFC 8291
// encrypted, so only this browser reads it). Shown as a notification; a tap opens the app.
self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch (error) {
    message = { body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(self.registration.showNotification(message.title || "ReportIn", {
    body: message.body || "",
    tag: message.tag,
    lang: message.lang,
    data: { url: message.url || CONFIG.shell },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || CONFIG.shell;
  event.waitUntil(
    self.clients.matchAll({ type: "window" }).then((open) => {
      const app = open.find((client) => new URL(client.url).pathname.startsWith(CONFIG.shell));
      return app ? app.focus() : self.clients.openWindow(url);
    }),
  );
});
