// The exchange day on a staff phone: the camera's frames read with jsQR (or six digits typed) give the rider's
// code; the API says whose it is and their balance; the goods picked are confirmed once, under one idempotency key
// however often the button or a bad signal makes the request go out; the receipt replaces the order.
import { HttpError, postJSON } from "/static/js/http.js";

const page = document.getElementById("exchange-day");
const community = page.dataset.community;
const perFlower = Number(page.dataset.perFlower);
const $ = (id) => document.getElementById(id);
const picks = [...page.querySelectorAll(".picks li")];
let shown = null;        // {code} or {digits} of the code being served
let balance = 0;
let key = null;          // this order's idempotency key: one per rider served
let stream = null;
let lastRead = null;     // the last text the camera read: not checked again while it stays in view

/** A fresh idempotency key (crypto.randomUUID needs https, and a desk may be on plain http in a closed network). */
function newKey() {
  if (crypto.randomUUID) { return crypto.randomUUID(); }
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function problem(text) {
  $("problem").textContent = text || "";
  $("problem").hidden = !text;
}

function said(error) {
  const body = error instanceof HttpError ? error.body : null;
  return (body && body.error && body.error.message) || "网络不稳定，请重试 / please try again";
}

function step(name) {
  for (const id of ["step-code", "step-goods", "step-receipt"]) { $(id).hidden = id !== name; }
}

async function check(sent) {
  problem("");
  try {
    const found = await postJSON("/api/v1/redemption-codes/check", { ...sent, community });
    shown = sent;
    key = newKey();
    balance = found.balance.points;
    $("rider-name").textContent = found.rider.display_name;
    $("rider-points").textContent = found.balance.points;
    $("rider-flowers").textContent = found.balance.flowers;
    for (const li of picks) { li.querySelector(".qty").value = "0"; li.querySelector(".qty").textContent = "0"; }
    total();
    stopCamera();
    step("step-goods");
  } catch (error) {
    problem(said(error));
    if (stream) { setTimeout(scan, 200); }  // a code that was no good: keep looking for the next one
  }
}

function total() {
  let flowers = 0;
  for (const li of picks) { flowers += Number(li.dataset.flowers) * Number(li.querySelector(".qty").textContent); }
  $("total-flowers").textContent = flowers;
  $("total-points").textContent = flowers * perFlower;
  $("short").hidden = flowers * perFlower <= balance;
  $("confirm").disabled = flowers === 0 || flowers * perFlower > balance;
}

for (const li of picks) {
  const qty = li.querySelector(".qty");
  li.querySelector(".more").addEventListener("click", () => {
    if (Number(qty.textContent) < Number(li.dataset.stock)) { qty.textContent = Number(qty.textContent) + 1; total(); }
  });
  li.querySelector(".less").addEventListener("click", () => {
    if (Number(qty.textContent) > 0) { qty.textContent = Number(qty.textContent) - 1; total(); }
  });
}

$("confirm").addEventListener("click", async () => {
  const items = picks.filter((li) => li.querySelector(".qty").textContent !== "0")
    .map((li) => ({ item: li.dataset.item, qty: Number(li.querySelector(".qty").textContent) }));
  $("confirm").disabled = true;
  problem("");
  try {
    const done = await postJSON("/api/v1/redemptions", { ...shown, items, idempotency_key: key, community });
    receipt(done);
  } catch (error) {
    problem(said(error));
    if (error instanceof HttpError && error.body && error.body.balance) { balance = error.body.balance.points; }
    total();
  }
});

function receipt(done) {
  const body = $("receipt-body");
  body.replaceChildren();
  const who = document.createElement("p");
  who.textContent = `${done.rider.display_name} · #${done.id} · ${done.created_at.replace("T", " ").slice(0, 16)}`;
  const list = document.createElement("ul");
  for (const item of done.items) {
    const line = document.createElement("li");
    line.textContent = `${item.name} × ${item.qty}`;
    list.append(line);
  }
  const sum = document.createElement("p");
  sum.className = "total";
  sum.textContent = `−${done.points} 积分（${done.flowers} 朵紫藤花） · 剩余 ${done.balance.points} 积分`;
  body.append(who, list, sum);
  step("step-receipt");
}

function again() {
  shown = null;
  lastRead = null;
  key = null;
  $("digits").value = "";
  problem("");
  step("step-code");
  startCamera();
}
$("cancel").addEventListener("click", again);
$("next").addEventListener("click", again);

$("digits-form").addEventListener("submit", (event) => {
  event.preventDefault();
  check({ digits: $("digits").value.replace(/\s/g, "") });
});

async function startCamera() {
  const video = $("camera");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.jsQR) {
    $("camera-status").textContent = "无法使用相机：请输入六位数字";
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (error) {
    $("camera-status").textContent = "无法使用相机：请输入六位数字";
    return;
  }
  video.srcObject = stream;
  await video.play().catch(() => {});
  $("camera-status").textContent = "请将兑换码对准取景框";
  scan();
}

function stopCamera() {
  if (stream) { for (const track of stream.getTracks()) { track.stop(); } }
  stream = null;
}

function scan() {
  if (!stream) { return; }
  const video = $("camera");
  const canvas = $("frame");
  if (video.readyState >= 2 && video.videoWidth) {
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(video, 0, 0);
    const frame = context.getImageData(0, 0, canvas.width, canvas.height);
    const read = window.jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "dontInvert" });
    if (read && read.data && !shown && read.data !== lastRead) {
      lastRead = read.data;
      check({ code: read.data });
      return;
    }
    if (!read) { lastRead = null; }
  }
  setTimeout(scan, 200);
}

addEventListener("load", () => { startCamera(); page.dataset.ready = "1"; });
