/* The rider's place: the phone's location fix, the Leaflet map (global L, a classic script) with a draggable pin, the district's
   communities (boundaries, names) and the grids under it, fetched by cell as the map comes near them. The place is kept in
   WGS-84 (what the phone gives and the server stores); the map may draw in GCJ-02 (js/basemap.js). */

import { addTiles, drawnOn, gridLabel, tilesOf } from "/static/js/basemap.js";
import { getJSON } from "/static/js/http.js";
import { $ } from "./ui.js";
import { t } from "./words.js";

const GOOD_FIX_M = 25, POOR_FIX_M = 100, FIX_WAIT_MS = 8000;  // the rider is told within 10 s of opening the page, loading included
// a district has thousands of grids: they come by cell of CELL degrees (about 2 km): the cells within AROUND degrees
// (about 300 m) of the place, and those the rider's own moves of the map bring into view from GRID_ZOOM in; further
// out the map shows the communities, named
const CELL = 0.02, AROUND = 0.003, GRID_ZOOM = 14, MOST_CELLS = 6;

let map = null, viewed = false, pin = null, ring = null, gridLayer = null, communityLayer = null, area = null;
const grids = { type: "FeatureCollection", features: [] }, cells = new Set();  // the grids fetched, and the cells asked for
let communities = null;  // each community's boundary, name and street office (GET /api/v1/community brings them)
let tiles = null, drawn = drawnOn(null);  // the page's tiles, and how a WGS-84 point is drawn on them
let place = null;  // {lat, lon, accuracy, byHand}
let watchId = null, watchStop = null, lastFix = null;
let fixWait = null, noFix = null;  // the 10 s timer; why there is no fix to show: "denied", "no_fix_yet" or null
let preferFix = false;  // asked again (重试): the next fix takes the place of a pin placed by hand
let onPlaced = () => {};
let framing = false;  // the page itself is moving the map (not the rider): no grids are fetched for that view
let framed = false;  // the map has been fitted to the grid of the place (with no tiles: the rider's only sense of where)

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
  map.on("zoomend", nearOrFar);
  map.whenReady(nearOrFar);
  map.on("moveend", loadGridsInView);
  gridLayer = L.geoJSON(null, {
    interactive: false, coordsToLatLng: drawn.coordsToLatLng,
    style: { color: "#0b3d2e", weight: 2, fillColor: "#0b3d2e", fillOpacity: 0.06 },
    onEachFeature: (f, layer) => {
      if (!tiles) { layer.bindTooltip(gridLabel(f.properties.name), { permanent: true, direction: "center", className: "grid-label", pane: "grid-labels" }); }
    }
  }).addTo(map);
  if (place) { showPlace(true); }
  if (area) { drawDistrict(); }
}

/** Near (grids and their names) or far (the communities' names), by the zoom: the two sets of names never crowd each other. */
function nearOrFar() {
  const near = map.getZoom() >= GRID_ZOOM;
  map.getContainer().classList.toggle("near", near);
  map.getContainer().classList.toggle("far", !near);
}

/** The district arrived (GET /api/v1/community): its box, the map's view until a fix comes, and its communities. */
export function showDistrict(box, list) {
  area = box;
  communities = list || [];
  if (map) { drawDistrict(); }
}

function drawDistrict() {
  if (!viewed) { moveTo(() => map.fitBounds([drawn.toMap(area.south, area.west), drawn.toMap(area.north, area.east)], { animate: false })); }
  if (communityLayer) { communityLayer.remove(); }
  communityLayer = L.geoJSON(communities.map((c) => ({ type: "Feature", geometry: c.boundary, properties: c })), {
    interactive: false, coordsToLatLng: drawn.coordsToLatLng,
    style: { color: "#7a3e9d", weight: 2, dashArray: "6 4", fill: false },
    onEachFeature: (f, layer) => {
      layer.bindTooltip(f.properties.name, { permanent: true, direction: "center", className: "community-label", pane: "grid-labels" });
    }
  }).addTo(map);
  renderPlace();
}

