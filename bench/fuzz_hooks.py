"""Schemathesis hooks for the API fuzz run (SCHEMATHESIS_HOOKS=bench.fuzz_hooks): schema-valid photos are real images.

The document declares each photo part as image/jpeg, image/png, image/webp or image/heic; a schema-valid upload
then carries a small real picture of that format, so positive cases get past the content check to the case itself.
Schema-violating cases still send arbitrary bytes, which must be answered 415.
"""
from __future__ import annotations

import io

import pillow_heif
import schemathesis
from hypothesis import strategies as st
from PIL import Image

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/heic": "HEIF"}
pillow_heif.register_heif_opener()


def small_pictures(pil_format: str, count: int = 4) -> list[bytes]:
    """`count` different small pictures in one format."""
    pictures = []
    for n in range(count):
        buf = io.BytesIO()
        Image.new("RGB", (48 + 8 * n, 32 + 4 * n), (40 * n % 256, 90, 200 - 30 * n)).save(buf, pil_format)
        pictures.append(buf.getvalue())
    return pictures


# A list: Schemathesis puts what the strategy draws in place of the whole `photo` array, and sends a list's items as
# file parts (with a file name); a single value would go as a text field.
for media_type, pil_format in FORMATS.items():
    schemathesis.openapi.media_type(media_type, st.lists(st.sampled_from(small_pictures(pil_format)), min_size=1,
                                                         max_size=2))
