"""The map tiles: the presets (天地图, OpenStreetMap, 高德, 腾讯) and the operator's own, with their coordinate system.

MAP_TILES picks a preset; MAP_TILES_URL, with a preset, replaces its template (a mirror, a caching proxy, a test's
loopback server) and keeps everything else — the coordinate system above all; alone it is a custom WGS-84 server.
No MAP_TILES and no MAP_TILES_URL: no tiles at all (a closed network), the grids alone draw the map.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

CRS = ("wgs84", "gcj02")  # what the tiles' streets are drawn in: GCJ-02 shifts every point and polygon we draw


@dataclass(frozen=True)
class Preset:
    """One tile service: its Leaflet URL template ({layer} once per layer, {key} the operator's key)."""

    template: str
    crs: str
    max_zoom: int
    attribution: str
    subdomains: str = ""
    layers: tuple[str, ...] = ("",)
    tms: bool = False  # the y axis counts from the south (TMS), as Tencent's does
    needs_key: bool = False


PRESETS = {
    # 天地图 (the national platform): vector base and its annotation (names) on top; CGCS2000, within centimetres of
    # WGS-84 at a map's scale. Web Mercator tiles ("_w"), a browser key (tk) from console.tianditu.gov.cn.
    "tianditu": Preset(
        "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
        "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}",
        crs="wgs84", max_zoom=18, attribution="© 天地图", subdomains="01234567", layers=("vec", "cva"),
        needs_key=True),
    # OpenStreetMap's own servers (no subdomains since 2023) or any OSM-style server through MAP_TILES_URL
    "osm": Preset("https://tile.openstreetmap.org/{z}/{x}/{y}.png", crs="wgs84", max_zoom=19,
                  attribution="© OpenStreetMap contributors"),
    # 高德 (Amap) road map, style=8: GCJ-02
    "amap": Preset("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
                   crs="gcj02", max_zoom=18, attribution="© 高德地图", subdomains="1234"),
    # 腾讯 (Tencent) vector map: GCJ-02, and its rows counted from the south (TMS)
    "tencent": Preset("https://rt{s}.map.gtimg.com/realtimerender?z={z}&x={x}&y={y}&type=vector&style=0",
                      crs="gcj02", max_zoom=18, attribution="© 腾讯地图", subdomains="0123", tms=True),
}
CUSTOM = "custom"


@dataclass(frozen=True)
class MapTiles:
    """The tiles every map of ours draws under its grids and cases, as resolved at start-up."""

    preset: str
    urls: tuple[str, ...]  # one Leaflet template per layer, bottom first, {layer} and {key} filled in
    crs: str
    max_zoom: int
    attribution: str
    subdomains: str
    tms: bool

    def origins(self) -> list[str]:
        """The CSP sources the tiles load from ({s} subdomains as a wildcard); none for a path on our own site."""
        return sorted({origin for url in self.urls for origin in _origins(url, self.subdomains)})

    def page_data(self) -> str:
        """The tiles as the pages' data-tiles attribute holds them (static/js/basemap.js reads it): JSON."""
        return json.dumps({"preset": self.preset, "urls": list(self.urls), "subdomains": self.subdomains,
                           "crs": self.crs, "maxZoom": self.max_zoom, "attribution": self.attribution,
                           "tms": self.tms}, ensure_ascii=False, separators=(",", ":"))


def map_tiles(preset: str | None, url: str | None, crs: str | None, key: str | None) -> MapTiles | None:
    """MAP_TILES, MAP_TILES_URL, MAP_TILES_CRS and MAP_TILES_KEY resolved, or a ValueError naming what is wrong."""
    preset = (preset or "").strip().lower() or (CUSTOM if url else None)
    crs = (crs or "").strip().lower() or None
    if preset is None:
        return None
    if preset == CUSTOM:
        if not url:
            raise ValueError("MAP_TILES=custom needs MAP_TILES_URL, a tile URL template such as "
                             "https://tiles.example.cn/{z}/{x}/{y}.png")
        chosen = Preset(url, crs=crs or "wgs84", max_zoom=19, attribution="", subdomains="abc")
    elif preset in PRESETS:
        chosen = PRESETS[preset]
        if crs and crs != chosen.crs:
            raise ValueError(f"MAP_TILES_CRS={crs} contradicts MAP_TILES={preset}, whose tiles are {chosen.crs}: "
                             "leave MAP_TILES_CRS unset (it is for MAP_TILES=custom)")
    else:
        raise ValueError(f"MAP_TILES must be one of {', '.join([*PRESETS, CUSTOM])}, got {preset!r}")
    if chosen.crs not in CRS:
        raise ValueError(f"MAP_TILES_CRS must be wgs84 or gcj02, got {chosen.crs!r}")
    template = url or chosen.template
    if "{key}" in template and not key:
        raise ValueError(f"MAP_TILES={preset} needs MAP_TILES_KEY (for 天地图 a browser key, 浏览器端, "
                         "from console.tianditu.gov.cn)" if chosen.needs_key else
                         "MAP_TILES_URL names {key}: set MAP_TILES_KEY")
    urls = tuple(template.replace("{layer}", layer).replace("{key}", key or "") for layer in chosen.layers)
    tiles = MapTiles(preset, urls, chosen.crs, chosen.max_zoom, chosen.attribution, chosen.subdomains, chosen.tms)
    tiles.origins()  # a template that is no URL is refused now, not on the first page
    return tiles


def _origins(template: str, subdomains: str) -> list[str]:
    """The origins one template loads from: a leftmost {s} label as *.rest, {s} anywhere else once per subdomain."""
    if template.startswith("/") and not template.startswith("//"):
        return []  # a path on our own site: 'self' has it
    parts = urlsplit(template)
    host = parts.netloc
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("MAP_TILES_URL must be a URL such as https://tiles.example/{z}/{x}/{y}.png or a path on "
                         f"this site such as /tiles/{{z}}/{{x}}/{{y}}.png, got {template!r}")
    first, _, rest = host.partition(".")
    if "{s}" in first and rest and "{" not in rest:
        hosts = ["*." + rest]
    elif "{s}" in host:
        hosts = [host.replace("{s}", s) for s in subdomains or "abc"]
    else:
        hosts = [host]
    if any("{" in h or "}" in h for h in hosts):
        raise ValueError(f"MAP_TILES_URL may name only {{s}} in its host, got {template!r}")
    return [f"{parts.scheme}://{h}" for h in hosts]
