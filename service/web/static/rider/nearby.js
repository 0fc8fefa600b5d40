/* Open cases nearby of the category chosen: the rider may join one (我也遇到) instead of reporting it again. */

import { errorCode, getJSON, HttpError, postJSON } from "/static/js/http.js";
import { categoryName, chosenCode } from "./categories.js";
import { currentFix, currentPlace } from "./place.js";
import { el, failureText, fill, notice, shortTime, $ } from "./ui.js";
import { stateLabel, t } from "./words.js";

const NEARBY_DELAY_MS = 500;

let timer = null, asked = 0, shown = [];
let onJoined = () => {};

/** Call `callback` (with the case number) once the rider has joined a case instead of reporting. */
export function whenJoined(callback) { onJoined = callback; }

/** Look for cases near the place, of the category chosen, once both have stopped changing for a moment. */
export function scheduleNearby() {
  clearTimeout(timer);
  if (!chosenCode() || !currentPlace()) { showNearby([]); return; }
  timer = setTimeout(checkNearby, NEARBY_DELAY_MS);
}

async function checkNearby() {
  const question = ++asked, place = currentPlace(), category = chosenCode();
  if (!category || !place) { return; }
  const query = new URLSearchParams({ lat: place.lat.toFixed(6), lon: place.lon.toFixed(6), category, coord_system: "wgs84" });
  try {
    const found = (await getJSON("/api/v1/nearby?" + query)).cases;
    if (question === asked) { showNearby(found); }
  } catch (e) {
    if (question === asked) { showNearby([]); }
  }
}

function showNearby(cases) {
  shown = cases;
  $("nearby").hidden = cases.length === 0;
  fill("nearby-list", cases.map(nearbyCard));
}

export function renderNearby() { showNearby(shown); }

function nearbyCard(c) {
  const picture = c.thumb_url ? el("img", { src: c.thumb_url, alt: c.case_no, loading: "lazy" }) : el("span", { className: "noimg" });
  const action = c.mine ? el("span", { className: "state", text: t("my_case") })
    : c.me_too ? el("span", { className: "state joined", text: t("joined") })
    : el("button", { type: "button", className: "quiet", text: t("me_too"), onclick: () => joinCase(c.case_no) });
  return el("li", {}, [picture, el("div", { className: "body" }, [
    el("b", { text: categoryName(chosenCode(), c.category) }),
    el("span", { className: "meta", text: [t("metres", { m: c.distance_m }), shortTime(c.created_at),
                                            stateLabel(c.state, c.state_label)].join(" · ") })
  ]), action]);
}

/** Join with the phone's own fix: the server counts a "me too" only from near the case, and says why not. */
async function joinCase(caseNo) {
  const fix = currentFix();
  const here = fix ? { lat: +fix.lat.toFixed(7), lon: +fix.lon.toFixed(7), accuracy_m: fix.accuracy, coord_system: "wgs84" } : {};
  try {
    await postJSON("/api/v1/reports/" + encodeURIComponent(caseNo) + "/me-too", here);
  } catch (e) {
    // already counted (a second tap that crossed the first): done all the same
    const already = e instanceof HttpError && e.status === 409 && errorCode(e.body) === "me_too_already";
    if (!already) {
      notice(failureText(e), "error", { id: "me-too-refused" });
      return;
    }
  }
  onJoined(caseNo);
}
