/* The bell on the rider and field pages (templates/_bell.html): my unread count, kept fresh without a reload, and my
   notifications, newest first; one opened is marked read and opens its case, or all are marked read at once.
   It speaks the page's language (<html lang>, which the rider page's 中文/English switch sets). */

import { getJSON, postJSON } from "/static/js/http.js";

const WORDS = {
  zh: { title: "通知", all_read: "全部已读", empty: "暂无通知", failed: "通知暂时无法加载，请稍后再试", unread: "通知（{n} 条未读）" },
  en: { title: "Notifications", all_read: "Mark all read", empty: "No notifications yet.",
        failed: "Could not load the notifications: try again later", unread: "Notifications ({n} unread)" }
};
const POLL_MS = 60000, AT_MOST_EVERY_MS = 5000;

const bell = document.getElementById("bell");
const $ = (id) => document.getElementById(id);
let unread = 0, items = null, failed = false, askedAt = 0;

function lang() { return document.documentElement.lang === "en" ? "en" : "zh"; }

function word(key, n) { return WORDS[lang()][key].replace("{n}", n); }

const two = (n) => (n < 10 ? "0" : "") + n;

/** An ISO time with its offset as month-day hour:minute on the phone's clock. */
function when(iso) {
  const d = new Date(Date.parse(iso));
  return two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " + two(d.getHours()) + ":" + two(d.getMinutes());
}

function caseLink(caseNo) { return bell.dataset.caseLink.replace("{no}", encodeURIComponent(caseNo)); }

function showCount(n) {
  unread = n;
  $("bell-count").hidden = n === 0;
  $("bell-count").textContent = n > 99 ? "99+" : String(n);
  $("bell-button").setAttribute("aria-label", n ? word("unread", n) : word("title"));
}

/** The unread count, asked cheaply (one indexed count); not more than once every few seconds unless forced. */
async function refreshCount(force) {
  if (!force && Date.now() - askedAt < AT_MOST_EVERY_MS) { return; }
  askedAt = Date.now();
  try {
    showCount((await getJSON("/api/v1/me/notifications/unread")).unread);
    if (!$("bell-panel").hidden && items && unread !== items.filter((n) => !n.read).length) { loadList(); }
  } catch (e) { /* no signal, or logged out (the page says so): the count stays as it was */ }
}

async function loadList() {
  try {
    const answer = await getJSON("/api/v1/me/notifications");
    items = answer.items;
    failed = false;
    showCount(answer.unread);
  } catch (e) {
    failed = true;
  }
  renderList();
}

function renderList() {
  document.querySelectorAll("[data-bell]").forEach((node) => { node.textContent = word(node.dataset.bell); });
  $("bell-empty").hidden = !(failed || (items && items.length === 0));
  if (failed) { $("bell-empty").textContent = word("failed"); }
  $("bell-all").hidden = !items || !items.some((n) => !n.read);
  $("bell-list").replaceChildren(...(items || []).map(entry));
}

function entry(n) {
  const text = document.createElement("span");
  text.textContent = (n.text && n.text[lang()]) || n.message;
  const time = document.createElement("time");
  time.dateTime = n.created_at;
  time.textContent = when(n.created_at);
  const opens = n.case_no && n.case_visible;
  const target = document.createElement(opens ? "a" : "button");
  if (opens) { target.href = caseLink(n.case_no); } else { target.type = "button"; }
  target.append(text, time);
  target.addEventListener("click", (event) => { event.preventDefault(); openOne(n, opens ? target.href : null); });
  const item = document.createElement("li");
  item.className = n.read ? "read" : "unread";
  item.append(target);
  return item;
}

/** Mark it read (once), then open its case where there is one to open. */
async function openOne(n, href) {
  if (!n.read) {
    try {
      showCount((await postJSON("/api/v1/me/notifications/" + n.id + "/read")).unread);
      n.read = true;
    } catch (e) { /* still unread: it stays so, and says so */ }
    renderList();
  }
  if (href) {
    setOpen(false);
    location.assign(href);
  }
}

async function markAll() {
  try {
    showCount((await postJSON("/api/v1/me/notifications/read")).unread);
    (items || []).forEach((n) => { n.read = true; });
  } catch (e) { /* nothing changed */ }
  renderList();
}

function setOpen(open) {
  $("bell-panel").hidden = !open;
  $("bell-button").setAttribute("aria-expanded", String(open));
  if (open) { renderList(); loadList(); }
}

if (bell) {
  $("bell-button").addEventListener("click", () => setOpen($("bell-panel").hidden));
  $("bell-all").addEventListener("click", markAll);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") { setOpen(false); } });
  document.addEventListener("click", (e) => { if (!bell.contains(e.target)) { setOpen(false); } });
  // the language switch changes <html lang>: the bell follows
  new MutationObserver(() => { showCount(unread); renderList(); })
    .observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) { refreshCount(); } });
  window.addEventListener("focus", () => refreshCount());
  setInterval(() => { if (!document.hidden) { refreshCount(true); } }, POLL_MS);
  showCount(Number(bell.dataset.unread) || 0);  // counted as the page was made; asked again from then on
  askedAt = Date.now();
  renderList();
}
