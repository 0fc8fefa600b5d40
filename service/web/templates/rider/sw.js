{#- Rendered by main.service_worker from the static manifest: the kept files and the cache's name follow each build. -#}
/* 随手拍 service worker: keeps the rider page's shell (page, modules, styles, the community and the district's communities, the
   grids of each cell the map fetched) so it opens with no signal. */
"use strict";

var CACHE = "suishoupai-shell-{{ version }}";  // a new build, a new cache: the old one goes on activate
var NETWORK_WAIT_MS = 4000;  // a signal that answers nothing for this long counts as none: the kept copy is shown
// network first (fresh whenever there is signal), the kept copy when there is none
var FRESH_FIRST = ["/", "/manifest.webmanifest", "/api/v1/community"];
// kept by path and query as they are fetched (not on install): a cell's grids, /api/v1/grids?bbox=…
var FRESH_FIRST_WITH_QUERY = ["/api/v1/grids"];
// the kept copy first: the static files, whose fingerprinted names never change content
var KEPT_FIRST = {{ shell | tojson }};

function noop() {}

/** Worth keeping: a whole answer from our own server, not a login page we were redirected to. */
function keepable(response) {
  return response.ok && !response.redirected && response.type === "basic";
}

function keep(path) {
  return fetch(path, { credentials: "same-origin" }).then(function (response) {
    return keepable(response) ? caches.open(CACHE).then(function (cache) { return cache.put(path, response); }) : null;
  }).catch(noop);
}

self.addEventListener("install", function (event) {
  event.waitUntil(Promise.all(FRESH_FIRST.concat(KEPT_FIRST).map(keep)).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== CACHE; }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request, url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (FRESH_FIRST.indexOf(url.pathname) >= 0) { event.respondWith(freshFirst(event, request, url.pathname)); }
  else if (FRESH_FIRST_WITH_QUERY.indexOf(url.pathname) >= 0) {
    event.respondWith(freshFirst(event, request, url.pathname + url.search));
  }
  else if (KEPT_FIRST.indexOf(url.pathname) >= 0) { event.respondWith(keptFirst(event, request, url.pathname)); }
});

function freshFirst(event, request, key) {
  var saving = null;
  var fromNetwork = fetch(request).then(function (response) {
    if (keepable(response)) {
      var copy = response.clone();
      saving = caches.open(CACHE).then(function (cache) { return cache.put(key, copy); });
    }
    return response;
  });
  event.waitUntil(fromNetwork.then(function () { return saving; }).catch(noop));
  var kept = function () { return caches.match(key).then(function (hit) { return hit || fromNetwork; }); };
  var slow = new Promise(function (resolve) { setTimeout(resolve, NETWORK_WAIT_MS); }).then(kept);
  return Promise.race([fromNetwork, slow]).catch(kept);
}

function keptFirst(event, request, key) {
  return caches.match(key).then(function (hit) {
    return hit || fetch(request).then(function (response) {
      if (!keepable(response)) { return response; }
      var copy = response.clone();
      return fromRiderPage(event).then(function (rider) {
        return rider ? caches.open(CACHE).then(function (cache) { return cache.put(key, copy); }) : null;
      }).catch(noop).then(function () { return response; });
    });
  });
}

/** Asked for by the rider's page: other pages share some of its files (the login page its style sheet of the
    states), and must not fill again the cache the person who just logged out emptied. */
function fromRiderPage(event) {
  if (!event.clientId) { return Promise.resolve(false); }
  return self.clients.get(event.clientId).then(function (client) {
    return !!client && new URL(client.url).pathname === "/";
  });
}
