/* The rider's categories: big tiles, 部件 / 事件, my most used first; each category's name, icon and colour as the community gives them. */

import { $, el, fill } from "./ui.js";
import { english } from "./words.js";

let categories = [], chosen = null, kind = null, colourEmoji = null;
let onChosen = () => {};

/** The community's categories arrived (GET /api/v1/community): show them, my most used kind first. */
export function setCategories(list) {
  categories = list;
  const favourite = mostUsed()[0];
  kind = kind || (favourite ? favourite.kind : null);
  renderCategories();
}

/** Call `callback` whenever the chosen category changes (by a tap, or as the form is cleared or given back). */
export function whenChosen(callback) { onChosen = callback; }

export function chosenCode() { return chosen; }

export function setChosen(code) {
  chosen = code;
  renderCategories();
  onChosen();
}

export function showKind(name) {
  kind = name;
  renderCategories();
}

export function categoryOf(code) { return categories.find((c) => c.code === code); }

/** A category's name in the page's language (the name the server sent when the category is not known here). */
export function categoryName(code, name) {
  const category = categoryOf(code);
  if (!category) { return name; }
  return english() ? category.name_en : category.name;
}

function mostUsed() {
  return categories.filter((c) => c.used > 0).sort((a, b) => b.used - a.used).slice(0, 4);
}

export function renderCategories() {
  const favourites = mostUsed();
  const shownKind = kind || document.querySelector(".kinds button").dataset.kind;  // the page's first kind
  $("favourites-box").hidden = favourites.length === 0;
  fill("favourites", favourites.map(tile));
  const ofKind = categories.filter((c) => c.kind === shownKind);
  ofKind.sort((a, b) => b.used - a.used);  // stable: the scheme's order among equals
  fill("tiles", ofKind.map(tile));
  document.querySelectorAll(".kinds button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.kind === shownKind)));
  const current = categoryOf(chosen);
  $("chosen").hidden = !current;
  $("chooser").hidden = !!current;
  fill("chosen-tile", current ? [tile(current)] : []);
}

function tile(category) {
  return el("button", { type: "button", className: "tile" + (category.code === chosen ? " on" : ""), "data-code": category.code,
                        onclick: () => setChosen(chosen === category.code ? null : category.code) },
            [look("i", category, category.name), el("span", { text: categoryName(category.code, category.name) })]);
}

/** A category's icon, for a card: `name` gives the stand-in glyph of a category this page does not know. */
export function categoryIcon(code, name) {
  return look("span", categoryOf(code), name || "?", "noimg icon");
}

function look(tag, category, name, className) {
  const icon = el(tag, { className, "aria-hidden": "true",
                         text: category && category.icon && hasColourEmoji() ? category.icon : category ? glyph(category) : name.charAt(0) });
  // its major class's colour as a CSS variable: the CSP forbids style attributes, not the CSSOM
  if (category) { icon.style.setProperty("--class-colour", category.colour); }
  return icon;
}

/** The one character drawn for a category when emoji are not: the community's (Chinese), or in English the first
    letter of the English name. */
function glyph(category) {
  return english() && category.name_en ? category.name_en.charAt(0).toUpperCase() : category.glyph;
}

/** True when the phone draws emoji in colour (a font without them draws grey boxes). */
function hasColourEmoji() {
  if (colourEmoji !== null) { return colourEmoji; }
  const canvas = el("canvas", { width: 16, height: 16 }), g = canvas.getContext("2d", { willReadFrequently: true });
  g.textBaseline = "top";
  g.font = "14px sans-serif";
  g.fillText("💡", 0, 0);
  const px = g.getImageData(0, 0, 16, 16).data;
  colourEmoji = false;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i + 3] && (Math.abs(px[i] - px[i + 1]) > 30 || Math.abs(px[i + 1] - px[i + 2]) > 30)) { colourEmoji = true; break; }
  }
  return colourEmoji;
}
