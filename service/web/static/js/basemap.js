/* What every map of ours starts from (Leaflet's global L comes first): the tiles of the element's data-tiles, if any,
   and the system they are drawn in. Points are kept in WGS-84; on GCJ-02 tiles (高德, 腾讯) each point and polygon is
   drawn shifted, and a point picked on the map is shifted back before anyone keeps it. Also the grids' names. */

import { gcjToWgs, wgsToGcj } from "./coords.js";

/** The element's tiles (config/map_tiles.py's page_data, JSON), or null when there are none. A plain URL template
    (what a page wrote before the presets) is taken as WGS-84 tiles. */
export function tilesOf(el) {
  const raw = (el && el.dataset.tiles || "").trim();
  if (!raw) { return null; }
  if (raw.charAt(0) !== "{") { return { urls: [raw], subdomains: "abc", crs: "wgs84", maxZoom: 19, attribution: "", tms: false }; }
  return JSON.parse(raw);
}

/** Put the tiles under the map (each layer, bottom first), with their attribution; nothing when there are none. */
export function addTiles(map, tiles) {
  if (!tiles) { return; }
  tiles.urls.forEach((url, i) => {
    L.tileLayer(url, {
      subdomains: tiles.subdomains || "abc", maxZoom: tiles.maxZoom, tms: !!tiles.tms,
      attribution: i === 0 ? tiles.attribution || "" : "",
      // the tile servers see our origin (天地图's browser keys and OSM's policy ask for it), never a page's path
      referrerPolicy: "strict-origin-when-cross-origin"
    }).addTo(map);
  });
  if (tiles.attribution) { L.control.attribution({ prefix: false }).addTo(map); }
}

const SAME = {
  toMap: (lat, lon) => L.latLng(lat, lon),
  fromMap: (latlng) => ({ lat: latlng.lat, lon: latlng.lng }),
  coordsToLatLng: (c) => L.latLng(c[1], c[0])
};
const SHIFTED = {
  toMap: (lat, lon) => L.latLng(wgsToGcj(lat, lon)),
  fromMap: (latlng) => { const w = gcjToWgs(latlng.lat, latlng.lng); return { lat: w[0], lon: w[1] }; },
  coordsToLatLng: (c) => L.latLng(wgsToGcj(c[1], c[0]))
};

/** How WGS-84 points are drawn on these tiles: toMap(lat, lon) -> a Leaflet LatLng on the map; fromMap(latlng) ->
    {lat, lon} in WGS-84; coordsToLatLng for L.geoJSON (GeoJSON's [lon, lat], WGS-84). */
export function drawnOn(tiles) { return tiles && tiles.crs === "gcj02" ? SHIFTED : SAME; }

/** "虹桥第06网格·虹桥南路片" on two lines, as text (a name is never read as HTML). */
export function gridLabel(name) {
  const label = document.createElement("span");
  name.split("·").forEach(function (part, i) {
    if (i) { label.append(document.createElement("br")); }
    label.append(part);
  });
  return label;
}
