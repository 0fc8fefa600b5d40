/* The rider's place: the phone's location fix, the Leaflet map (global L, a classic script) with a draggable pin, the grids under it.
   The place is kept in WGS-84 (what the phone gives and the server stores); the map may draw in GCJ-02 (js/basemap.js). */

import { addTiles, drawnOn, gridLabel, tilesOf } from "/static/js/basemap.js";
import { getJSON } from "/static/js/http.js";
import { $ } from "./ui.js";
import { t } from "./words.js";

const GOOD_FIX_M = 25, POOR_FIX_M = 100, FIX_WAIT_MS = 8000;  // the rider is told within 10 s of opening the page, loading included

let map = null, viewed = false, pin = null, ring = null, gridLayer = null, grids = null, area = null;
let tiles = null, drawn = drawnOn(null);  // the page's tiles, and how a WGS-84 point is drawn on them
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
  tiles = tilesOf(document.body);
  drawn = drawnOn(tiles);
  map = L.map("map", { attributionControl: false });
  map.whenReady(() => { viewed = true; });  // Leaflet's "load": the first view is set
  addTiles(map, tiles);
  // with no tiles the grids' names are the only words on the map: under the pin, never catching a tap
  map.createPane("grid-labels").classList.add("grid-labels");
  map.on("click", (e) => placeByHand(drawn.fromMap(e.latlng)));
  if (place) { showPlace(true); }
  else if (area) { showArea(area); }
  loadGrids();
}

/** The community's service area arrived (GET /api/v1/community): the map's view until the grids or a fix come. */
export function showArea(box) {
  area = box;
  if (map && !viewed) { map.fitBounds([drawn.toMap(box.south, box.west), drawn.toMap(box.north, box.east)], { animate: false }); }
}

async function loadGrids() {
  try {
    grids = await getJSON("/api/v1/grids");
  } catch (e) {
    return;  // the map works without its backdrop
  }
  gridLayer = L.geoJSON(grids, {
    interactive: false, coordsToLatLng: drawn.coordsToLatLng,
    style: { color: "#0b3d2e", weight: 2, fillColor: "#0b3d2e", fillOpacity: 0.06 },
    onEachFeature: (f, layer) => {
      if (!tiles) { layer.bindTooltip(gridLabel(f.properties.name), { permanent: true, direction: "center", className: "grid-label", pane: "grid-labels" }); }
    }
  }).addTo(map);
  if (place) { frame(place); }
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

/** The rider put the pin at `point` ({lat, lon}, WGS-84: shifted back from the map's system already). */
function placeByHand(point) {
  place = { lat: point.lat, lon: point.lon, accuracy: null, byHand: true };
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
  const latlng = drawn.toMap(place.lat, place.lon);
  if (!pin) {
    pin = L.marker(latlng, { draggable: true, keyboard: false, icon: pinIcon() }).addTo(map);
    pin.on("dragend", () => placeByHand(drawn.fromMap(pin.getLatLng())));
  }
  pin.setLatLng(latlng);
  if (ring) { ring.remove(); ring = null; }
  if (place.accuracy) {
    ring = L.circle(latlng, { radius: place.accuracy, interactive: false, color: "#0b4fa3", weight: 1, fillOpacity: 0.12 }).addTo(map);
  }
  if (centre || !viewed || !map.getBounds().contains(latlng)) { frame(place); }
}

/** With map tiles, close in on the spot; on the grids alone, show the whole grid it is in (or the nearest) around the pin. */
function frame(point) {
  const grid = !tiles && nearestGrid(point.lat, point.lon), latlng = drawn.toMap(point.lat, point.lon);
  // not animated: a frame asked for during another's animation would be dropped
  if (grid) {
    const bounds = L.geoJSON(grid, { coordsToLatLng: drawn.coordsToLatLng }).getBounds().extend(latlng);
    map.fitBounds(bounds, { padding: [8, 8], animate: false });
  } else { map.setView(latlng, 17, { animate: false }); }
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
  renderNearest();
}

/** With no tiles there are no streets on the map: the nearest grid and its road, in words, under the map. */
function renderNearest() {
  const line = $("nearest-grid"), nearest = !tiles && place && nearestGrid(place.lat, place.lon);
  line.hidden = !nearest;
  if (!nearest) { line.textContent = ""; return; }
  const p = nearest.properties, name = p.name.split("·")[0];
  line.textContent = p.street ? t("nearest_grid", { grid: name, street: p.street }) : t("nearest_grid_only", { grid: name });
}

/** The grid the point is in, else the one whose edge is closest (flat metres: a grid is a few hundred metres). */
function nearestGrid(lat, lon) {
  const inside = gridAt(lat, lon);
  if (inside || !grids || !grids.features) { return inside; }
  const kx = Math.cos(lat * Math.PI / 180) * 111320, ky = 110574;
  let best = null, bestM = Infinity;
  grids.features.forEach((f) => {
    outerRings(f.geometry).forEach((ring) => {
      for (let i = 1; i < ring.length; i++) {
        const m = segmentDistance((ring[i - 1][0] - lon) * kx, (ring[i - 1][1] - lat) * ky,
                                  (ring[i][0] - lon) * kx, (ring[i][1] - lat) * ky);
        if (m < bestM) { bestM = m; best = f; }
      }
    });
  });
  return best;
}

/** How far the origin is from the segment (x1, y1)-(x2, y2). */
function segmentDistance(x1, y1, x2, y2) {
  const dx = x2 - x1, dy = y2 - y1, length2 = dx * dx + dy * dy;
  const k = length2 ? Math.max(0, Math.min(1, -(x1 * dx + y1 * dy) / length2)) : 0;
  return Math.hypot(x1 + k * dx, y1 + k * dy);
}

function outerRings(g) {
  return g.type === "Polygon" ? [g.coordinates[0]] : g.type === "MultiPolygon" ? g.coordinates.map((rings) => rings[0]) : [];
}

/** The grid feature the point falls in (ray casting over each polygon's outer ring), or null. */
function gridAt(lat, lon) {
  if (!grids || !grids.features) { return null; }
  return grids.features.find((f) => outerRings(f.geometry).some((ring) => insideRing(ring, lon, lat))) || null;
}

function insideRing(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
    if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) { inside = !inside; }
  }
  return inside;
}
