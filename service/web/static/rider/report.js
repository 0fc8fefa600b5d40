/* The rider's report form sent through the shared outbox: kept on the phone until the server has it; refusals kept on screen. */

import { Outbox } from "/static/js/outbox.js";
import { categoryIcon, categoryName, categoryOf, chosenCode, setChosen } from "./categories.js";
import { photos } from "./photos.js";
import { currentPlace, forgetPlaceByHand } from "./place.js";
import { $, clockTime, dropNotices, el, fill, notice, phoneTime } from "./ui.js";
import { serverMessage, t } from "./words.js";

export const outbox = new Outbox({ owner: document.body.dataset.user });

let waitingReports = [];
// one status of the reports at a time: "已上报" and "已保存在手机上" take each other's place, never side by side
const STATUS = "report-status";
const refusedNow = new Set();  // ids of reports refused since the page opened
/** Reports the server refused for good stay on screen (across reloads) until the rider closes them. */
let refusals = JSON.parse(localStorage.getItem("rider.refused") || "[]");

outbox.addEventListener("progress", (e) => showProgress(e.detail));
outbox.addEventListener("changed", () => showOutbox());
outbox.addEventListener("sent", (e) => {
  dropNotices("login-notice");
  notice(t("sent", { no: e.detail.body.case_no }), "ok", { id: STATUS });
});
outbox.addEventListener("refused", (e) => {
  const { report, body, status } = e.detail;
  refusedNow.add(report.id);
  const entry = { id: report.id, message: (serverMessage(body) || "HTTP " + status) + " · " + categoryName(report.category, report.label) };
  refusals.push(entry);
  localStorage.setItem("rider.refused", JSON.stringify(refusals));
  showRefusal(entry);
});

function showRefusal(entry) {
  notice(t("refused", { msg: entry.message }), "error", {
    sticky: true, id: "refused-" + entry.id,
    onclose: () => {
      refusals = refusals.filter((r) => r.id !== entry.id);
      localStorage.setItem("rider.refused", JSON.stringify(refusals));
    }
  });
}

export function showRefusals() { refusals.forEach(showRefusal); }

export async function submitReport() {
  const problem = !photos.count ? "need_photo" : !chosenCode() ? "need_category" : !currentPlace() ? "need_place" : null;
  if (problem) { notice(t(problem), "warn", { id: "form-problem" }); return; }
  dropNotices("form-problem");
  $("submit").disabled = true;
  let report;
  try {
    report = await outbox.add(await formReport());
    dropNotices(STATUS);  // the last report's status is not this one's: the progress bar tells of this one now
    clearForm();
  } finally {
    $("submit").disabled = false;  // kept on the phone: the rider may start the next report while this one goes up
  }
  await outbox.flush(true);
  const left = await outbox.waiting();
  if (left.some((r) => r.id === report.id)) { notice(t("saved"), "warn", { id: STATUS }); }
  // refused at once: let the rider mend it rather than shoot again (unless they have begun the next one)
  if (refusedNow.has(report.id) && formIsEmpty()) { restoreForm(report); }
}

function formIsEmpty() { return !photos.count && !chosenCode() && !$("description").value.trim(); }

/** What the form holds, as the outbox keeps it. */
async function formReport() {
  const blobs = await photos.blobs();
  const chosen = chosenCode(), place = currentPlace(), category = categoryOf(chosen);
  return {
    label: category ? category.name : chosen, category: chosen, photos: blobs,
    fields: { lat: place.lat.toFixed(7), lon: place.lon.toFixed(7), coord_system: "wgs84",
              accuracy_m: place.byHand || place.accuracy == null ? "" : String(place.accuracy),
              category: chosen, description: $("description").value.trim() }
  };
}

function restoreForm(report) {
  photos.set(report.photos);
  setChosen(report.category);
  $("description").value = report.fields.description;
}

/** The form emptied for the next report (after one is kept, or a case joined instead). */
export function clearForm() {
  photos.clear();
  setChosen(null);
  $("description").value = "";
  forgetPlaceByHand();
}

function showProgress({ index, count, fraction }) {
  $("progress").hidden = fraction === null;
  if (fraction === null) { return; }
  const percent = Math.round(fraction * 100) + "%";
  $("progress-text").textContent = t("uploading", { i: index, n: count }) + " · " + percent;
  $("progress-bar").style.width = percent;
}

/** The reports waiting on the phone: the count in the header, the list on 我的上报. */
export async function showOutbox() {
  waitingReports = await outbox.waiting();
  $("outbox").hidden = waitingReports.length === 0;
  $("outbox-count").textContent = waitingReports.length;
  renderWaiting();
}

export function waitingCount() { return waitingReports.length; }

export function renderWaiting() {
  fill("pending-list", waitingReports.map((r) => {
    const retry = r.attempts ? " · " + t("retry_at", { t: clockTime(r.next_at) }) : "";
    return el("li", {}, [categoryIcon(r.category, r.label), el("div", { className: "body" }, [
      el("b", { text: categoryName(r.category, r.label) + " " }, [el("span", { className: "state waiting", text: t("waiting") })]),
      el("span", { className: "meta", text: phoneTime(r.created_at) + " · " + t("photos_n", { n: r.photos.length }) + retry })
    ])]);
  }));
}
