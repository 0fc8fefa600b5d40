/* The grid worker's page: each order's next step (接单处置, then 处置完成 with after photos shrunk on the phone) sent
   through the shared outbox, so with no signal it waits on the phone (待上传) and goes when the network is back;
   upload progress on the card; the opened case's map. */

import { PhotoSet } from "/static/js/capture.js";
import { session } from "/static/js/http.js";
import { showMinimap } from "/static/js/maps.js";
import { Outbox } from "/static/js/outbox.js";
import { CaseState } from "/static/js/states.js";

const NOTICE_MS = 8000;
const STEP_WORDS = { start: "接单处置", resolve: "处置完成", send_back: "退回" };
const list = document.getElementById("orders");
const outbox = new Outbox({ owner: list.dataset.user, kind: "action" });
const maxPhotos = parseInt(list.dataset.maxPhotos, 10) || 4;
const photoSets = new Map();  // case number -> the PhotoSet of its resolve form
let uploading = null;  // the id of the item going up now

const orderCard = (caseNo) => document.getElementById("order-" + caseNo);

/** A short line at the top of the page; errors stay until closed. */
function say(text, kind, link) {
  const box = document.createElement("p");
  box.className = "flash " + (kind || "ok");
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  box.append(text);
  if (link) { box.append(" ", link); }
  document.getElementById("field-notices").prepend(box);
  if (kind !== "error") { setTimeout(() => box.remove(), NOTICE_MS); }
}

/** The Chinese half of a refusal's "中文 / English" message. */
function refusalText(body, status) {
  const message = body && body.error && body.error.message;
  return message ? message.split(" / ")[0] : "HTTP " + status;
}

function bindCard(card) {
  const details = card.querySelector("details");
  details.addEventListener("toggle", () => { if (details.open) { openMap(card); } });
  if (details.open) { openMap(card); }
  card.querySelectorAll("form.step").forEach((form) => form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitStep(card, form);
  }));
  const input = card.querySelector("form[data-step=resolve] input[type=file]");
  if (input) {
    const photos = new PhotoSet({ max: maxPhotos, onchange: () => showPreviews(card, photos) });
    photoSets.set(card.dataset.caseNo, photos);
    input.addEventListener("change", () => { photos.clear(true); photos.add(input.files); });
  }
}

/** The opened case's small map, drawn once it can be seen (Leaflet cannot size a map in a closed box). */
function openMap(card) {
  const map = card.querySelector(".field-map");
  if (!map || map.dataset.drawn || !window.L) { return; }
  map.dataset.drawn = "1";
  showMinimap(map);
}

function showPreviews(card, photos) {
  const box = card.querySelector(".previews");
  box.replaceChildren(...photos.slots.map((slot) => {
    if (!slot.url) { return Object.assign(document.createElement("span"), { textContent: "正在压缩…" }); }
    const img = Object.assign(document.createElement("img"), { src: slot.url, alt: "待上传的处置后照片" });
    const size = document.createElement("small");
    size.textContent = Math.round(slot.blob.size / 1024) + " KB";
    const figure = document.createElement("figure");
    figure.append(img, size);
    return figure;
  }));
}

async function submitStep(card, form) {
  const step = form.dataset.step, caseNo = card.dataset.caseNo, button = form.querySelector("button");
  const fields = { action: step };
  const note = form.querySelector("[name=note]"), reason = form.querySelector("[name=reason]");
  if (note && note.value.trim()) { fields.note = note.value.trim(); }
  if (reason) {
    if (!reason.value) { say("请选择退回原因", "warn"); return; }
    fields.reason = reason.value;
  }
  let photos = [];
  button.disabled = true;
  try {
    if (step === "resolve") {
      const set = photoSets.get(caseNo);
      if (!set || !set.count) { say("请先拍处置后照片", "warn"); return; }
      photos = await set.blobs();  // each shrunk to 2048 px at most before it is kept
      set.clear(true);
      form.reset();
      showPreviews(card, set);
    }
    await outbox.add({ url: form.getAttribute("action"), fields, photos, case_no: caseNo, step });
  } finally {
    button.disabled = false;
  }
  await outbox.flush(true);
}

