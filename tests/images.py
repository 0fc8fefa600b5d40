"""Real image files for the tests: phone-like JPEGs, other formats, and the broken files riders' phones send."""
from __future__ import annotations

import io
import os

from PIL import Image


def photo_jpeg(width: int = 1600, height: int = 1200, quality: int = 85, seed: int = 1) -> bytes:
    """A JPEG with photo-like content (smooth colour fields), a few hundred KB at this size."""
    rnd = __import__("random").Random(seed)
    small = Image.frombytes("RGB", (40, 30), bytes(rnd.randrange(256) for _ in range(40 * 30 * 3)))
    img = small.resize((width, height), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def noisy_jpeg(width: int, height: int, quality: int = 95) -> bytes:
    """A JPEG of random noise: the largest file a given pixel count gives, for size limits."""
    img = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, subsampling=0)
    return buf.getvalue()


def encode(fmt: str, width: int = 640, height: int = 480, **params) -> bytes:
    """A small image in the given Pillow format (PNG, WEBP, HEIF, GIF...)."""
    img = Image.new("RGB", (width, height), (30, 120, 200))
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def truncated_jpeg() -> bytes:
    """The first 60% of a real JPEG, as an upload cut off by a dropped connection leaves it."""
    data = photo_jpeg(1200, 900, seed=3)
    return data[: int(len(data) * 0.6)]


def decompression_bomb() -> bytes:
    """A small PNG (tens of KB) that would decode to 400 million pixels."""
    img = Image.new("1", (20000, 20000), 0)
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()
