"""Answering with a kept photo, from whichever store holds it: a folder's file sent as it is, an object read through."""
from __future__ import annotations

import io

from flask import Response, request, send_file

from service.photo_store import PhotoMissing
from service.refusals import Refused
from service.web.extensions import services


def send_photo(relpath: str, max_age: int) -> Response:
    """The JPEG kept under this name, cacheable for max_age seconds and revalidated by its name (names are given
    by content, so the name is the ETag); a photo missing from the store is 404, an unreachable store 503."""
    store = services().photos
    etag = relpath.rsplit("/", 1)[-1]
    try:
        local = store.local_path(relpath)
        if local is not None:
            if not local.is_file():
                raise PhotoMissing(relpath)
            return send_file(local, mimetype="image/jpeg", max_age=max_age, etag=etag)
        if request.if_none_match.contains(etag):  # the phone holds it already: not worth a read from the store
            response = Response(status=304)
            response.set_etag(etag)
            response.cache_control.max_age = max_age
            return response
        return send_file(io.BytesIO(store.read_bytes(relpath)), mimetype="image/jpeg", max_age=max_age, etag=etag)
    except PhotoMissing:
        raise Refused("not_found", "unknown_photo", "找不到该照片", "no such photo") from None
