"""Placing an address (an Open311 request's address_string) through a geocoding service the operator names (a
Nominatim-compatible one, or Baidu's geocoding API v3): off by default, since the district's network may reach
none; a Chinese service's answer (GCJ-02, BD-09) in WGS-84."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from geopy.exc import GeopyError
from geopy.geocoders import BaiduV3, Nominatim

from service.geo import to_wgs84

log = logging.getLogger(__name__)
TIMEOUT_S = 5


USER_AGENT = "snap-and-report (Open311 address_string)"


class _Baidu(BaiduV3):
    """Baidu's geocoding API v3 at the address given (https://api.map.baidu.com, or a proxy of the district's):
    geopy 2.5's BaiduV3 builds its URL from `self.api` and always names Baidu's own host there."""

    def __init__(self, url: str, api_key: str):
        parts = urlsplit(url)
        super().__init__(api_key=api_key, scheme=parts.scheme or "https", timeout=TIMEOUT_S, user_agent=USER_AGENT)
        self.api = f"{parts.scheme or 'https'}://{parts.netloc}{parts.path.rstrip('/')}{self.api_path}"


@dataclass(frozen=True)
class Geocoder:
    """A geocoding service: a Nominatim-compatible one (OpenStreetMap's, or the district's own) or Baidu's, its
    base URL and key, the coordinate system its answers are in, and the country and box searches are held to."""

    url: str
    coord_system: str = "wgs84"
    country: str = "cn"
    viewbox: tuple[tuple[float, float], tuple[float, float]] | None = None  # ((south, west), (north, east))
    provider: str = "nominatim"
    key: str = ""

    def _find(self, address: str):
        if self.provider == "baidu":  # BD-09 answers (ret_coordtype's default); no box to hold it to
            return _Baidu(self.url, self.key).geocode(address, exactly_one=True)
        parts = urlsplit(self.url)
        service = Nominatim(domain=parts.netloc + parts.path.rstrip("/"), scheme=parts.scheme or "https",
                            user_agent=USER_AGENT, timeout=TIMEOUT_S)
        return service.geocode(address, exactly_one=True, country_codes=self.country or None,
                               viewbox=self.viewbox, bounded=self.viewbox is not None)

    def place(self, address: str) -> tuple[float, float] | None:
        """The address's point in WGS-84, or None when the service finds nothing or cannot be reached."""
        parts = urlsplit(self.url)
        try:
            found = self._find(address)
        except GeopyError as error:
            log.warning("geocoding %r at %s failed: %s", address, parts.netloc, error)
            return None
        if found is None:
            return None
        return to_wgs84(found.latitude, found.longitude, self.coord_system)
