"""Photos at intake: deciding that an upload is an accepted image (service/photo_store.py keeps it)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, PngImagePlugin, UnidentifiedImageError
from pillow_heif import register_heif_opener

from service.image_headers import BrokenImage, NotAnImage, reaches_end_of_image, read_header
from service.refusals import Refused

register_heif_opener()
# Pillow keeps a PNG's text chunks (tEXt, zTXt, iTXt) in memory as it reads the header, up to 64 MB by default
# from a few KB of compressed text; 4 MB is more than any camera or editor writes (beyond it the PNG is refused).
PngImagePlugin.MAX_TEXT_MEMORY = 4 * 1024 * 1024

# Pillow's names for the formats a phone may send; everything else is refused, whatever its file name says.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")


class PhotoRefused(Refused):
    """An upload that is not an image we take; `code` names why, for the client."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__("unsupported", code, zh, en, "photo")


@dataclass(frozen=True)
class PhotoHeader:
    """What intake learns of an accepted image before storing it."""

    format: str
    width: int
    height: int


_OBJECT = re.compile(r"<[^<>]* object at 0x[0-9a-fA-F]+>")  # Pillow names the stream it read: not for the client


def inspect_photo(stream: BinaryIO, max_pixels: int) -> PhotoHeader:
    """Decide from the bytes (never the name or Content-Type) that this is a whole JPEG, PNG, WEBP or HEIC.

    Nothing is decoded: an upload costs the web process a few reads, whatever its pixels. The format is told by
    its first bytes and its framing walked to the end (image_headers), so a truncated upload is refused now
    rather than failing in the pipeline; then Pillow must read the same format and size from the header. The
    pixel count must stay under max_pixels, checked on the header's size before Pillow sees a PNG, WEBP or HEIF.
    """
    try:
        facts = read_header(stream)
        if facts.size is not None:
            _check_pixels(*facts.size, max_pixels)
        with Image.open(stream, formats=[facts.format]) as img:
            width, height = img.size
            _check_pixels(width, height, max_pixels)
            if facts.format == "JPEG":  # Pillow stops at the first scan; a phone's MPO is a JPEG with extras
                if not reaches_end_of_image(stream, scan_start=img.fp.tell()):
                    raise BrokenImage("no end of image")
            elif facts.format != "HEIF" and img.size != facts.size:
                raise BrokenImage(f"the header says {facts.size}, the image {img.size}")
    except PhotoRefused:
        raise
    except NotAnImage:
        raise PhotoRefused("not_an_image", "文件不是可接受的图片（JPEG、PNG、WEBP、HEIC）",
                           "not an accepted image (JPEG, PNG, WEBP, HEIC)") from None
    except Image.DecompressionBombError:
        raise PhotoRefused("image_too_large", "图片像素过多", "image has too many pixels") from None
    except (BrokenImage, UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise PhotoRefused("broken_image", "图片文件已损坏或不完整",
                           f"image is damaged or truncated ({_OBJECT.sub('the upload', str(exc))})") from None
    finally:
        stream.seek(0)
    return PhotoHeader(format=facts.format, width=width, height=height)


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    """Refuse a picture with more pixels than max_pixels (a decompression bomb among them) or with none."""
    if width * height > max_pixels or width <= 0 or height <= 0:
        raise PhotoRefused("image_too_large", f"图片像素过多（{width}×{height}）",
                           f"image has too many pixels ({width}x{height})")


def stream_size(stream: BinaryIO) -> int:
    """The byte length of a seekable upload, leaving it rewound."""
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size

