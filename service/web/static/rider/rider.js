/* The rider's page, loaded first: words (中文, English), helpers, notices, categories, cases nearby, the views, wiring. */
(function (Snap) {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var NEARBY_DELAY_MS = 500, NOTICE_MS = 8000;

  /* ---------- words: 中文 first, a small English dictionary beside it ---------- */

  var WORDS = {
    zh: {
      brand: "随手拍", pending: "待上传", logout: "退出", password: "改密码", tab_report: "上报", tab_mine: "我的上报",
      shoot: "拍照上报", gallery: "从相册选择", where: "位置", locating: "正在定位…", relocate: "重新定位",
      what: "问题类别", change: "更换", favourites: "我常报的", kind_part: "部件", kind_event: "事件",
      nearby: "附近已有人上报", nearby_hint: "如果是同一个问题，点“我也遇到”即可，不必重复上报。",
      describe: "补充说明（可不填）", submit: "提交上报", points_week: "本周积分", points_total: "累计积分",
      refresh: "刷新", mine_empty: "还没有上报。", more: "加载更多", back: "‹ 返回我的上报",
      accuracy: "定位精度 ±{m} 米", poor_fix: "（精度较差，可拖动图钉）", by_hand: "已手动选点（可拖动图钉）",
      no_fix: "无法定位：请在地图上点出位置", outside_grids: "不在网格内",
      need_photo: "请先拍照", need_category: "请选择问题类别", need_place: "请在地图上点出问题的位置",
      photo_limit: "最多 {n} 张照片", remove_photo: "删除照片", shrinking: "处理中",
      sent: "已上报，案件号 {no}", saved: "已保存在手机上，有信号时自动上传", uploading: "正在上传 {i}/{n}",
      refused: "上报未被接受：{msg}", log_in_again: "登录已过期，请重新登录，待上传的上报会自动发送。", log_in: "去登录",
      me_too: "我也遇到", joined: "已加入", my_case: "我的上报", me_too_done: "已加入案件 {no}，不必重复上报，谢谢！",
      metres: "{m} 米", offline: "没有网络，请稍后再试", load_failed: "暂时无法加载，请稍后刷新",
      waiting: "待上传", retry_at: "将于 {t} 重试", photos_n: "{n} 张照片",
      case_no: "案件号", reported_at: "上报时间", grid: "网格", no_grid: "尚未分到网格", deadline: "处置时限",
      description: "说明", before: "处置前", after: "处置后", progress: "处理进度", reason: "原因：",
      duplicate_of: "与案件 {no} 重复，已记为“我也遇到”", reopen: "重新打开", reopen_note: "重新打开的原因（必填）",
      reopened: "已重新打开 {no}", need_note: "请填写原因", dismiss: "关闭", loading: "加载中…"
    },
    en: {
      brand: "Snap", pending: "To send", logout: "Log out", password: "Password", tab_report: "Report", tab_mine: "My reports",
      shoot: "Take a photo", gallery: "Choose from gallery", where: "Location", locating: "Locating…", relocate: "Locate again",
      what: "Category", change: "Change", favourites: "My usual", kind_part: "Facilities", kind_event: "Incidents",
      nearby: "Already reported nearby", nearby_hint: "If it is the same problem, tap “Me too” instead of reporting it again.",
      describe: "Notes (optional)", submit: "Send report", points_week: "Points this week", points_total: "Points in total",
      refresh: "Refresh", mine_empty: "No reports yet.", more: "Load more", back: "‹ Back to my reports",
      accuracy: "Accuracy ±{m} m", poor_fix: " (poor: drag the pin)", by_hand: "Placed by hand (drag the pin)",
      no_fix: "No location: tap the map where it is", outside_grids: "outside the grids",
      need_photo: "Take a photo first", need_category: "Choose a category", need_place: "Tap the map where the problem is",
      photo_limit: "At most {n} photos", remove_photo: "Remove photo", shrinking: "Preparing",
      sent: "Reported: case {no}", saved: "Saved on the phone: it is sent when there is signal", uploading: "Sending {i}/{n}",
      refused: "Report not accepted: {msg}", log_in_again: "Your login has expired: log in again and waiting reports are sent.", log_in: "Log in",
      me_too: "Me too", joined: "Joined", my_case: "My report", me_too_done: "Joined case {no}: no need to report it again, thanks!",
      metres: "{m} m", offline: "No signal, try again later", load_failed: "Could not load: refresh later",
      waiting: "Waiting to send", retry_at: "next try at {t}", photos_n: "{n} photo(s)",
      case_no: "Case", reported_at: "Reported", grid: "Grid", no_grid: "not in a grid yet", deadline: "Due",
      description: "Notes", before: "Before", after: "After", progress: "Progress", reason: "Reason: ",
      duplicate_of: "Same as case {no}: counted as “me too”", reopen: "Reopen", reopen_note: "Why reopen (required)",
      reopened: "Reopened {no}", need_note: "Please give a reason", dismiss: "Close", loading: "Loading…"
    }
  };
  var STATE_OF_LABEL = { "待处理": "new", "已派遣": "dispatched", "待人工派遣": "unrouted", "处置中": "in_progress",
                         "已处置待核查": "resolved", "已结案": "closed", "不予立案": "rejected", "重复": "duplicate" };
  var STATES_EN = { new: "Received", dispatched: "Dispatched", unrouted: "Awaiting dispatch", in_progress: "In progress",
                    resolved: "Fixed, being checked", closed: "Closed", rejected: "Not accepted", duplicate: "Duplicate" };
  // code, icon, stand-in glyph (phones without colour emoji), English name
  var CATEGORY_LOOK = parseLooks(
    "B0101 🚰 水 Water main cover|B0102 ⭕ 污 Sewer cover|B0103 🌧️ 雨 Storm drain cover|B0104 🌊 箅 Storm grate|" +
    "B0105 ⚡ 电 Power cover|B0106 📶 通 Telecom cover|B0107 🔥 燃 Gas cover|B0113 🧯 消 Fire safety|" +
    "B0117 🗼 杆 Utility pole|B0118 💡 灯 Street light|B0126 🏋️ 健 Exercise kit|B0203 🚏 站 Bus shelter|" +
    "B0209 🚸 标 Traffic sign|B0211 🚧 栏 Guard rail|B0213 🪧 牌 Street name sign|B0214 🚦 信 Traffic light|" +
    "B0301 🚻 厕 Public toilet|B0305 🗑️ 箱 Litter bin|B0402 🌳 树 Street tree|B0405 🌱 绿 Green space|" +
    "B0407 🪑 椅 Bench|B0501 📋 宣 Notice board|E0101 🚮 垃 Exposed rubbish|E0102 ⛰️ 渣 Piled waste|" +
    "E0103 🧹 洁 Dirty road|E0104 🚗 车 Abandoned vehicle|E0105 🏚️ 建 Illegal building|E0201 📄 广 Illegal flyers|" +
    "E0301 🛣️ 路 Damaged road|E0302 🧱 料 Building waste|E0401 🕳️ 塌 Road collapse|E0402 💧 管 Burst water pipe|" +
    "E0403 💨 气 Gas leak|E0404 🚱 堵 Blocked drain|E0501 📦 堆 Stuff piled up|E0502 🚲 停 Badly parked bikes|" +
    "C01 🏢 楼 Stairwell clutter|C02 ⚠️ 危 Safety hazard|C03 🧓 老 Elderly need help");
  var lang = localStorage.getItem("rider.lang") === "en" ? "en" : "zh";
  var colourEmoji = null;

  function parseLooks(table) {
    var looks = {};
    table.split("|").forEach(function (row) {
      var parts = row.split(" ");
      looks[parts[0]] = { icon: parts[1], glyph: parts[2], en: parts.slice(3).join(" ") };
    });
    return looks;
  }

  function t(key, vars) {
    var text = WORDS[lang][key] || WORDS.zh[key] || key;
    return text.replace(/\{(\w+)\}/g, function (_, name) { return vars && vars[name] != null ? vars[name] : ""; });
  }

  function stateLabel(state, label) { return lang === "en" ? (STATES_EN[state] || label) : label; }
  function categoryName(code, name) { return lang === "en" && CATEGORY_LOOK[code] ? CATEGORY_LOOK[code].en : name; }

  /** The server's "中文 / English" message in the page's language. */
  function serverMessage(body) {
    var message = body && body.error && body.error.message;
    if (!message) { return ""; }
    var halves = message.split(" / ");
    if (lang !== "en" || !halves[1]) { return halves[0]; }
    var english = halves.slice(1).join(" / ");
    return english.charAt(0).toUpperCase() + english.slice(1);  // the server writes it as a clause
  }

  function applyLanguage() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
    $("lang").textContent = lang === "en" ? "中文" : "EN";
    $("lang").lang = lang === "en" ? "zh-CN" : "en";
  }

  function switchLanguage() {
    lang = lang === "en" ? "zh" : "en";
    localStorage.setItem("rider.lang", lang);
    applyLanguage();
    renderEverything();
  }

  /* ---------- little helpers ---------- */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") { node.textContent = attrs[name]; }
      else if (name === "className") { node.className = attrs[name]; }
      else if (name.slice(0, 2) === "on") { node.addEventListener(name.slice(2), attrs[name]); }
      else if (attrs[name] != null && attrs[name] !== false) { node.setAttribute(name, attrs[name]); }
    });
    (children || []).forEach(function (child) { if (child) { node.append(child); } });
    return node;
  }

  function two(n) { return (n < 10 ? "0" : "") + n; }
  function shortTime(iso) { return iso ? phoneTime(Date.parse(iso)) : ""; }  // ISO 8601 with its offset
  function phoneTime(ms) {
    var d = new Date(ms);
    return two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " + two(d.getHours()) + ":" + two(d.getMinutes());
  }
  function clockTime(ms) { return phoneTime(ms).slice(6); }

  /* ---------- notices ---------- */

  function notice(text, kind, options) {
    options = options || {};
    if (options.id) { dropNotices(options.id); }
    var box = el("div", { className: "notice " + (kind || ""), role: kind === "error" ? "alert" : "status", id: options.id }, [
      el("span", { text: text }), options.link || null,
      el("button", { type: "button", "aria-label": t("dismiss"), text: "×", onclick: function () { close(); } })
    ]);
    function close() { box.remove(); if (options.onclose) { options.onclose(); } }
    $("notices").append(box);
    if (!options.sticky) { setTimeout(function () { box.remove(); }, NOTICE_MS); }
    return box;
  }

  function dropNotices() {
    Array.from(arguments).forEach(function (id) { var box = document.getElementById(id); if (box) { box.remove(); } });
  }

  function askToLogIn() {
    var link = el("a", { href: "/login?next=/", text: t("log_in") });
    notice(t("log_in_again"), "warn", { sticky: true, id: "login-notice", link: link });
  }

  /* ---------- categories: big tiles, 部件 / 事件, my most used first ---------- */

  var categories = [], chosen = null, kind = "部件";

  async function loadCategories() {
    try {
      categories = (await Snap.getJSON("/api/v1/categories")).categories;
    } catch (e) {
      notice(Snap.failureText(e), e instanceof Snap.HttpError ? "error" : "warn", { id: "categories-failed" });
      return;
    }
    dropNotices("categories-failed");
    var favourite = mostUsed()[0];
    if (favourite) { kind = favourite.kind; }
    renderCategories();
  }

  function mostUsed() {
    return categories.filter(function (c) { return c.used > 0; })
      .sort(function (a, b) { return b.used - a.used; }).slice(0, 4);
  }

  function renderCategories() {
    var favourites = mostUsed();
    $("favourites-box").hidden = favourites.length === 0;
    $("favourites").replaceChildren.apply($("favourites"), favourites.map(tile));
    var ofKind = categories.filter(function (c) { return c.kind === kind; });
    ofKind.sort(function (a, b) { return b.used - a.used; });  // stable: the scheme's order among equals
    $("tiles").replaceChildren.apply($("tiles"), ofKind.map(tile));
    document.querySelectorAll(".kinds button").forEach(function (b) { b.setAttribute("aria-selected", String(b.dataset.kind === kind)); });
    var current = categories.find(function (c) { return c.code === chosen; });
    $("chosen").hidden = !current;
    $("chooser").hidden = !!current;
    $("chosen-tile").replaceChildren(current ? tile(current) : "");
  }

  function tile(category) {
    var look = CATEGORY_LOOK[category.code] || { icon: "", glyph: category.name.charAt(0) };
    // its colour by its major class comes from rider.css (no inline styles: the CSP forbids them)
    var icon = el("i", { "aria-hidden": "true", "data-class": category.major_class,
                         text: hasColourEmoji() && look.icon ? look.icon : look.glyph });
    return el("button", { type: "button", className: "tile" + (category.code === chosen ? " on" : ""), "data-code": category.code,
                          onclick: function () { choose(category.code); } },
              [icon, el("span", { text: categoryName(category.code, category.name) })]);
  }

  function choose(code) {
    chosen = chosen === code ? null : code;
    renderCategories();
    scheduleNearby();
  }

  /** True when the phone draws emoji in colour (a font without them draws grey boxes). */
  function hasColourEmoji() {
    if (colourEmoji !== null) { return colourEmoji; }
    var canvas = el("canvas", { width: 16, height: 16 }), g = canvas.getContext("2d", { willReadFrequently: true });
    g.textBaseline = "top";
    g.font = "14px sans-serif";
    g.fillText("💡", 0, 0);
    var px = g.getImageData(0, 0, 16, 16).data;
    colourEmoji = false;
    for (var i = 0; i < px.length; i += 4) {
      if (px[i + 3] && (Math.abs(px[i] - px[i + 1]) > 30 || Math.abs(px[i + 1] - px[i + 2]) > 30)) { colourEmoji = true; break; }
    }
    return colourEmoji;
  }

  function categoryIcon(code, name) {
    var category = categories.find(function (c) { return c.code === code; });
    var look = CATEGORY_LOOK[code] || { icon: "", glyph: (name || "?").charAt(0) };
    return el("span", { className: "noimg icon", "aria-hidden": "true", "data-class": category && category.major_class,
                        text: hasColourEmoji() && look.icon ? look.icon : look.glyph });
  }

  /* ---------- open cases nearby: join one (我也遇到) instead of reporting again ---------- */

  var nearbyTimer = null, nearbyAsked = 0, nearbyCases = [];

  function scheduleNearby() {
    clearTimeout(nearbyTimer);
    if (!chosen || !Snap.place()) { showNearby([]); return; }
    nearbyTimer = setTimeout(checkNearby, NEARBY_DELAY_MS);
  }

  async function checkNearby() {
    var asked = ++nearbyAsked, place = Snap.place();
    if (!chosen || !place) { return; }
    var query = new URLSearchParams({ lat: place.lat.toFixed(6), lon: place.lon.toFixed(6), category: chosen, coord_system: "wgs84" });
    try {
      var found = (await Snap.getJSON("/api/v1/nearby?" + query)).cases;
      if (asked === nearbyAsked) { showNearby(found); }
    } catch (e) {
      if (asked === nearbyAsked) { showNearby([]); }
    }
  }

  function showNearby(cases) {
    nearbyCases = cases;
    $("nearby").hidden = cases.length === 0;
    $("nearby-list").replaceChildren.apply($("nearby-list"), cases.map(nearbyCard));
  }

  function nearbyCard(c) {
    var picture = c.thumb_url ? el("img", { src: c.thumb_url, alt: c.case_no, loading: "lazy" }) : el("span", { className: "noimg" });
    var action = c.mine ? el("span", { className: "state", text: t("my_case") })
      : c.me_too ? el("span", { className: "state s-closed", text: t("joined") })
      : el("button", { type: "button", className: "quiet", text: t("me_too"), onclick: function () { joinCase(c.case_no); } });
    return el("li", {}, [picture, el("div", { className: "body" }, [
      el("b", { text: categoryName(chosen, c.category) }),
      el("span", { className: "meta", text: [t("metres", { m: c.distance_m }), shortTime(c.created_at),
                                              stateLabel(STATE_OF_LABEL[c.state_label], c.state_label)].join(" · ") })
    ]), action]);
  }

  /** Join with the phone's own fix: the server counts a "me too" only from near the case, and says why not. */
  async function joinCase(caseNo) {
    var fix = Snap.fix();
    var here = fix ? { lat: +fix.lat.toFixed(7), lon: +fix.lon.toFixed(7), accuracy_m: fix.accuracy, coord_system: "wgs84" } : {};
    try {
      await Snap.postJSON("/api/v1/reports/" + encodeURIComponent(caseNo) + "/me-too", here);
    } catch (e) {
      // already counted (a second tap that crossed the first): done all the same
      var already = e instanceof Snap.HttpError && e.status === 409 && e.body && e.body.error && e.body.error.code === "me_too_already";
      if (!already) {
        notice(Snap.failureText(e), "error", { id: "me-too-refused" });
        return;
      }
    }
    Snap.clearForm();
    notice(t("me_too_done", { no: caseNo }), "ok", { id: "me-too-done" });
    window.scrollTo(0, 0);
  }

  /* ---------- what the other scripts use ---------- */

  function chosenCode() { return chosen; }
  function setChosen(code) { chosen = code; }
  function categoryOf(code) { return categories.find(function (c) { return c.code === code; }); }
  function english() { return lang === "en"; }

  Object.assign(Snap, { $: $, el: el, t: t, notice: notice, dropNotices: dropNotices, askToLogIn: askToLogIn,
                        serverMessage: serverMessage, stateLabel: stateLabel, categoryName: categoryName, english: english,
                        shortTime: shortTime, phoneTime: phoneTime, clockTime: clockTime, categoryIcon: categoryIcon,
                        chosen: chosenCode, setChosen: setChosen, categoryOf: categoryOf, renderCategories: renderCategories,
                        scheduleNearby: scheduleNearby });

  /* ---------- the views: #report, #mine, #case/<case_no> ---------- */

  function route() {
    var hash = location.hash;
    var view = hash.indexOf("#case/") === 0 ? "case" : hash === "#mine" ? "mine" : "report";
    ["report", "mine", "case"].forEach(function (name) { $("view-" + name).hidden = name !== view; });
    $("tab-report").className = view === "report" ? "on" : "";
    $("tab-mine").className = view === "report" ? "" : "on";
    if (view === "report") { Snap.setUpMap(); }
    if (view === "mine") { Snap.loadMine(); }
    if (view === "case") { Snap.loadCase(decodeURIComponent(hash.slice(6))); }
  }

  function renderEverything() {
    Snap.renderPreviews();
    Snap.renderPlace();
    renderCategories();
    showNearby(nearbyCases);
    Snap.renderWaiting();
    Snap.renderMine();
    Snap.renderCase();
  }

  function logOut(event) {
    event.preventDefault();
    var form = event.target;
    // the cached page belongs to this person: forget it (reports still waiting stay, and go when they log in again)
    var forget = !window.caches ? Promise.resolve() : caches.keys().then(function (keys) {
      return Promise.all(keys.map(function (k) { return caches.delete(k); }));
    });
    forget.catch(function () {}).then(function () { form.submit(); });
  }

  function bindEvents() {
    $("photo-input").addEventListener("change", function (e) { Snap.addPhotos(e.target); });
    $("gallery-input").addEventListener("change", function (e) { Snap.addPhotos(e.target); });
    $("relocate").addEventListener("click", Snap.relocate);
    $("rechoose").addEventListener("click", function () { chosen = null; renderCategories(); scheduleNearby(); });
    document.querySelectorAll(".kinds button").forEach(function (b) {
      b.addEventListener("click", function () { kind = b.dataset.kind; renderCategories(); });
    });
    $("submit").addEventListener("click", Snap.submitReport);
    $("lang").addEventListener("click", switchLanguage);
    $("refresh").addEventListener("click", function () { Snap.loadMine(); });
    $("more").addEventListener("click", function () { Snap.loadMine(true); });
    $("logout").addEventListener("submit", logOut);
    window.addEventListener("hashchange", route);
    window.addEventListener("online", function () { Snap.flushOutbox(true); });
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { Snap.flushOutbox(true); } });
  }

  function start() {
    applyLanguage();
    bindEvents();
    Snap.renderPreviews();
    route();
    Snap.startLocating();
    Snap.renderPlace();
    loadCategories();
    Snap.showRefusals();
    Snap.showOutbox().then(function () { return Snap.flushOutbox(true); });
    if ("serviceWorker" in navigator) { navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {}); }
  }

  // deferred scripts all run before DOMContentLoaded: by then the photos, map and outbox scripts are in
  document.addEventListener("DOMContentLoaded", start);
})(window.Snap = window.Snap || {});
