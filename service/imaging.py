"""Photo processing as plain functions: bounded decode, orientation, EXIF-free web copy and thumbnail, GPS, hash."""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from PIL import ExifTags, Image

from service.decoding import decode_for_web
from service.photos import ACCEPTED_FORMATS  # also registers the HEIC opener
from service.runtime.metrics import timed_step

WEB_LONG_SIDE = 1600
THUMB_LONG_SIDE = 320
WEB_QUALITY = 82
THUMB_QUALITY = 75

# EXIF orientation -> the transpose that shows the picture upright (after the EXIF 2.3 table)
ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class UnreadablePhoto(Exception):
    """A photo that cannot be decoded: retrying will not help."""


@dataclass(frozen=True)
class ProcessedPhoto:
    """What the pipeline keeps of one photo: the two JPEG copies and what the EXIF told."""

    web: bytes
    thumb: bytes
    web_size: tuple[int, int]
    dhash: int  # 64-bit difference hash of the upright picture, unsigned
    taken_at: datetime | None  # UTC
    gps: tuple[float, float] | None  # (lat, lon) WGS-84
    camera: str | None = None  # EXIF Make and Model; None when the file names no camera (a screenshot's)


def _rational(value) -> float:
    return float(value[0]) / float(value[1]) if isinstance(value, tuple) else float(value)


def exif_gps(exif: Image.Exif) -> tuple[float, float] | None:
    """(lat, lon) from the EXIF GPS block, or None when it is missing, partial or nonsense."""
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        lat_dms, lon_dms = gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLongitude)
        if not lat_dms or not lon_dms:
            return None
        lat = sum(_rational(v) / 60 ** i for i, v in enumerate(lat_dms))
        lon = sum(_rational(v) / 60 ** i for i, v in enumerate(lon_dms))
        if str(gps.get(ExifTags.GPS.GPSLatitudeRef, "N")).strip("\x00 ").upper() == "S":
            lat = -lat
        if str(gps.get(ExifTags.GPS.GPSLongitudeRef, "E")).strip("\x00 ").upper() == "W":
            lon = -lon
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError, SyntaxError, OSError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if lat == 0 and lon == 0:  # phones write zeros when they had no fix
        return None
    return lat, lon


def exif_taken_at(exif: Image.Exif, tz: str) -> datetime | None:
    """When the photo was taken, in UTC; EXIF local time without an offset is read in the community's zone."""
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        raw = sub.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime)
        if not raw:
            return None
        local = datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
        offset = str(sub.get(ExifTags.Base.OffsetTimeOriginal) or "").strip("\x00 ")
        if len(offset) == 6 and offset[0] in "+-":
            sign = 1 if offset[0] == "+" else -1
            delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
            return local.replace(tzinfo=timezone(sign * delta)).astimezone(UTC)
        return local.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)
    except (KeyError, TypeError, ValueError, SyntaxError, OSError, OverflowError):  # overflow: years 1 and 9999
        return None


def exif_camera(exif: Image.Exif) -> str | None:
    """The camera's make and model as the EXIF names them (Apple iPhone 13), at most 64 characters, or None."""
    parts = [str(exif.get(tag) or "").strip("\x00 ") for tag in (ExifTags.Base.Make, ExifTags.Base.Model)]
    named = " ".join(p for p in parts if p)
    return named[:64] or None


def _orientation(exif: Image.Exif) -> int:
    try:
        value = int(exif.get(ExifTags.Base.Orientation, 1))
    except (TypeError, ValueError):
        return 1
    return value if value in ORIENTATION_FIX else 1


def dhash(image: Image.Image) -> int:
    """A 64-bit difference hash: is each of 8x8 cells brighter than its right neighbour (Krawetz's dHash)."""
    luma = image.getchannel(0) if image.mode == "YCbCr" else image.convert("L")
    small = luma.resize((9, 8), Image.Resampling.BOX)
    px = small.tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (px[row * 9 + col] > px[row * 9 + col + 1])
    return bits


def hash_distance(a: int, b: int) -> int:
    """How many of the 64 bits differ."""
    return (a ^ b).bit_count()


def _shrink_to(image: Image.Image, long_side: int) -> Image.Image:
    """A copy no larger than long_side: whole-factor box reduction (fast) where it lands within the bound."""
    factor = math.ceil(max(image.size) / long_side)
    if factor > 1 and max(image.size) % long_side == 0:
        return image.reduce(factor)
    small = image.copy()
    small.thumbnail((long_side, long_side), Image.Resampling.BOX, reducing_gap=2.0)
    return small


def _jpeg(image: Image.Image, quality: int, icc: bytes | None) -> bytes:
    """Encode as JPEG with the colour profile and nothing else: no EXIF, no XMP, no comment, no GPS.

    Pillow copies a decoded JPEG's comment into what it saves unless told otherwise; the empty one stops it.
    """
    buf = io.BytesIO()
    params = {"quality": quality, "comment": b""}
    if icc:
        params["icc_profile"] = icc
    image.save(buf, "JPEG", **params)
    return buf.getvalue()


def process_photo(source: Path | BinaryIO, max_pixels: int, tz: str, decode_budget: int) -> ProcessedPhoto:
    """Decode a stored original (a file, or the photo store's copy of it) into an upright web copy (long side
    <= 1600 px) and thumbnail (<= 320 px).

    Decoding is bounded (decoding.py): a JPEG is decoded at a reduced DCT scale, anything else reduced band by
    band, and a picture whose decoding would take more than decode_budget bytes is refused before it starts.
    The picture is turned upright after it has been made small, which costs far less than turning 12 megapixels.
    """
    if isinstance(source, Path):
        with open(source, "rb") as opened:
            return process_photo(opened, max_pixels, tz, decode_budget)
    with timed_step("decode"):
        web, exif, icc = _decode(source, max_pixels, decode_budget)
    with timed_step("copies"):
        web.thumbnail((WEB_LONG_SIDE, WEB_LONG_SIDE), Image.Resampling.BOX, reducing_gap=2.0)
        fix = ORIENTATION_FIX.get(_orientation(exif))
        if fix is not None:
            web = web.transpose(fix)
        thumb = _shrink_to(web, THUMB_LONG_SIDE)
        web_jpeg, thumb_jpeg = _jpeg(web, WEB_QUALITY, icc), _jpeg(thumb, THUMB_QUALITY, icc)
    return ProcessedPhoto(web=web_jpeg, thumb=thumb_jpeg, web_size=web.size, dhash=dhash(thumb),
                          taken_at=exif_taken_at(exif, tz), gps=exif_gps(exif), camera=exif_camera(exif))


def _decode(source: BinaryIO, max_pixels: int, decode_budget: int) -> tuple[Image.Image, Image.Exif, bytes | None]:
    """The picture decoded for the web copy, its EXIF and its colour profile; the full-size decoded picture (and
    what its decoder held) is let go when this returns, before the copies are made from the small one."""
    try:
        with Image.open(source, formats=ACCEPTED_FORMATS) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise UnreadablePhoto(f"too many pixels ({width}x{height})")
            web = decode_for_web(img, source, WEB_LONG_SIDE, decode_budget)
            exif = img.getexif()  # after the budget is checked: Pillow decodes a PNG to look for EXIF after its pixels
            return web, exif, img.info.get("icc_profile")
    except (UnreadablePhoto, FileNotFoundError, PermissionError):
        raise  # a missing or unreadable file is the machine's trouble, not the photo's: let the job retry
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise UnreadablePhoto(str(exc) or type(exc).__name__) from exc