/** The cells (south-west corner indices) of a box in WGS-84 degrees. */
function cellsOf(south, west, north, east) {
  const found = [];
  for (let y = Math.floor(south / CELL); y <= Math.floor(north / CELL); y++) {
    for (let x = Math.floor(west / CELL); x <= Math.floor(east / CELL); x++) { found.push([x, y]); }
  }
  return found;
}

/** Move the map for the page (unanimated, so Leaflet's moveend comes before this returns). */
function moveTo(move) {
  framing = true;
  try { move(); } finally { framing = false; }
}

function loadGridsInView() {
  if (framing || map.getZoom() < GRID_ZOOM) { return; }
  const b = map.getBounds(), sw = drawn.fromMap(b.getSouthWest()), ne = drawn.fromMap(b.getNorthEast());
  const wanted = cellsOf(sw.lat, sw.lon, ne.lat, ne.lon);
  if (wanted.length <= MOST_CELLS) { wanted.forEach(loadCell); }
}

/** One cell's grids (GET /api/v1/grids?bbox=…, kept by the service worker for the next time with no signal), once. */
async function loadCell([x, y]) {
  const key = x + "," + y;
  if (cells.has(key)) { return; }
  cells.add(key);
  const box = [x * CELL, y * CELL, (x + 1) * CELL, (y + 1) * CELL].map((d) => d.toFixed(2)).join(",");
  let found;
  try {
    found = await getJSON("/api/v1/grids?bbox=" + box);
  } catch (e) {
    cells.delete(key);  // asked again when the map next moves
    return;
  }
  const known = new Set(grids.features.map((f) => f.properties.code));
  const fresh = found.features.filter((f) => !known.has(f.properties.code));
  grids.features.push(...fresh);
  gridLayer.addData(fresh);
  // a fix first framed before its grid came is framed on it now; a pin the rider placed stays where they see it
  if (place && !place.byHand && !tiles && !framed && gridAt(place.lat, place.lon)) { frame(place); }
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
  if (centre || !viewed || !map.getBounds().contains(latlng)) { framed = false; frame(place); }
  // the grids around the place, at whatever zoom the map is: the one it is in, and the nearest when it is in none
  cellsOf(place.lat - AROUND, place.lon - AROUND, place.lat + AROUND, place.lon + AROUND).forEach(loadCell);
}

/** With map tiles, close in on the spot; on the grids alone, show the whole grid it is in (or the nearest) around the pin. */
function frame(point) {
  const grid = !tiles && nearestGrid(point.lat, point.lon), latlng = drawn.toMap(point.lat, point.lon);
  // not animated: a frame asked for during another's animation would be dropped
  framed = !!grid;
  if (grid) {
    const bounds = L.geoJSON(grid, { coordsToLatLng: drawn.coordsToLatLng }).getBounds().extend(latlng);
    moveTo(() => map.fitBounds(bounds, { padding: [8, 8], animate: false }));
    // a big grid is not shown so far out that its name gives way to the communities': the pin stays in the middle
    if (map.getZoom() < GRID_ZOOM) { moveTo(() => map.setView(latlng, GRID_ZOOM, { animate: false })); }
  } else { moveTo(() => map.setView(latlng, 17, { animate: false })); }
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
  const community = communityAt(place.lat, place.lon), grid = gridAt(place.lat, place.lon);
  if (communities) { words += " · " + (community ? community.name : t("outside_district")); }
  if (community || !communities) { words += " · " + (grid ? grid.properties.name : t("outside_grids")); }
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
  if (inside) { return inside; }
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

function inside(geometry, lat, lon) { return outerRings(geometry).some((ring) => insideRing(ring, lon, lat)); }

/** The grid feature the point falls in (ray casting over each polygon's outer ring), or null. */
function gridAt(lat, lon) { return grids.features.find((f) => inside(f.geometry, lat, lon)) || null; }

/** The community the point falls in ({code, name, street_office, boundary}), or null (or none known yet). */
function communityAt(lat, lon) { return communities && communities.find((c) => inside(c.boundary, lat, lon)) || null; }

function insideRing(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
    if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) { inside = !inside; }
  }
  return inside;
}
