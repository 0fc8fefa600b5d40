/* What a page sends kept on the phone (IndexedDB) until the server has it: the rider's reports (with a client_report_id)
   and the grid worker's case actions (start, resolve with its after photos, with a client_action_id); sent one at a
   time with upload progress, retried with backoff. */

import { csrfToken, errorCode, loggedOut, refreshToken } from "./http.js";

const RETRY_FIRST_MS = 5000, RETRY_LAST_MS = 10 * 60 * 1000, UPLOAD_TIMEOUT_MS = 3 * 60 * 1000;
const DATABASE = "suishoupai", STORE = "outbox";

/** A fresh id (a UUID) for what is kept: the server takes a report or an action with the same id only once. */
function newClientId() {
  if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 15) | 64;
  bytes[8] = (bytes[8] & 63) | 128;
  const hex = Array.from(bytes, (b) => (b + 256).toString(16).slice(1)).join("");
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
}

/** The IndexedDB store everything waits in, shared by every page and person on this phone (each sees their own). */
class Store {
  constructor() { this.db = null; this.inMemory = null; }  // without IndexedDB (some private modes): kept while the page stays open

  open() {
    this.db = this.db || new Promise((resolve, reject) => {
      const request = indexedDB.open(DATABASE, 1);
      request.onupgradeneeded = () => { request.result.createObjectStore(STORE, { keyPath: "id" }); };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    return this.db;
  }

  /** work(store) on the IndexedDB store, or inMemory(object) once IndexedDB has failed. */
  async use(mode, work, inMemory) {
    if (!this.inMemory) {
      try {
        const db = await this.open();
        return await new Promise((resolve, reject) => {
          const tx = db.transaction(STORE, mode), request = work(tx.objectStore(STORE));
          tx.oncomplete = () => resolve(request.result);
          tx.onerror = tx.onabort = () => reject(tx.error);
        });
      } catch (e) {
        this.inMemory = {};
      }
    }
    return inMemory(this.inMemory);
  }

  all() { return this.use("readonly", (store) => store.getAll(), Object.values); }
  put(report) { return this.use("readwrite", (store) => store.put(report), (kept) => { kept[report.id] = report; }); }
  drop(id) { return this.use("readwrite", (store) => store.delete(id), (kept) => { delete kept[id]; }); }
}

const store = new Store();
/** The field each kind's id goes in. */
const KINDS = { report: "client_report_id", action: "client_action_id" };

/**
 * One person's items of one kind waiting to be sent: "report"s to `url` (each report its client_report_id), or
 * "action"s each to its own url (each its client_action_id), in order: an action held back holds back the later ones
 * for the same case. Events: "progress" (detail {index, count, fraction, item}; fraction null once an upload ends),
 * "sent" ({report, item, body}), "refused" ({report, item, body, status}: dropped for good), "changed" (the waiting
 * list may differ). A 401 ends the session (http.js "expired") and keeps the item. (`report` is the item: its name
 * from when reports were all there was.)
 */
export class Outbox extends EventTarget {
  constructor({ owner, kind = "report", url = "/api/v1/reports" }) {
    super();
    this.owner = owner;
    this.kind = kind;
    this.url = url;
    this.idField = KINDS[kind];
    this.flushing = Promise.resolve();
    this.retryTimer = null;
  }

  /** This person's waiting items of this kind, oldest first. */
  async waiting() {
    const all = await store.all();
    return all.filter((r) => r.owner === this.owner && (r.kind || "report") === this.kind)
      .sort((a, b) => a.created_at - b.created_at);
  }

  /**
   * Keep an item until the server has it: {fields, photos (blobs), url (else the outbox's), and whatever the page
   * wants to show of it (a report's category and label, an action's case)}. Returns it as kept, with its id, which
   * is also its client_report_id or client_action_id.
   */
  async add({ fields, photos = [], url, ...shown }) {
    const id = newClientId();
    const item = { ...shown, id, owner: this.owner, kind: this.kind, url: url || this.url, created_at: Date.now(),
                   attempts: 0, next_at: 0, photos, fields: { ...fields, [this.idField]: id } };
    await store.put(item);
    this.dispatchEvent(new Event("changed"));
    return item;
  }

  /** Send what waits (now: even those whose next try is later); one pass at a time. */
  flush(now) {
    this.flushing = this.flushing.then(() => this.sendWaiting(now)).catch(() => {});
    return this.flushing;
  }

  async sendWaiting(now) {
    clearTimeout(this.retryTimer);
    const waiting = await this.waiting(), heldBack = new Set();  // an action's url: its case
    for (let i = 0; i < waiting.length; i++) {
      const item = waiting[i], ordered = this.kind === "action";
      if (ordered && heldBack.has(item.url)) { continue; }
      if (!now && item.next_at > Date.now()) { heldBack.add(item.url); continue; }
      const outcome = await this.deliver(item, i + 1, waiting.length);
      if (outcome === "log in" || outcome === "no signal") { break; }
      if (outcome === "later") { heldBack.add(item.url); }
    }
    this.dispatchEvent(new Event("changed"));
    const left = await this.waiting();
    if (left.length) {
      const soonest = Math.min(...left.map((r) => r.next_at));
      this.retryTimer = setTimeout(() => this.flush(), Math.max(1000, soonest - Date.now()));
    }
  }

  async deliver(report, index, count) {
    let answer = await this.upload(report, index, count);
    if (answer.status === 400 && errorCode(answer.body) === "csrf_failed") {
      // a CSRF token from a page cached before the last login: fetch a fresh one and try once more
      if (await refreshToken()) { answer = await this.upload(report, index, count); }
    }
    const status = answer.status;
    if (status === 200 || status === 201) {
      await store.drop(report.id);
      this.dispatchEvent(new CustomEvent("sent", { detail: { report, item: report, body: answer.body } }));
      return "sent";
    }
    if (status === 401) { loggedOut(); await this.postpone(report); return "log in"; }
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      await store.drop(report.id);
      this.dispatchEvent(new CustomEvent("refused", { detail: { report, item: report, body: answer.body, status } }));
      return "refused";
    }
    await this.postpone(report);
    return status === 0 ? "no signal" : "later";
  }

  postpone(report) {
    report.attempts += 1;
    const wait = Math.min(RETRY_LAST_MS, RETRY_FIRST_MS * Math.pow(2, report.attempts - 1));
    report.next_at = Date.now() + wait * (0.75 + Math.random() / 2);
    return store.put(report);
  }

  /** POST the item as a form, with upload progress; resolves {status, body} (status 0: no answer). */
  upload(report, index, count) {
    const form = new FormData();
    Object.keys(report.fields).forEach((name) => { if (report.fields[name] !== "") { form.append(name, report.fields[name]); } });
    report.photos.forEach((blob, i) => form.append("photo", blob, "photo" + (i + 1) + ".jpg"));
    const progress = (fraction) => this.dispatchEvent(new CustomEvent("progress",
                                                                      { detail: { index, count, fraction, item: report } }));
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", report.url || this.url);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.timeout = UPLOAD_TIMEOUT_MS;
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) { progress(e.loaded / e.total); } };
      const done = (answer) => { progress(null); resolve(answer); };
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        done({ status: xhr.status, body });
      };
      xhr.onerror = xhr.ontimeout = xhr.onabort = () => done({ status: 0, body: null });
      progress(0);
      xhr.send(form);
    });
  }
}
