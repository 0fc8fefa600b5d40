/* The rider's page, its one entry point: the community's data handed to each part, the views (#report, #mine, #case/<no>), the wiring. */

import { getJSON, session } from "/static/js/http.js";
// the bell in the header, which starts by itself
import "/static/js/bell.js";
import { renderCategories, setCategories, setChosen, showKind, whenChosen } from "./categories.js";
import { loadCase, loadMine, renderCase, renderMine } from "./mine.js";
import { renderNearby, scheduleNearby, whenJoined } from "./nearby.js";
import { addPhotos, renderPreviews, setMaxPhotos } from "./photos.js";
import { relocate, renderPlace, setUpMap, showDistrict, startLocating, whenPlaced } from "./place.js";
import { clearForm, outbox, renderWaiting, showOutbox, showRefusals, submitReport } from "./report.js";
import { $, askToLogIn, dropNotices, failureNotice, notice } from "./ui.js";
import { applyLanguage, switchLanguage, t } from "./words.js";

/** The categories, photo limit, the district's box and communities (kept by the service worker for a start with no signal). */
async function loadCommunity() {
  try {
    const community = await getJSON("/api/v1/community");
    dropNotices("community-failed");
    setMaxPhotos(community.max_photos);
    showDistrict(community.area, community.communities);
    setCategories(community.categories);
  } catch (e) {
    failureNotice(e, "community-failed");
  }
}

function route() {
  const hash = location.hash;
  const view = hash.indexOf("#case/") === 0 ? "case" : hash === "#mine" ? "mine" : "report";
  ["report", "mine", "case"].forEach((name) => { $("view-" + name).hidden = name !== view; });
  $("tab-report").className = view === "report" ? "on" : "";
  $("tab-mine").className = view === "report" ? "" : "on";
  if (view === "report") { setUpMap(); }
  if (view === "mine") { loadMine(); }
  if (view === "case") { loadCase(decodeURIComponent(hash.slice(6))); }
}

function renderEverything() {
  renderPreviews();
  renderPlace();
  renderCategories();
  renderNearby();
  renderWaiting();
  renderMine();
  renderCase();
}

function logOut(event) {
  event.preventDefault();
  const form = event.target;
  // the cached page belongs to this person: forget it (reports still waiting stay, and go when they log in again)
  const forget = !window.caches ? Promise.resolve() : caches.keys().then((keys) => Promise.all(keys.map((k) => caches.delete(k))));
  forget.catch(() => {}).then(() => form.submit());
}

function bindEvents() {
  whenChosen(scheduleNearby);
  whenPlaced(scheduleNearby);
  whenJoined((caseNo) => {
    clearForm();
    notice(t("me_too_done", { no: caseNo }), "ok", { id: "me-too-done" });
    window.scrollTo(0, 0);
  });
  session.addEventListener("expired", askToLogIn);
  outbox.addEventListener("sent", () => { if (!$("view-mine").hidden) { loadMine(); } });
  $("photo-input").addEventListener("change", (e) => addPhotos(e.target));
  $("gallery-input").addEventListener("change", (e) => addPhotos(e.target));
  $("relocate").addEventListener("click", () => relocate());
  $("rechoose").addEventListener("click", () => setChosen(null));
  document.querySelectorAll(".kinds button").forEach((b) => b.addEventListener("click", () => showKind(b.dataset.kind)));
  $("submit").addEventListener("click", submitReport);
  $("lang").addEventListener("click", () => { switchLanguage(); renderEverything(); });
  $("refresh").addEventListener("click", () => loadMine());
  $("more").addEventListener("click", () => loadMine(true));
  $("logout").addEventListener("submit", logOut);
  window.addEventListener("hashchange", route);
  window.addEventListener("online", () => outbox.flush(true));
  document.addEventListener("visibilitychange", () => { if (!document.hidden) { outbox.flush(true); } });
}

// a module runs once the page is parsed (after the classic Leaflet script before it)
applyLanguage();
bindEvents();
renderPreviews();
route();
startLocating();
renderPlace();
loadCommunity();
showRefusals();
showOutbox().then(() => outbox.flush(true));
if ("serviceWorker" in navigator) { navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {}); }
