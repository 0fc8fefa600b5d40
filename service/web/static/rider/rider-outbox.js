/* The rider's reports: the server calls, the IndexedDB outbox, sending (progress, backoff, CSRF refresh), 我的上报. */
(function (Snap) {
  "use strict";

  var $ = Snap.$, el = Snap.el, t = Snap.t, notice = Snap.notice, dropNotices = Snap.dropNotices, askToLogIn = Snap.askToLogIn;
  var serverMessage = Snap.serverMessage, stateLabel = Snap.stateLabel, categoryName = Snap.categoryName;
  var shortTime = Snap.shortTime, phoneTime = Snap.phoneTime, clockTime = Snap.clockTime, categoryIcon = Snap.categoryIcon;
  var USER = document.body.dataset.user;
  var RETRY_FIRST_MS = 5000, RETRY_LAST_MS = 10 * 60 * 1000, UPLOAD_TIMEOUT_MS = 3 * 60 * 1000;

  /* ---------- talking to the server ---------- */

  function csrfToken() { return document.querySelector("meta[name=csrf-token]").content; }

  function newReportId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 15) | 64;
    bytes[8] = (bytes[8] & 63) | 128;
    var hex = Array.from(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  function HttpError(status, body) { this.status = status; this.body = body; }

  async function getJSON(url) {
    var response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    return readJSON(response);
  }

  async function postJSON(url, body) {
    var response = await fetch(url, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body || {}),
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() }
    });
    return readJSON(response);
  }

  async function readJSON(response) {
    var body = await response.json().catch(function () { return null; });
    if (response.status === 401) { askToLogIn(); }
    if (!response.ok) { throw new HttpError(response.status, body); }
    return body;
  }

  function failureText(error) {
    if (!(error instanceof HttpError)) { return t("offline"); }
    return serverMessage(error.body) || t("load_failed");
  }

  /** Reports the server refused for good stay on screen (across reloads) until the rider closes them. */
  var refusals = JSON.parse(localStorage.getItem("rider.refused") || "[]");

  function showRefusal(entry) {
    notice(t("refused", { msg: entry.message }), "error", {
      sticky: true, id: "refused-" + entry.id,
      onclose: function () {
        refusals = refusals.filter(function (r) { return r.id !== entry.id; });
        localStorage.setItem("rider.refused", JSON.stringify(refusals));
      }
    });
  }

  function showRefusals() { refusals.forEach(showRefusal); }

  var refusedNow = {};  // ids of reports refused since the page opened

  function rememberRefusal(report, body, status) {
    refusedNow[report.id] = true;
    var entry = { id: report.id, message: (serverMessage(body) || "HTTP " + status) + " · " + report.label };
    refusals.push(entry);
    localStorage.setItem("rider.refused", JSON.stringify(refusals));
    showRefusal(entry);
  }

  /* ---------- the report: kept in IndexedDB until the server has it ---------- */

  var outboxDb = null;

  function openOutbox() {
    outboxDb = outboxDb || new Promise(function (resolve, reject) {
      var request = indexedDB.open("suishoupai", 1);
      request.onupgradeneeded = function () { request.result.createObjectStore("outbox", { keyPath: "id" }); };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
    return outboxDb;
  }

  var outboxInMemory = null;  // without IndexedDB (some private modes): kept while the page stays open

  /** work(store) on the IndexedDB store, or inMemory(object) once IndexedDB has failed. */
  async function inOutbox(mode, work, inMemory) {
    if (!outboxInMemory) {
      try {
        var db = await openOutbox();
        return await new Promise(function (resolve, reject) {
          var tx = db.transaction("outbox", mode), request = work(tx.objectStore("outbox"));
          tx.oncomplete = function () { resolve(request.result); };
          tx.onerror = tx.onabort = function () { reject(tx.error); };
        });
      } catch (e) {
        outboxInMemory = {};
      }
    }
    return inMemory(outboxInMemory);
  }

  var outbox = {
    mine: async function () {
      var all = await inOutbox("readonly", function (store) { return store.getAll(); }, Object.values);
      return all.filter(function (r) { return r.owner === USER; }).sort(function (a, b) { return a.created_at - b.created_at; });
    },
    keep: function (report) {
      return inOutbox("readwrite", function (store) { return store.put(report); }, function (kept) { kept[report.id] = report; });
    },
    drop: function (id) {
      return inOutbox("readwrite", function (store) { return store.delete(id); }, function (kept) { delete kept[id]; });
    }
  };

  async function submitReport() {
    var problem = !Snap.photoCount() ? "need_photo" : !Snap.chosen() ? "need_category" : !Snap.place() ? "need_place" : null;
    if (problem) { notice(t(problem), "warn", { id: "form-problem" }); return; }
    dropNotices("form-problem");
    $("submit").disabled = true;
    try {
      var report = await newReport();
      await outbox.keep(report);
      clearForm();
      await showOutbox();
      await flushOutbox(true);
      var left = await outbox.mine();
      if (left.some(function (r) { return r.id === report.id; })) { notice(t("saved"), "warn", { id: "saved-offline" }); }
      if (refusedNow[report.id]) { restoreForm(report); }  // refused at once: let the rider mend it, not shoot again
    } finally {
      $("submit").disabled = false;
    }
  }

  async function newReport() {
    var blobs = await Snap.photoBlobs();
    var chosen = Snap.chosen(), place = Snap.place(), category = Snap.categoryOf(chosen);
    var id = newReportId();
    return {
      id: id, owner: USER, created_at: Date.now(), attempts: 0, next_at: 0,
      label: category ? category.name : chosen, category: chosen, photos: blobs,
      fields: { lat: place.lat.toFixed(7), lon: place.lon.toFixed(7), coord_system: "wgs84",
                accuracy_m: place.byHand || place.accuracy == null ? "" : String(place.accuracy),
                category: chosen, description: $("description").value.trim(), client_report_id: id }
    };
  }

  function restoreForm(report) {
    Snap.setPhotos(report.photos);
    Snap.setChosen(report.category);
    $("description").value = report.fields.description;
    Snap.renderPreviews();
    Snap.renderCategories();
    Snap.scheduleNearby();
  }

  function clearForm() {
    Snap.clearPhotos();
    Snap.setChosen(null);
    $("description").value = "";
    Snap.renderPreviews();
    Snap.renderCategories();
    Snap.scheduleNearby();
    Snap.forgetPlaceByHand();
  }

  /* ---------- sending: one report at a time, with backoff; gone from the phone only once the server has it ---------- */

  var flushing = Promise.resolve(), retryTimer = null;

  function flushOutbox(now) {
    flushing = flushing.then(function () { return sendWaiting(now); }).catch(function () {});
    return flushing;
  }

  async function sendWaiting(now) {
    clearTimeout(retryTimer);
    var waiting = await outbox.mine();
    for (var i = 0; i < waiting.length; i++) {
      if (!now && waiting[i].next_at > Date.now()) { continue; }
      var outcome = await deliver(waiting[i], i + 1, waiting.length);
      if (outcome === "log in" || outcome === "no signal") { break; }
    }
    await showOutbox();
    var left = await outbox.mine();
    if (left.length) {
      var soonest = Math.min.apply(null, left.map(function (r) { return r.next_at; }));
      retryTimer = setTimeout(flushOutbox, Math.max(1000, soonest - Date.now()));
    }
  }

  async function deliver(report, index, count) {
    var answer = await upload(report, index, count);
    if (answer.status === 400 && answer.body && answer.body.error && answer.body.error.code === "csrf_failed") {
      // a CSRF token from a page cached before the last login: fetch a fresh one and try once more
      if (await refreshToken()) { answer = await upload(report, index, count); }
    }
    var status = answer.status;
    if (status === 200 || status === 201) {
      await outbox.drop(report.id);
      dropNotices("saved-offline", "login-notice");
      notice(t("sent", { no: answer.body.case_no }), "ok", { id: "sent-" + report.id });
      if (!$("view-mine").hidden) { loadMine(); }
      return "sent";
    }
    if (status === 401) { askToLogIn(); await postpone(report); return "log in"; }
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      await outbox.drop(report.id);
      rememberRefusal(report, answer.body, status);
      return "refused";
    }
    await postpone(report);
    return status === 0 ? "no signal" : "later";
  }

  function postpone(report) {
    report.attempts += 1;
    var wait = Math.min(RETRY_LAST_MS, RETRY_FIRST_MS * Math.pow(2, report.attempts - 1));
    report.next_at = Date.now() + wait * (0.75 + Math.random() / 2);
    return outbox.keep(report);
  }

  function upload(report, index, count) {
    var form = new FormData();
    Object.keys(report.fields).forEach(function (name) { if (report.fields[name] !== "") { form.append(name, report.fields[name]); } });
    report.photos.forEach(function (blob, i) { form.append("photo", blob, "photo" + (i + 1) + ".jpg"); });
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/v1/reports");
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.timeout = UPLOAD_TIMEOUT_MS;
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) { showProgress(index, count, e.loaded / e.total); } };
      xhr.onload = function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        done({ status: xhr.status, body: body });
      };
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () { done({ status: 0, body: null }); };
      showProgress(index, count, 0);
      xhr.send(form);
      function done(answer) { $("progress").hidden = true; resolve(answer); }
    });
  }

  function showProgress(index, count, fraction) {
    var percent = Math.round(fraction * 100) + "%";
    $("progress").hidden = false;
    $("progress-text").textContent = t("uploading", { i: index, n: count }) + " · " + percent;
    $("progress-bar").style.width = percent;
  }

  async function refreshToken() {
    try {
      var response = await fetch("/", { credentials: "same-origin", cache: "no-store" });
      var match = response.ok && !response.redirected && /name="csrf-token" content="([^"]+)"/.exec(await response.text());
      if (match) { document.querySelector("meta[name=csrf-token]").content = match[1]; }
      return !!match;
    } catch (e) {
      return false;
    }
  }

  var waitingReports = [];

  async function showOutbox() {
    waitingReports = await outbox.mine();
    $("outbox").hidden = waitingReports.length === 0;
    $("outbox-count").textContent = waitingReports.length;
    renderWaiting();
  }

  function renderWaiting() {
    $("pending-list").replaceChildren.apply($("pending-list"), waitingReports.map(function (r) {
      var when = phoneTime(r.created_at);
      var retry = r.attempts ? " · " + t("retry_at", { t: clockTime(r.next_at) }) : "";
      return el("li", {}, [categoryIcon(r.category, r.label), el("div", { className: "body" }, [
        el("b", { text: categoryName(r.category, r.label) + " " }, [el("span", { className: "state s-pending", text: t("waiting") })]),
        el("span", { className: "meta", text: when + " · " + t("photos_n", { n: r.photos.length }) + retry })
      ])]);
    }));
  }

  /* ---------- my reports, my points, one case ---------- */

  var myReports = [], myNext = null, myPoints = null, openCase = null;

  async function loadMine(more) {
    try {
      var url = "/api/v1/me/reports" + (more && myNext ? "?before=" + encodeURIComponent(myNext) : "");
      var page = await getJSON(url);
      myReports = more ? myReports.concat(page.items) : page.items;
      myNext = page.next;
      dropNotices("mine-failed");
      renderMine();
      myPoints = await getJSON("/api/v1/me/points");
      renderPoints();
    } catch (e) {
      notice(failureText(e), e instanceof HttpError ? "error" : "warn", { id: "mine-failed" });
    }
  }

  function renderMine() {
    $("mine-list").replaceChildren.apply($("mine-list"), myReports.map(function (r) {
      return el("li", {}, [el("a", { href: "#case/" + encodeURIComponent(r.case_no) }, [
        categoryIcon(r.category.code, r.category.name),
        el("div", { className: "body" }, [
          el("b", { text: categoryName(r.category.code, r.category.name) + " " },
             [el("span", { className: "state s-" + r.state, text: stateLabel(r.state, r.state_label) })]),
          el("span", { className: "meta", text: r.case_no + " · " + shortTime(r.created_at) })
        ])
      ])]);
    }));
    $("mine-empty").hidden = myReports.length > 0 || waitingReports.length > 0;
    $("more").hidden = !myNext;
  }

  function renderPoints() {
    $("points-week").textContent = myPoints ? myPoints.week : "–";
    $("points-total").textContent = myPoints ? myPoints.total : "–";
  }

  async function loadCase(caseNo) {
    $("case").replaceChildren(el("p", { className: "hint", text: t("loading") }));
    try {
      openCase = await getJSON("/api/v1/reports/" + encodeURIComponent(caseNo));
      renderCase();
    } catch (e) {
      $("case").replaceChildren(el("p", { className: "hint", text: failureText(e) }));
    }
  }

  function renderCase() {
    var c = openCase;
    if (!c) { return; }
    var facts = [["case_no", c.case_no], ["reported_at", shortTime(c.created_at)], ["grid", c.grid ? c.grid.name : t("no_grid")]];
    if (c.deadline_at && (c.state === "dispatched" || c.state === "in_progress")) { facts.push(["deadline", shortTime(c.deadline_at)]); }
    var refusal = c.state === "rejected" && c.timeline.filter(function (e) { return e.to === "rejected"; }).pop();
    if (c.description) { facts.push(["description", c.description]); }
    $("case").replaceChildren.apply($("case"), [
      el("h1", {}, [document.createTextNode(categoryName(c.category.code, c.category.name) + " "),
                    el("span", { className: "state s-" + c.state, text: stateLabel(c.state, c.state_label) })]),
      c.duplicate_of ? el("p", { className: "hint", text: t("duplicate_of", { no: c.duplicate_of }) }) : null,
      refusal && refusal.note ? el("p", { className: "verdict", text: t("reason") + refusal.note }) : null,
      el("dl", {}, facts.reduce(function (nodes, f) { return nodes.concat([el("dt", { text: t(f[0]) }), el("dd", { text: f[1] })]); }, [])),
      casePhotos(c.photos),
      el("h2", { text: t("progress") }),
      el("ol", { className: "timeline" }, c.timeline.slice().reverse().map(timelineEntry)),
      c.can_reopen ? reopenForm(c.case_no) : null
    ].filter(Boolean));
  }

  function casePhotos(list) {
    var shown = list.filter(function (p) { return p.thumb_url; });
    if (!shown.length) { return null; }
    return el("ul", { className: "photos" }, shown.map(function (p) {
      return el("li", {}, [el("a", { href: p.web_url || p.thumb_url, target: "_blank", rel: "noopener" }, [
        el("img", { src: p.thumb_url, alt: t(p.kind === "after" ? "after" : "before"), loading: "lazy" }),
        el("span", { text: t(p.kind === "after" ? "after" : "before") })
      ])]);
    }));
  }

  function timelineEntry(event) {
    var note = event.note ? el("span", { className: event.to === "rejected" ? "note reason" : "note",
                                         text: (event.to === "rejected" ? t("reason") : "") + event.note }) : null;
    var actor = Snap.english() && event.actor === "系统" ? "system" : event.actor;
    return el("li", {}, [el("b", { text: stateLabel(event.to, event.label) }),
                         el("span", { className: "when", text: " · " + shortTime(event.at) + " · " + actor }), note]);
  }

  function reopenForm(caseNo) {
    var note = el("textarea", { rows: 2, maxlength: 500, "aria-label": t("reopen_note"), placeholder: t("reopen_note") });
    var button = el("button", { type: "button", className: "quiet", text: t("reopen"), onclick: async function () {
      if (!note.value.trim()) { notice(t("need_note"), "warn", { id: "reopen-note" }); return; }
      try {
        openCase = await postJSON("/api/v1/cases/" + encodeURIComponent(caseNo) + "/actions", { action: "reopen", note: note.value.trim() });
        renderCase();
        dropNotices("reopen-note");
        notice(t("reopened", { no: caseNo }), "ok");
      } catch (e) {
        notice(failureText(e), "error");
      }
    } });
    return el("div", { className: "reopen" }, [el("h2", { text: t("reopen") }), note, button]);
  }

  Object.assign(Snap, { HttpError: HttpError, getJSON: getJSON, postJSON: postJSON, failureText: failureText,
                        showRefusals: showRefusals, submitReport: submitReport, clearForm: clearForm, flushOutbox: flushOutbox,
                        showOutbox: showOutbox, renderWaiting: renderWaiting, loadMine: loadMine, renderMine: renderMine,
                        loadCase: loadCase, renderCase: renderCase });
})(window.Snap = window.Snap || {});