/** Each card as the waiting actions leave it: the next step after them, and 待上传 saying what waits on the phone. */
async function showWaiting() {
  const waiting = await outbox.waiting();
  document.querySelectorAll("#orders li.order").forEach((card) => {
    const mine = waiting.filter((item) => item.case_no === card.dataset.caseNo);
    const told = mine.filter((item) => item.id !== uploading);  // one status at a time: going up, or waiting
    const steps = new Set(mine.map((item) => item.step));
    const started = card.dataset.state !== CaseState.DISPATCHED || steps.has("start");
    card.querySelector("form[data-step=start]").hidden = started || steps.has("resolve");
    card.querySelector("form[data-step=resolve]").hidden = !started || steps.has("resolve");
    card.classList.toggle("waiting", mine.length > 0);
    const mark = card.querySelector(".waiting-mark");
    mark.hidden = mine.length === 0;
    mark.textContent = told.length ? "待上传" : "上传中";
    const pending = card.querySelector(".pending");
    pending.hidden = told.length === 0;
    pending.textContent = !told.length ? "" : "待上传：" + told.map((item) => STEP_WORDS[item.step] +
      (item.photos.length ? "（" + item.photos.length + " 张照片）" : "")).join("、") +
      " 已保存在手机上，有网络时自动发送" + (told.some((item) => item.attempts) ? "（将自动重试）" : "");
  });
  const status = document.getElementById("outbox-status");
  status.hidden = waiting.length === 0 || (uploading !== null && waiting.length === 1);
  status.textContent = waiting.length + " 项操作待上传，已保存在手机上";
}

function showProgress({ fraction, item }) {
  const now = fraction === null ? null : item.id;
  if (now !== uploading) { uploading = now; showWaiting(); }
  const card = orderCard(item.case_no);
  if (!card) { return; }
  const upload = card.querySelector(".upload");
  upload.hidden = fraction === null;
  if (fraction === null) { return; }
  const percent = Math.round(fraction * 100);
  upload.querySelector("progress").value = percent;
  upload.querySelector(".upload-text").textContent = "正在上传" + STEP_WORDS[item.step] + " " + percent + "%";
}

/** The card as the server now has it (its next step), or gone once resolved; the count in the tab. */
async function refreshCard(caseNo) {
  let fresh;
  try {
    const response = await fetch(location.pathname, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok || response.redirected) { return; }
    fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  } catch (e) {
    return;  // no signal again: the card stays as the waiting list leaves it
  }
  const count = fresh.querySelector(".field-tabs .on b");
  if (count) { document.querySelector(".field-tabs .on b").textContent = count.textContent; }
  const old = orderCard(caseNo), now = fresh.getElementById("order-" + caseNo);
  if (!old) { return; }
  photoSets.delete(caseNo);
  if (!now) {
    old.remove();
    if (!list.querySelector("li.order")) { list.replaceChildren(fresh.querySelector("#orders li.empty") || ""); }
  } else {
    now.querySelector("details").open = old.querySelector("details").open;
    old.replaceWith(now);
    bindCard(now);
  }
  await showWaiting();
}

outbox.addEventListener("changed", () => showWaiting());
outbox.addEventListener("progress", (event) => showProgress(event.detail));
outbox.addEventListener("sent", (event) => {
  const { item } = event.detail;
  say(item.case_no + " 已" + STEP_WORDS[item.step] + (item.step === "resolve" ? "，待社区核查" : ""), "ok");
  refreshCard(item.case_no);
});
outbox.addEventListener("refused", (event) => {
  const { item, body, status } = event.detail;
  say(item.case_no + " " + STEP_WORDS[item.step] + "未成功：" + refusalText(body, status), "error");
  refreshCard(item.case_no);
});
session.addEventListener("expired", () => {
  const link = Object.assign(document.createElement("a"), { href: "/login?next=/field", textContent: "重新登录" });
  say("登录已过期，待上传的操作仍保存在手机上，登录后自动发送。", "error", link);
});
window.addEventListener("online", () => outbox.flush(true));
document.addEventListener("visibilitychange", () => { if (!document.hidden) { outbox.flush(true); } });

document.querySelectorAll("#orders li.order").forEach(bindCard);
/** The order the address names (#order-<no>, where the bell's links lead): opened, and scrolled to. */
function openNamedOrder() {
  const card = location.hash.startsWith("#order-") ? document.getElementById(location.hash.slice(1)) : null;
  const details = card && card.querySelector("details");
  if (details) { details.open = true; card.scrollIntoView({ block: "start" }); }
}
window.addEventListener("hashchange", openNamedOrder);
openNamedOrder();
list.dataset.ready = "true";  // the steps now go through the outbox (before this a tap posts the plain form)
showWaiting().then(() => outbox.flush(true));
