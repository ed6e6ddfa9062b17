/* evacops service worker: keeps the gate page and its assets so the page opens without a link.
   Pages: network first, the cached copy when offline. Static files: cache first. The API is
   never cached (the outbox in IndexedDB carries scans made offline). The gate page holds its
   style and script inline, so the cached page is the whole gate; jsQR (the QR decoder for
   browsers without BarcodeDetector) is fetched here, after the page has loaded, so the camera
   works offline too. */
const CACHE = "evacops-__ASSETS__"; // the server puts a digest of ASSETS here
const ASSETS = ["/static/style.css", "/static/vendor/jsQR.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(ASSETS)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) {
    return;
  }
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(
      caches.match(req).then((hit) => hit || fetch(req).then((res) => {
        const copy = res.clone();
        caches.open(CACHE).then((c) => c.put(req, copy));
        return res;
      }))
    );
    return;
  }
  if (/^\/o\/[^/]+\/gate$/.test(url.pathname)) {
    event.respondWith(
      fetch(req).then((res) => {
        if (res.ok && !res.redirected) {
          const copy = res.clone();
          caches.open(CACHE).then((c) => c.put(url.pathname, copy));
        }
        return res;
      }).catch(() => caches.match(url.pathname))
    );
  }
});
