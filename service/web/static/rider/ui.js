/* The rider page's little helpers: elements by id, making elements, notices, times on the phone's clock. */

import { HttpError } from "/static/js/http.js";
import { serverMessage, t } from "./words.js";

const NOTICE_MS = 8000;

export const $ = (id) => document.getElementById(id);

/** An element with attributes (text, className, on<event> handlers, the rest as attributes) and children. */
export function el(tag, attrs, children) {
  const node = document.createElement(tag);
  Object.keys(attrs || {}).forEach((name) => {
    const value = attrs[name];
    if (name === "text") { node.textContent = value; }
    else if (name === "className") { node.className = value; }
    else if (name.slice(0, 2) === "on") { node.addEventListener(name.slice(2), value); }
    else if (value != null && value !== false) { node.setAttribute(name, value); }
  });
  (children || []).forEach((child) => { if (child) { node.append(child); } });
  return node;
}

/** Put these children in the element with this id, instead of what it held. */
export function fill(id, children) { $(id).replaceChildren(...children); }

/* ---------- notices ---------- */

export function notice(text, kind, options = {}) {
  if (options.id) { dropNotices(options.id); }
  const box = el("div", { className: "notice " + (kind || ""), role: kind === "error" ? "alert" : "status", id: options.id }, [
    el("span", { text }), options.link || null,
    el("button", { type: "button", "aria-label": t("dismiss"), text: "×", onclick: () => close() })
  ]);
  function close() { box.remove(); if (options.onclose) { options.onclose(); } }
  $("notices").append(box);
  if (!options.sticky) { setTimeout(() => box.remove(), NOTICE_MS); }
  return box;
}

export function dropNotices(...ids) {
  ids.forEach((id) => { const box = document.getElementById(id); if (box) { box.remove(); } });
}

export function askToLogIn() {
  const link = el("a", { href: "/login?next=/", text: t("log_in") });
  notice(t("log_in_again"), "warn", { sticky: true, id: "login-notice", link });
}

/** What to tell the rider when a call failed: the server's reason, or that there is no signal. */
export function failureText(error) {
  if (!(error instanceof HttpError)) { return t("offline"); }
  return serverMessage(error.body) || t("load_failed");
}

/** A failed call as a notice: an error when the server refused, a warning when there was no answer. */
export function failureNotice(error, id) {
  notice(failureText(error), error instanceof HttpError ? "error" : "warn", { id });
}

/* ---------- times, on the phone's clock ---------- */

const two = (n) => (n < 10 ? "0" : "") + n;

export function phoneTime(ms) {
  const d = new Date(ms);
  return two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " + two(d.getHours()) + ":" + two(d.getMinutes());
}

/** An ISO 8601 time with its offset, as month-day hour:minute. */
export function shortTime(iso) { return iso ? phoneTime(Date.parse(iso)) : ""; }

export function clockTime(ms) { return phoneTime(ms).slice(6); }
