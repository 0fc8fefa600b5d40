/* Maps for the desk (an ES module; Leaflet's global L comes first): the grids always (a closed network has no tiles), tiles when configured.
   Colours are the style sheets' (css/states.css, css/site.css): the shapes carry classes, never inline styles (CSP). */

function baseMap(el) {
  const map = L.map(el, { attributionControl: false });
  if (el.dataset.tiles) { L.tileLayer(el.dataset.tiles, { maxZoom: 19 }).addTo(map); }
  return map;
}

function gridStyle() { return { className: "grid-outline" }; }

/** "虹桥第06网格·虹桥南路片" on two lines, as text (a name is never read as HTML). */
function gridLabel(name) {
  const label = document.createElement("span");
  name.split("·").forEach(function (part, i) {
    if (i) { label.append(document.createElement("br")); }
    label.append(part);
  });
  return label;
}

/** A small map of one case in this element (data-lat, data-lon, data-grid: GeoJSON or null, data-tiles). */
export function showMinimap(mini) {
  const map = baseMap(mini);
  const point = [parseFloat(mini.dataset.lat), parseFloat(mini.dataset.lon)];
  const grid = JSON.parse(mini.dataset.grid);
  map.setView(point, 16);  // first: Leaflet cannot clip a polygon on a map that has no view yet
  if (grid) { L.geoJSON(grid, { style: gridStyle }).addTo(map); }
  L.circleMarker(point, { radius: 9, className: "case-point" }).addTo(map);
  return map;
}

const mini = document.getElementById("minimap");
if (mini) { showMinimap(mini); }

const big = document.getElementById("casemap");
if (big) {
  const casemap = baseMap(big);
  // the grids' names under the cases' marks (Leaflet puts tooltips above everything), never catching a click
  casemap.createPane("grid-labels").classList.add("grid-labels");
  fetch(big.dataset.source, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
    const grids = L.geoJSON(data.grids, {
      style: gridStyle,
      onEachFeature: function (f, layer) {
        layer.bindTooltip(gridLabel(f.properties.name), { permanent: true, direction: "center", className: "grid-label",
                                                          pane: "grid-labels", interactive: false });
      }
    }).addTo(casemap);
    L.geoJSON(data.cases, {
      pointToLayer: function (f, latlng) {
        const p = f.properties;
        return L.circleMarker(latlng, { radius: 8, className: "case-mark state-" + p.state + (p.overdue ? " late" : "") });
      },
      onEachFeature: function (f, layer) {
        const a = document.createElement("a");
        a.href = f.properties.url;
        a.textContent = f.properties.case_no + " " + f.properties.category + " · " + f.properties.label + (f.properties.overdue ? " · 超期" : "");
        layer.bindPopup(a);
      }
    }).addTo(casemap);
    casemap.fitBounds(grids.getBounds(), { padding: [10, 10] });
    big.dataset.loaded = String(data.cases.features.length);
  });
}
