/* Maps for the desk (an ES module; Leaflet's global L comes first, and on the case map Leaflet.markercluster): the
   grids always (a closed network has no tiles), tiles when configured, every point drawn in the tiles' system.
   Colours are the style sheets' (css/states.css, css/site.css): the shapes carry classes, never inline styles (CSP).
   #minimap (data-lat, data-lon, data-grid, data-tiles) is any page's small map of one case. */

import { addTiles, drawnOn, gridLabel, tilesOf } from "./basemap.js";

function baseMap(el) {
  const tiles = tilesOf(el);
  // a zoom limit even without tiles: the clusters are made for each zoom up to it
  const map = L.map(el, { attributionControl: false, maxZoom: tiles ? tiles.maxZoom : 19 });
  addTiles(map, tiles);
  return { map, drawn: drawnOn(tiles) };
}

function gridStyle() { return { className: "grid-outline" }; }

/** A small map of one case in this element (data-lat, data-lon, data-grid: GeoJSON or null, data-tiles). */
export function showMinimap(mini) {
  const { map, drawn } = baseMap(mini);
  const point = drawn.toMap(parseFloat(mini.dataset.lat), parseFloat(mini.dataset.lon));
  const grid = JSON.parse(mini.dataset.grid || "null");
  map.setView(point, 16);  // first: Leaflet cannot clip a polygon on a map that has no view yet
  if (grid) { L.geoJSON(grid, { style: gridStyle, coordsToLatLng: drawn.coordsToLatLng }).addTo(map); }
  L.circleMarker(point, { radius: 9, className: "case-point" }).addTo(map);
  return map;
}

const mini = document.getElementById("minimap");
if (mini) { showMinimap(mini); }

/** A case's mark: its state's colour, red once overdue; its popup links to the case. */
function caseMark(f, latlng) {
  const p = f.properties;
  const mark = L.circleMarker(latlng, { radius: 8, className: "case-mark state-" + p.state + (p.overdue ? " late" : ""),
                                        late: !!p.overdue });
  const a = document.createElement("a");
  a.href = p.url;
  a.textContent = p.case_no + " " + p.category + " · " + p.label + (p.overdue ? " · 超期" : "");
  mark.bindPopup(a);
  return mark;
}

/** A cluster's circle: the plugin's own (its classes, MarkerCluster.Default.css), its count as text, and ringed in red
    when an overdue case is in it (else a cluster would hide the very cases the desk must chase). */
function clusterIcon(cluster) {
  const n = cluster.getChildCount(), late = cluster.getAllChildMarkers().some((m) => m.options.late);
  const count = document.createElement("div"), number = document.createElement("span");
  number.textContent = String(n);
  count.append(number);
  return L.divIcon({ html: count, iconSize: L.point(40, 40),
                     className: "marker-cluster marker-cluster-" + (n < 10 ? "small" : n < 100 ? "medium" : "large") + (late ? " late" : "") });
}

/** Many marks close together as one numbered circle (Leaflet.markercluster), when the plugin is on the page. */
function caseLayer(marks) {
  // a click on a cluster zooms in to its cases; at the closest zoom it spreads them out (spiderfy)
  return L.markerClusterGroup ? L.markerClusterGroup({ showCoverageOnHover: false, iconCreateFunction: clusterIcon }).addLayers(marks)
    : L.featureGroup(marks);
}

const big = document.getElementById("casemap");
if (big) {
  const { map: casemap, drawn } = baseMap(big);
  // the grids' names, on hover only (a name never hides a case), under the cases' marks, never catching a click
  casemap.createPane("grid-labels").classList.add("grid-labels");
  fetch(big.dataset.source, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
    const grids = L.geoJSON(data.grids, {
      style: gridStyle,
      coordsToLatLng: drawn.coordsToLatLng,
      onEachFeature: function (f, layer) {
        // beside the pointer, where the person is looking (the grid's middle may well be under a cluster)
        layer.bindTooltip(gridLabel(f.properties.name), { sticky: true, direction: "top", offset: [0, -10],
                                                          className: "grid-label", pane: "grid-labels" });
      }
    }).addTo(casemap);
    const cases = L.geoJSON(data.cases, { pointToLayer: caseMark, coordsToLatLng: drawn.coordsToLatLng });
    caseLayer(cases.getLayers()).addTo(casemap);
    // every grid and every case on screen: an unrouted case lies outside the grids by definition
    const view = grids.getBounds();
    if (cases.getLayers().length) { view.extend(cases.getBounds()); }
    if (view.isValid()) { casemap.fitBounds(view, { padding: [16, 16] }); } else { casemap.fitWorld(); }
    big.dataset.loaded = String(data.cases.features.length);
  });
}
