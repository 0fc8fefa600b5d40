/* The rider page's words, 中文 first and a small English dictionary beside it; the language chosen, kept on the phone
   (and in a cookie, for the server's pages). */

import { STATES } from "/static/js/states.js";

const WORDS = {
  zh: {
    brand: "随手拍", pending: "待上传", logout: "退出", password: "改密码", tab_report: "上报", tab_mine: "我的上报",
    shoot: "拍照上报", gallery: "从相册选择", where: "位置", locating: "正在定位…", relocate: "重新定位",
    what: "问题类别", change: "更换", favourites: "我常报的", kind_part: "部件", kind_event: "事件",
    nearby: "附近已有人上报", nearby_hint: "如果是同一个问题，点“我也遇到”即可，不必重复上报。",
    describe: "补充说明（可不填）", submit: "提交上报", points_week: "本周积分", points_total: "累计积分",
    refresh: "刷新", wallet: "积分兑换 ›", mine_empty: "还没有上报。", more: "加载更多", back: "‹ 返回我的上报",
    accuracy: "定位精度 ±{m} 米", poor_fix: "（精度较差，可拖动图钉）", by_hand: "已手动选点（可拖动图钉）",
    no_fix: "暂时未能定位：请在地图上点出问题的位置，或点“重试”", retry: "重试",
    no_fix_denied: "未获得定位权限：请在地图上点出问题的位置，或在浏览器中允许定位后点“重试”", outside_grids: "不在网格内", outside_district: "不在本区服务范围内",
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
    reopened: "已重新打开 {no}", need_note: "请填写原因", dismiss: "关闭", loading: "加载中…", system: "系统",
    nearest_grid: "最近网格：{grid} · {street}", nearest_grid_only: "最近网格：{grid}"
  },
  en: {
    brand: "Snap", pending: "To send", logout: "Log out", password: "Password", tab_report: "Report", tab_mine: "My reports",
    shoot: "Take a photo", gallery: "Choose from gallery", where: "Location", locating: "Locating…", relocate: "Locate again",
    what: "Category", change: "Change", favourites: "My usual", kind_part: "Facilities", kind_event: "Incidents",
    nearby: "Already reported nearby", nearby_hint: "If it is the same problem, tap “Me too” instead of reporting it again.",
    describe: "Notes (optional)", submit: "Send report", points_week: "Points this week", points_total: "Points in total",
    refresh: "Refresh", wallet: "Spend points ›", mine_empty: "No reports yet.", more: "Load more", back: "‹ Back to my reports",
    accuracy: "Accuracy ±{m} m", poor_fix: " (poor: drag the pin)", by_hand: "Placed by hand (drag the pin)",
    no_fix: "No location yet: tap the map where the problem is, or tap “Retry”", retry: "Retry",
    no_fix_denied: "Location is not allowed: tap the map where the problem is, or allow location and tap “Retry”",
    outside_grids: "outside the grids", outside_district: "outside the district",
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
    reopened: "Reopened {no}", need_note: "Please give a reason", dismiss: "Close", loading: "Loading…", system: "System",
    nearest_grid: "Nearest grid: {grid} · {street}", nearest_grid_only: "Nearest grid: {grid}"
  }
};

// kept on the phone, and in the cookie `lang` too, which the server reads (the login page in the same language);
// a choice made on the login page's own switch (the cookie alone) counts as well
const LANG_COOKIE = /(?:^|;\s*)lang=(en|zh)(?:;|$)/;
let lang = (LANG_COOKIE.exec(document.cookie) || [])[1] || (localStorage.getItem("rider.lang") === "en" ? "en" : "zh");
keepLanguage();

function keepLanguage() {
  localStorage.setItem("rider.lang", lang);
  const secure = location.protocol === "https:" ? "; secure" : "";
  document.cookie = "lang=" + lang + "; path=/; max-age=31536000; samesite=lax" + secure;
}

export function english() { return lang === "en"; }

/** The page's word for `key`, with {name} filled in from vars. */
export function t(key, vars) {
  const text = WORDS[lang][key] || WORDS.zh[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars && vars[name] != null ? vars[name] : ""));
}

/** A case state's name in the page's language (the server's label for a state this page does not know). */
export function stateLabel(state, label) {
  const known = STATES[state];
  return known ? known[lang] : label || state;
}

/** The server's words given in both languages ({"zh": ..., "en": ...}) in the page's language. */
export function inLanguage(texts) { return (texts && (texts[lang] || texts.zh)) || ""; }

/** The server's "中文 / English" message in the page's language. */
export function serverMessage(body) {
  const message = body && body.error && body.error.message;
  if (!message) { return ""; }
  const halves = message.split(" / ");
  if (lang !== "en" || !halves[1]) { return halves[0]; }
  const englishText = halves.slice(1).join(" / ");
  return englishText.charAt(0).toUpperCase() + englishText.slice(1);  // the server writes it as a clause
}

/** Every [data-i18n] element, the page's lang and the language button in the language chosen. */
export function applyLanguage() {
  document.documentElement.lang = english() ? "en" : "zh-CN";
  document.title = t("brand");
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  const button = document.getElementById("lang");
  button.textContent = english() ? "中文" : "EN";
  button.lang = english() ? "zh-CN" : "en";
}

export function switchLanguage() {
  lang = english() ? "zh" : "en";
  keepLanguage();
  applyLanguage();
}
