"""Photos at intake: deciding that an upload is an accepted image, and keeping its original safely on disk."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
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
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "heic"}
CHUNK = 1024 * 1024


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


@dataclass(frozen=True)
class StoredOriginal:
    """An original photo on disk, named by its content."""

    sha256: str
    relpath: str  # relative to the media folder
    size_bytes: int
    newly_written: bool  # False when the same bytes were already stored


class PhotoStore:
    """Originals under <media>/originals/ab/<sha256>.<ext>, written whole and fsync'd before anyone is told."""

    def __init__(self, media_dir: Path):
        self.media_dir = Path(media_dir)

    def path(self, relpath: str) -> Path:
        """The absolute path of a stored file."""
        return self.media_dir / relpath

    def put_original(self, stream: BinaryIO, fmt: str) -> StoredOriginal:
        """Copy the upload to a temporary file beside its final place, fsync it, then rename it into place."""
        tmp_dir = self.media_dir / "originals" / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        stream.seek(0)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            relpath = f"originals/{sha[:2]}/{sha}.{EXTENSIONS[fmt]}"
            final = self.path(relpath)
            if final.exists():
                os.unlink(tmp_name)
                return StoredOriginal(sha, relpath, size, newly_written=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
            _fsync_dir(final.parent)
            return StoredOriginal(sha, relpath, size, newly_written=True)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    def put_derived(self, sha256: str, variant: str, data: bytes) -> str:
        """Write a copy made from the original with this hash (web, thumb); the same input gives the same path."""
        relpath = f"derived/{sha256[:2]}/{sha256}_{variant}.jpg"
        final = self.path(relpath)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp_name, final)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise
        return relpath

    def discard(self, relpath: str) -> None:
        """Remove a file written for a report that was then not kept."""
        try:
            self.path(relpath).unlink()
        except FileNotFoundError:
            pass


def _fsync_dir(path: Path) -> None:
    """Make a rename in this folder durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stream_size(stream: BinaryIO) -> int:
    """The byte length of a seekable upload, leaving it rewound."""
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size

