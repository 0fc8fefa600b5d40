"""Security headers on every answer (Flask-Talisman): a CSP with no inline script or style, no framing, HSTS on https.

Scripts and styles come from our own origin only; the one inline script is the import map, allowed by its hash.
Images may also be data:/blob: URLs (the rider's photo previews) and the operator's map tiles (MAP_TILES_URL).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from flask_talisman import Talisman

from config import Settings
from service.web.assets import Manifest


def tiles_origin(tiles_url: str | None) -> str | None:
    """The origin a Leaflet tile URL template loads from, as a CSP source ({s} subdomains as a wildcard).

    None when there are no tiles, or they come from our own origin (a path such as /tiles/{z}/{x}/{y}.png).
    """
    if not tiles_url:
        return None
    parts = urlsplit(tiles_url.replace("{s}", "*"))
    if not parts.scheme and not parts.netloc and tiles_url.startswith("/"):
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or "{" in parts.netloc:
        raise ValueError("MAP_TILES_URL must be a URL such as https://tiles.example/{z}/{x}/{y}.png or a path on "
                         f"this site such as /tiles/{{z}}/{{x}}/{{y}}.png, got {tiles_url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings, assets: Manifest) -> dict[str, str]:
    """The CSP of every page: our origin only, plus the import map's hash and the tile server."""
    images = " ".join(filter(None, ("'self' data: blob:", tiles_origin(settings.map_tiles_url))))
    return {
        "default-src": "'self'",
        "script-src": f"'self' {assets.import_map_hash()}",
        "style-src": "'self'",
        "img-src": images,
        "connect-src": "'self'",
        "frame-ancestors": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "object-src": "'none'",
    }


def _private_cache(response):
    """Whatever the app itself lets a browser keep (photos) is for that person only, never for shared caches.

    Everything public-cacheable we have is a static file, and those WhiteNoise serves before the app sees them.
    """
    if response.cache_control.public:
        response.cache_control.public = False
        response.cache_control.private = True
    return response


def init_app(app: Flask, settings: Settings, assets: Manifest) -> None:
    """Talisman with our policy; https redirects and the session cookie's Secure flag are left to the settings."""
    # one Talisman per app: it keeps its policy on itself, and the tests make many apps in one process
    app.extensions["talisman"] = Talisman(
        app,
        content_security_policy=content_security_policy(settings, assets),
        frame_options="DENY",
        referrer_policy="same-origin",
        permissions_policy={},  # its default only opts out of an ad API: bytes on every answer for nothing
        # sent only when the request came over https (directly, or X-Forwarded-Proto from the proxy in front)
        strict_transport_security=True,
        strict_transport_security_include_subdomains=False,
        force_https=False,  # a closed network may well serve plain http; the proxy in front redirects if it wants
        session_cookie_secure=False,  # set from the public address with the other cookie settings, not here
        session_cookie_http_only=app.config["SESSION_COOKIE_HTTPONLY"],
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
    )
    app.after_request(_private_cache)
