"""Placing an address (an Open311 request's address_string) through a geocoding service the operator names: off
by default, since the district's network may reach none; a Chinese service's answer (GCJ-02, BD-09) in WGS-84."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from geopy.exc import GeopyError
from geopy.geocoders import Nominatim

from service.geo import to_wgs84

log = logging.getLogger(__name__)
TIMEOUT_S = 5


@dataclass(frozen=True)
class Geocoder:
    """A Nominatim-compatible geocoding service (OpenStreetMap's, or one of the district's own): its base URL,
    the coordinate system its answers are in, and the country and box its searches are held to."""

    url: str
    coord_system: str = "wgs84"
    country: str = "cn"
    viewbox: tuple[tuple[float, float], tuple[float, float]] | None = None  # ((south, west), (north, east))

    def place(self, address: str) -> tuple[float, float] | None:
        """The address's point in WGS-84, or None when the service finds nothing or cannot be reached."""
        parts = urlsplit(self.url)
        service = Nominatim(domain=parts.netloc + parts.path.rstrip("/"), scheme=parts.scheme or "https",
                            user_agent="snap-and-report (Open311 address_string)", timeout=TIMEOUT_S)
        try:
            found = service.geocode(address, exactly_one=True, country_codes=self.country or None,
                                    viewbox=self.viewbox, bounded=self.viewbox is not None)
        except GeopyError as error:
            log.warning("geocoding %r at %s failed: %s", address, parts.netloc, error)
            return None
        if found is None:
            return None
        return to_wgs84(found.latitude, found.longitude, self.coord_system)
