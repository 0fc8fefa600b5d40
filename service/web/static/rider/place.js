/* The rider's place: the phone's location fix, the Leaflet map (global L, a classic script) with a draggable pin, the grids under it. */

import { getJSON } from "/static/js/http.js";
import { $ } from "./ui.js";
import { t } from "./words.js";

const GOOD_FIX_M = 25, POOR_FIX_M = 100, FIX_WAIT_MS = 8000;  // the rider is told within 10 s of opening the page, loading included

let map = null, viewed = false, pin = null, ring = null, gridLayer = null, grids = null, area = null;
let place = null;  // {lat, lon, accuracy, byHand}
let watchId = null, watchStop = null, lastFix = null;
let fixWait = null, noFix = null;  // the 10 s timer; why there is no fix to show: "denied", "no_fix_yet" or null
let preferFix = false;  // asked again (重试): the next fix takes the place of a pin placed by hand
let onPlaced = () => {};

/** Call `callback` whenever the place changes (a fix, a tap on the map, a drag of the pin). */
export function whenPlaced(callback) { onPlaced = callback; }

/** Where the report is: the fix or the pin placed by hand, or null. */
export function currentPlace() { return place; }

/** Where the phone itself says it is (never a pin placed by hand): what a "me too" is sent with. */
export function currentFix() { return lastFix; }

export function setUpMap() {
  if (map) { map.invalidateSize(); return; }
  map = L.map("map", { attributionControl: false });
  map.whenReady(() => { viewed = true; });  // Leaflet's "load": the first view is set
  if (document.body.dataset.tiles) { L.tileLayer(document.body.dataset.tiles, { maxZoom: 19 }).addTo(map); }
  map.on("click", (e) => placeByHand(e.latlng));
  if (place) { showPlace(true); }
  else if (area) { showArea(area); }
  loadGrids();
}

/** The community's service area arrived (GET /api/v1/community): the map's view until the grids or a fix come. */
export function showArea(box) {
  area = box;
  if (map && !viewed) { map.fitBounds([[box.south, box.west], [box.north, box.east]], { animate: false }); }
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

export function startLocating(fresh) {
  if (!navigator.geolocation) { noFix = "no_fix_yet"; renderPlace(); return; }
  stopLocating();
  noFix = null;
  clearTimeout(fixWait);
  // a phone that never answers (no permission asked, no signal indoors) is not left saying "locating" for ever
  fixWait = setTimeout(() => { if (!lastFix) { noFix = "no_fix_yet"; renderPlace(); } }, FIX_WAIT_MS);
  const options = { enableHighAccuracy: true, maximumAge: fresh ? 0 : 10000, timeout: 30000 };
  watchId = navigator.geolocation.watchPosition(onFix, onFixFailed, options);
  watchStop = setTimeout(stopLocating, 60000);  // spare the battery
}

function stopLocating() {
  if (watchId !== null) { navigator.geolocation.clearWatch(watchId); }
  clearTimeout(watchStop);
  watchId = null;
}

function onFix(position) {
  const c = position.coords;
  lastFix = { lat: c.latitude, lon: c.longitude, accuracy: Math.round(c.accuracy), byHand: false };
  clearTimeout(fixWait);
  noFix = null;
  if (place && place.byHand && !preferFix) { renderPlace(); return; }
  preferFix = false;
  const first = !place || place.byHand;
  place = lastFix;
  showPlace(first);
  if (c.accuracy <= GOOD_FIX_M) { stopLocating(); }
}

function onFixFailed(error) {
  if (lastFix) { return; }
  if (error && error.code === 1) {  // PERMISSION_DENIED: no fix will come; say so now
    stopLocating();
    clearTimeout(fixWait);
    noFix = "denied";
  }
  renderPlace();
}

/** 重新定位 / 重试: ask the phone again; a pin placed by hand stays until a fix comes to take its place. */
export function relocate() {
  preferFix = true;
  if (lastFix) { place = lastFix; showPlace(true); }
  else if (!(place && place.byHand)) { place = null; dropPin(); renderPlace(); }
  startLocating(true);
}

function placeByHand(latlng) {
  place = { lat: latlng.lat, lon: latlng.lng, accuracy: null, byHand: true };
  showPlace(false);
}

/** After a report: a pin the rider placed by hand is let go, and the phone asked again. */
export function forgetPlaceByHand() {
  if (place && place.byHand) { place = null; dropPin(); relocate(); }
}

function dropPin() {
  if (pin) { pin.remove(); pin = null; }
  if (ring) { ring.remove(); ring = null; }
}

function showPlace(centre) {
  renderPlace();
  onPlaced();
  if (!map) { return; }
  const latlng = [place.lat, place.lon];
  if (!pin) {
    pin = L.marker(latlng, { draggable: true, keyboard: false, icon: pinIcon() }).addTo(map);
    pin.on("dragend", () => placeByHand(pin.getLatLng()));
  }
  pin.setLatLng(latlng);
  if (ring) { ring.remove(); ring = null; }
  if (place.accuracy) {
    ring = L.circle(latlng, { radius: place.accuracy, interactive: false, color: "#0b4fa3", weight: 1, fillOpacity: 0.12 }).addTo(map);
  }
  if (centre || !viewed || !map.getBounds().contains(latlng)) { frame(latlng); }
}

/** With map tiles, close in on the spot; on the grids alone, show the whole grid it is in around the pin. */
function frame(latlng) {
  const grid = !document.body.dataset.tiles && gridAt(latlng[0], latlng[1]);
  // not animated: a frame asked for during another's animation would be dropped
  if (grid) { map.fitBounds(L.geoJSON(grid).getBounds().extend(latlng), { padding: [8, 8], animate: false }); }
  else { map.setView(latlng, 17, { animate: false }); }
}

function pinIcon() {
  const svg = '<svg viewBox="0 0 30 42" width="30" height="42">' +
    '<path d="M15 1C7 1 1 7 1 15c0 10 14 26 14 26s14-16 14-26C29 7 23 1 15 1z" fill="#d00" stroke="#000" stroke-width="2"/>' +
    '<circle cx="15" cy="15" r="5" fill="#fff"/></svg>';
  return L.divIcon({ className: "pin", html: svg, iconSize: [30, 42], iconAnchor: [15, 41] });
}

export function renderPlace() {
  const text = $("where-text"), again = $("relocate");
  text.className = "";
  // with no fix, the button says 重试 (retry); with one, 重新定位
  again.dataset.i18n = !lastFix && noFix ? "retry" : "relocate";
  again.textContent = t(again.dataset.i18n);
  if (!place) {
    const why = noFix || (watchId !== null ? null : "no_fix_yet");
    text.textContent = why ? t(why === "denied" ? "no_fix_denied" : "no_fix") : t("locating");
    if (why) { text.className = "bad"; }
    return;
  }
  let words = place.byHand ? t("by_hand") : t("accuracy", { m: place.accuracy });
  if (!place.byHand && place.accuracy > POOR_FIX_M) { words += t("poor_fix"); text.className = "bad"; }
  const grid = gridAt(place.lat, place.lon);
  if (grids) { words += " · " + (grid ? grid.properties.name : t("outside_grids")); }
  text.textContent = words;
}

/** The grid feature the point falls in (ray casting over each polygon's outer ring), or null. */
function gridAt(lat, lon) {
  if (!grids || !grids.features) { return null; }
  return grids.features.find((f) => {
    const g = f.geometry, polygons = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
    return polygons.some((rings) => insideRing(rings[0], lon, lat));
  }) || null;
}

function insideRing(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
    if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) { inside = !inside; }
  }
  return inside;
}
