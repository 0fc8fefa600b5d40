"""Security headers on every answer (Flask-Talisman): a CSP with no inline script or style, no framing, HSTS on https.

Scripts and styles come from our own origin only; the one inline script is the import map, allowed by its hash.
Images may also be data:/blob: URLs (the rider's photo previews) and the map tiles' servers (config/map_tiles.py).
"""
from __future__ import annotations

from flask import Flask
from flask_talisman import Talisman

from config import Settings
from service.web.assets import Manifest


def content_security_policy(settings: Settings, assets: Manifest) -> dict[str, str]:
    """The CSP of every page: our origin only, plus the import map's hash and the tile servers."""
    images = " ".join(["'self' data: blob:", *(settings.tiles.origins() if settings.tiles else [])])
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


# what an API answer needs (OWASP's REST cheat sheet): no document of ours is ever a JSON answer, so nothing may load
# from it and no one may frame it; the pages' longer policy would be bytes on every call for nothing
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def _api_policy(response):
    """A JSON answer carries the API's policy instead of the pages' (Talisman sets that one just before)."""
    if response.mimetype == "application/json":
        response.headers["Content-Security-Policy"] = API_POLICY
    return response


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
    # Flask runs after-request functions last registered first: this one, registered before Talisman, runs after it
    app.after_request(_api_policy)
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
