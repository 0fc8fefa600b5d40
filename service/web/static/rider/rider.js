/* The rider's page: photos shrunk on the phone, a pin on a map, a category, cases nearby, an offline outbox, my reports. */
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var USER = document.body.dataset.user;
  var MAX_PHOTOS = 4, MAX_SIDE = 2048, JPEG_QUALITY = 0.85, SMALL_PHOTO_BYTES = 1024 * 1024;
  var RETRY_FIRST_MS = 5000, RETRY_LAST_MS = 10 * 60 * 1000, UPLOAD_TIMEOUT_MS = 3 * 60 * 1000;
  var GOOD_FIX_M = 25, POOR_FIX_M = 100, NEARBY_DELAY_MS = 500, NOTICE_MS = 8000;
  var DEFAULT_VIEW = [32.015, 120.855];  // Hongqiao, Chongchuan: until the grids or a fix arrive

  /* ---------- words: 中文 first, a small English dictionary beside it ---------- */

  var WORDS = {
    zh: {
      brand: "随手拍", pending: "待上传", logout: "退出", tab_report: "上报", tab_mine: "我的上报",
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
      brand: "Snap", pending: "To send", logout: "Log out", tab_report: "Report", tab_mine: "My reports",
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
  var CLASS_COLOURS = { "公用设施": "#0b4fa3", "道路交通": "#7a4a00", "市容环境": "#2d6a2d", "园林绿化": "#1b6b3a",
                        "房屋土地": "#5a3d8a", "宣传广告": "#a3225f", "施工管理": "#6b4b1f", "突发事件": "#a30b0b",
                        "街面秩序": "#34495e", "社区事务": "#0b6b6b" };
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
    return lang === "en" && halves[1] ? halves.slice(1).join(" / ") : halves[0];
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

  var refusedNow = {};  // ids of reports refused since the page opened

  function rememberRefusal(report, body, status) {
    refusedNow[report.id] = true;
    var entry = { id: report.id, message: (serverMessage(body) || "HTTP " + status) + " · " + report.label };
    refusals.push(entry);
    localStorage.setItem("rider.refused", JSON.stringify(refusals));
    showRefusal(entry);
  }

  /* ---------- photos: shrunk on the phone, upright, EXIF (time, GPS) kept ---------- */

  var photos = [];  // {blob, url, ready}

  function addPhotos(input) {
    Array.from(input.files).forEach(function (file) {
      if (photos.length >= MAX_PHOTOS) {
        notice(t("photo_limit", { n: MAX_PHOTOS }), "warn", { id: "photo-limit" });
        return;
      }
      var slot = { blob: null, url: null };
      slot.ready = shrinkPhoto(file).catch(function () { return file; }).then(function (blob) {
        slot.blob = blob;
        slot.url = URL.createObjectURL(blob);
        renderPreviews();
      });
      photos.push(slot);
    });
    input.value = "";
    renderPreviews();
  }

  function removePhoto(slot) {
    photos = photos.filter(function (p) { return p !== slot; });
    if (slot.url) { URL.revokeObjectURL(slot.url); }
    renderPreviews();
  }

  function renderPreviews() {
    var list = $("previews");
    list.replaceChildren.apply(list, photos.map(function (slot, i) {
      var picture = slot.url ? el("img", { src: slot.url, alt: "" + (i + 1) }) : el("span", { className: "busy", text: t("shrinking") + "…" });
      return el("li", {}, [picture, el("button", { type: "button", "aria-label": t("remove_photo"), onclick: function () { removePhoto(slot); } })]);
    }));
    $("photo-count").textContent = photos.length + "/" + MAX_PHOTOS;
  }

  /** A photo no larger than MAX_SIDE on its long side as a JPEG, turned upright; small photos go as they are. */
  async function shrinkPhoto(file) {
    var picture = await decodeUpright(file);
    var width = picture.naturalWidth || picture.width, height = picture.naturalHeight || picture.height;
    var scale = Math.min(1, MAX_SIDE / Math.max(width, height));
    if (scale === 1 && file.size <= SMALL_PHOTO_BYTES) {
      if (picture.close) { picture.close(); }
      return file;
    }
    var canvas = document.createElement("canvas");
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    var context = canvas.getContext("2d");
    context.imageSmoothingQuality = "high";
    context.drawImage(picture, 0, 0, canvas.width, canvas.height);
    if (picture.close) { picture.close(); }
    var jpeg = await new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY); });
    if (!jpeg || jpeg.size >= file.size) { return file; }
    return withExifOf(file, jpeg);
  }

  /** The photo decoded and turned by its EXIF orientation: an ImageBitmap, or an <img> where that is not offered. */
  async function decodeUpright(file) {
    try {
      return await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (e) {
      return new Promise(function (resolve, reject) {
        var url = URL.createObjectURL(file), img = new Image();
        img.onload = function () { URL.revokeObjectURL(url); resolve(img); };
        img.onerror = function () { URL.revokeObjectURL(url); reject(new Error("not a picture this phone can read")); };
        img.src = url;
      });
    }
  }

  /** The new JPEG with the original's EXIF block (time taken, GPS), its Orientation set to 1: already upright. */
  async function withExifOf(original, jpeg) {
    try {
      var head = new DataView(await original.slice(0, 256 * 1024).arrayBuffer());
      var exif = exifSegment(head);
      if (!exif) { return jpeg; }
      markUpright(exif);
      return new Blob([jpeg.slice(0, 2), exif, jpeg.slice(2)], { type: "image/jpeg" });
    } catch (e) {
      return jpeg;  // a broken EXIF block is simply left behind
    }
  }

  function exifSegment(view) {
    if (view.getUint16(0) !== 0xFFD8) { return null; }
    for (var at = 2; at + 4 <= view.byteLength;) {
      var marker = view.getUint16(at), length = view.getUint16(at + 2);
      if ((marker & 0xFF00) !== 0xFF00 || marker === 0xFFDA) { return null; }
      if (marker === 0xFFE1 && view.getUint32(at + 4) === 0x45786966 && at + 2 + length <= view.byteLength) {
        return new DataView(view.buffer.slice(at, at + 2 + length));
      }
      at += 2 + length;
    }
    return null;
  }

  function markUpright(segment) {
    var tiff = 10, little = segment.getUint16(tiff) === 0x4949;
    var ifd = tiff + segment.getUint32(tiff + 4, little);
    var entries = segment.getUint16(ifd, little);
    for (var i = 0; i < entries; i++) {
      var entry = ifd + 2 + 12 * i;
      if (segment.getUint16(entry, little) === 0x0112) { segment.setUint16(entry + 8, 1, little); }
    }
  }

  /* ---------- location: the phone's fix, or a pin the rider drags ---------- */

  var map = null, pin = null, ring = null, gridLayer = null, grids = null;
  var place = null;  // {lat, lon, accuracy, byHand}
  var watchId = null, watchStop = null, lastFix = null;

  function setUpMap() {
    if (map) { map.invalidateSize(); return; }
    map = L.map("map", { attributionControl: false }).setView(DEFAULT_VIEW, 15);
    if (document.body.dataset.tiles) { L.tileLayer(document.body.dataset.tiles, { maxZoom: 19 }).addTo(map); }
    map.on("click", function (e) { placeByHand(e.latlng); });
    if (place) { showPlace(true); }
    loadGrids();
  }

  async function loadGrids() {
    try {
      grids = await getJSON("/api/v1/grids");
    } catch (e) {
      return;  // the map works without its backdrop
    }
    gridLayer = L.geoJSON(grids, { interactive: false, style: { color: "#0b3d2e", weight: 2, fillColor: "#0b3d2e", fillOpacity: 0.06 } }).addTo(map);
    if (place) { frame([place.lat, place.lon]); }
    else if (gridLayer.getBounds().isValid()) { map.fitBounds(gridLayer.getBounds(), { animate: false }); }
    renderPlace();
  }

  function startLocating(fresh) {
    if (!navigator.geolocation) { renderPlace(); return; }
    stopLocating();
    var options = { enableHighAccuracy: true, maximumAge: fresh ? 0 : 10000, timeout: 30000 };
    watchId = navigator.geolocation.watchPosition(onFix, onFixFailed, options);
    watchStop = setTimeout(stopLocating, 60000);  // spare the battery
  }

  function stopLocating() {
    if (watchId !== null) { navigator.geolocation.clearWatch(watchId); }
    clearTimeout(watchStop);
    watchId = null;
  }

  function onFix(position) {
    var c = position.coords;
    lastFix = { lat: c.latitude, lon: c.longitude, accuracy: Math.round(c.accuracy), byHand: false };
    if (place && place.byHand) { return; }
    var first = !place;
    place = lastFix;
    showPlace(first);
    if (c.accuracy <= GOOD_FIX_M) { stopLocating(); }
  }

  function onFixFailed() {
    if (!place) { renderPlace(); }
  }

  function relocate() {
    if (lastFix) { place = lastFix; showPlace(true); }
    else { place = null; renderPlace(); }
    startLocating(true);
  }

  function placeByHand(latlng) {
    place = { lat: latlng.lat, lon: latlng.lng, accuracy: null, byHand: true };
    showPlace(false);
  }

  function showPlace(centre) {
    renderPlace();
    scheduleNearby();
    if (!map) { return; }
    var latlng = [place.lat, place.lon];
    if (!pin) {
      pin = L.marker(latlng, { draggable: true, keyboard: false, icon: pinIcon() }).addTo(map);
      pin.on("dragend", function () { placeByHand(pin.getLatLng()); });
    }
    pin.setLatLng(latlng);
    if (ring) { ring.remove(); ring = null; }
    if (place.accuracy) {
      ring = L.circle(latlng, { radius: place.accuracy, interactive: false, color: "#0b4fa3", weight: 1, fillOpacity: 0.12 }).addTo(map);
    }
    if (centre || !map.getBounds().contains(latlng)) { frame(latlng); }
  }

  /** With map tiles, close in on the spot; on the grids alone, show the whole grid it is in around the pin. */
  function frame(latlng) {
    var grid = !document.body.dataset.tiles && gridAt(latlng[0], latlng[1]);
    // not animated: a frame asked for during another's animation would be dropped
    if (grid) { map.fitBounds(L.geoJSON(grid).getBounds().extend(latlng), { padding: [8, 8], animate: false }); }
    else { map.setView(latlng, 17, { animate: false }); }
  }

  function pinIcon() {
    var svg = '<svg viewBox="0 0 30 42" width="30" height="42">' +
      '<path d="M15 1C7 1 1 7 1 15c0 10 14 26 14 26s14-16 14-26C29 7 23 1 15 1z" fill="#d00" stroke="#000" stroke-width="2"/>' +
      '<circle cx="15" cy="15" r="5" fill="#fff"/></svg>';
    return L.divIcon({ className: "pin", html: svg, iconSize: [30, 42], iconAnchor: [15, 41] });
  }

  function renderPlace() {
    var text = $("where-text");
    text.className = "";
    if (!place) {
      text.textContent = watchId !== null ? t("locating") : t("no_fix");
      return;
    }
    var words = place.byHand ? t("by_hand") : t("accuracy", { m: place.accuracy });
    if (!place.byHand && place.accuracy > POOR_FIX_M) { words += t("poor_fix"); text.className = "bad"; }
    var grid = gridAt(place.lat, place.lon);
    if (grids) { words += " · " + (grid ? grid.properties.name : t("outside_grids")); }
    text.textContent = words;
  }

  /** The grid feature the point falls in (ray casting over each polygon's outer ring), or null. */
  function gridAt(lat, lon) {
    if (!grids || !grids.features) { return null; }
    return grids.features.find(function (f) {
      var g = f.geometry, polygons = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
      return polygons.some(function (rings) { return insideRing(rings[0], lon, lat); });
    }) || null;
  }

  function insideRing(ring, x, y) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) { inside = !inside; }
    }
    return inside;
  }

  /* ---------- categories: big tiles, 部件 / 事件, my most used first ---------- */

  var categories = [], chosen = null, kind = "部件";

  async function loadCategories() {
    try {
      categories = (await getJSON("/api/v1/categories")).categories;
    } catch (e) {
      notice(failureText(e), e instanceof HttpError ? "error" : "warn", { id: "categories-failed" });
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
    var icon = el("i", { "aria-hidden": "true", style: "background:" + (CLASS_COLOURS[category.major_class] || "#333"),
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

  /* ---------- open cases nearby: join one (我也遇到) instead of reporting again ---------- */

  var nearbyTimer = null, nearbyAsked = 0, nearbyCases = [];

  function scheduleNearby() {
    clearTimeout(nearbyTimer);
    if (!chosen || !place) { showNearby([]); return; }
    nearbyTimer = setTimeout(checkNearby, NEARBY_DELAY_MS);
  }

  async function checkNearby() {
    var asked = ++nearbyAsked;
    if (!chosen || !place) { return; }
    var query = new URLSearchParams({ lat: place.lat.toFixed(6), lon: place.lon.toFixed(6), category: chosen, coord_system: "wgs84" });
    try {
      var found = (await getJSON("/api/v1/nearby?" + query)).cases;
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

  async function joinCase(caseNo) {
    try {
      await postJSON("/api/v1/reports/" + encodeURIComponent(caseNo) + "/me-too");
    } catch (e) {
      notice(failureText(e), "error");
      return;
    }
    clearForm();
    notice(t("me_too_done", { no: caseNo }), "ok", { id: "me-too-done" });
    window.scrollTo(0, 0);
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
    var problem = !photos.length ? "need_photo" : !chosen ? "need_category" : !place ? "need_place" : null;
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
    var blobs = await Promise.all(photos.map(function (slot) { return slot.ready.then(function () { return slot.blob; }); }));
    var category = categories.find(function (c) { return c.code === chosen; });
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
    photos = report.photos.map(function (blob) { return { blob: blob, url: URL.createObjectURL(blob), ready: Promise.resolve() }; });
    chosen = report.category;
    $("description").value = report.fields.description;
    renderPreviews();
    renderCategories();
    scheduleNearby();
  }

  function clearForm() {
    photos.forEach(function (slot) { if (slot.url) { URL.revokeObjectURL(slot.url); } });
    photos = [];
    chosen = null;
    $("description").value = "";
    renderPreviews();
    renderCategories();
    scheduleNearby();
    if (place && place.byHand) { place = null; relocate(); }
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

  function categoryIcon(code, name) {
    var category = categories.find(function (c) { return c.code === code; });
    var look = CATEGORY_LOOK[code] || { icon: "", glyph: (name || "?").charAt(0) };
    return el("span", { className: "noimg icon", "aria-hidden": "true",
                        style: "background:" + (CLASS_COLOURS[category && category.major_class] || "#333"),
                        text: hasColourEmoji() && look.icon ? look.icon : look.glyph });
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
    var actor = lang === "en" && event.actor === "系统" ? "system" : event.actor;
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

  /* ---------- the views: #report, #mine, #case/<case_no> ---------- */

  function route() {
    var hash = location.hash;
    var view = hash.indexOf("#case/") === 0 ? "case" : hash === "#mine" ? "mine" : "report";
    ["report", "mine", "case"].forEach(function (name) { $("view-" + name).hidden = name !== view; });
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
    showNearby(nearbyCases);
    renderWaiting();
    renderMine();
    renderCase();
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
    $("photo-input").addEventListener("change", function (e) { addPhotos(e.target); });
    $("gallery-input").addEventListener("change", function (e) { addPhotos(e.target); });
    $("relocate").addEventListener("click", relocate);
    $("rechoose").addEventListener("click", function () { chosen = null; renderCategories(); scheduleNearby(); });
    document.querySelectorAll(".kinds button").forEach(function (b) {
      b.addEventListener("click", function () { kind = b.dataset.kind; renderCategories(); });
    });
    $("submit").addEventListener("click", submitReport);
    $("lang").addEventListener("click", switchLanguage);
    $("refresh").addEventListener("click", function () { loadMine(); });
    $("more").addEventListener("click", function () { loadMine(true); });
    $("logout").addEventListener("submit", logOut);
    window.addEventListener("hashchange", route);
    window.addEventListener("online", function () { flushOutbox(true); });
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { flushOutbox(true); } });
  }

  function start() {
    applyLanguage();
    bindEvents();
    renderPreviews();
    route();
    startLocating();
    renderPlace();
    loadCategories();
    refusals.forEach(showRefusal);
    showOutbox().then(function () { return flushOutbox(true); });
    if ("serviceWorker" in navigator) { navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {}); }
  }

  start();
})();
