/* The rider's photos on the form: the previews of the shared capture module's PhotoSet, and its limit. */

import { PhotoSet } from "/static/js/capture.js";
import { $, el, fill, notice } from "./ui.js";
import { t } from "./words.js";

export const photos = new PhotoSet({ onchange: renderPreviews });

/** The community's limit arrived (GET /api/v1/community). */
export function setMaxPhotos(max) {
  photos.max = max;
  renderPreviews();
}

/** The files of a file input, added to the report; the input is emptied for the next pick. */
export function addPhotos(input) {
  if (photos.add(input.files)) { notice(t("photo_limit", { n: photos.max }), "warn", { id: "photo-limit" }); }
  input.value = "";
}

export function renderPreviews() {
  fill("previews", photos.slots.map((slot, i) => {
    const picture = slot.url ? el("img", { src: slot.url, alt: "" + (i + 1) }) : el("span", { className: "busy", text: t("shrinking") + "…" });
    return el("li", {}, [picture, el("button", { type: "button", "aria-label": t("remove_photo"), onclick: () => photos.remove(slot) })]);
  }));
  $("photo-count").textContent = photos.count + (Number.isFinite(photos.max) ? "/" + photos.max : "");
}
