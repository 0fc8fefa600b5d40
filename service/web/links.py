"""Where the service sends people: a checked `next` for every redirect a client names, and links sent out."""
from __future__ import annotations

from urllib.parse import unquote, urlsplit

from flask import redirect, request, url_for
from werkzeug.urls import iri_to_uri

from service.web.extensions import services

# what a browser does to a Location before following it (WHATWG URL): drop tabs and newlines anywhere, trim C0
# controls and spaces at both ends, and read a backslash as a slash
_DROPPED = dict.fromkeys(map(ord, "\t\n\r"))
_TRIMMED = "".join(map(chr, range(0x21)))


def _as_a_browser_reads(target: str) -> str:
    """The Location as a browser will follow it (see _DROPPED and _TRIMMED)."""
    return target.translate(_DROPPED).strip(_TRIMMED).replace("\\", "/")


def _a_path_here(target: str) -> bool:
    """One leading slash and no second one: a path on this site, never `//host` or a scheme."""
    parts = urlsplit(target)
    return target.startswith("/") and not target.startswith("//") and not parts.scheme and not parts.netloc


def safe_path(target, default: str) -> str:
    """The target if it is a path on this site (read as a browser reads it, and percent-decoded, which some
    proxies and servers do once more), else the default."""
    if not isinstance(target, str) or not target:
        return default
    seen = _as_a_browser_reads(target)
    decoded = seen
    for _ in range(3):  # %2F, %252F, ...: every decoding must still be a path here
        if not _a_path_here(decoded) or any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded):
            return default
        decoded, before = _as_a_browser_reads(unquote(decoded)), decoded
        if decoded == before:
            break
    else:
        return default
    return iri_to_uri(seen)


def safe_next(default: str) -> str:
    """The request's `next` (query string or form) if it is a path on this site, else the default."""
    return safe_path(request.values.get("next"), default)


def redirect_back(default: str, field: str = "next"):
    """303 to the form's `next` (or another field) if it is a path on this site, else to the default."""
    return redirect(safe_path(request.form.get(field), default), code=303)


def external_url(endpoint: str, **values) -> str:
    """An absolute link to hand out (an invitation, a report's URL): at PUBLIC_URL when it is set, else at the
    address the request came to."""
    public = services().settings.public_url
    if public:
        return public + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)
