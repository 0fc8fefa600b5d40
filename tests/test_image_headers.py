"""Intake decides from the header alone: format and size without decoding a pixel, files cut short refused by
their framing (PNG chunks, WEBP's RIFF size, HEIF boxes), and the worker's decoding held to its budget."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
import sqlalchemy as sa
from images import flat_png, flat_webp, heic_declaring, jpeg_bytes, mpo_jpeg, photo_jpeg, png_declaring, png_with_text
from PIL import Image
from support import assert_refused, originals_on_disk

from config import Settings
from service.decoding import MIB, plan_decode
from service.image_headers import BrokenImage, NotAnImage, read_header
from service.models import Case, Photo


def _cut(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


def _photo_of_size(fmt: str, width: int, height: int) -> bytes:
    """A photo-like picture (not one flat colour) in the format, so its data runs the length of the file."""
    img = Image.open(io.BytesIO(photo_jpeg(width, height, seed=8)))
    buf = io.BytesIO()
    img.save(buf, fmt, quality=60)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_the_header_tells_format_and_size(fmt):
    facts = read_header(io.BytesIO(_photo_of_size(fmt, 640, 480)))
    assert facts.format == fmt
    assert facts.size == (None if fmt == "JPEG" else (640, 480))  # Pillow reads a JPEG's markers itself


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_a_file_cut_short_is_refused_at_intake(rider, db, settings, fmt, keep):
    cut = _cut(_photo_of_size(fmt, 800, 600), keep)
    with pytest.raises(BrokenImage):
        read_header(io.BytesIO(cut))
    assert_refused(rider.report(photos=[(cut, f"cut.{fmt.lower()}")]), 415, "broken_image", "photo")
    assert originals_on_disk(settings) == []


def test_a_png_chunk_with_a_wrong_crc_is_refused(rider):
    png = bytearray(_photo_of_size("PNG", 400, 300))
    png[100] ^= 0xFF  # inside the image data
    assert_refused(rider.report(photos=[(bytes(png), "flipped.png")]), 415, "broken_image", "photo")


def test_a_png_of_nothing_but_tiny_chunks_is_refused_without_walking_them_all():
    text = struct.pack(">I", 0) + b"tEXt" + struct.pack(">I", zlib.crc32(b"tEXt"))
    png = flat_png(4, 4)
    with pytest.raises(BrokenImage, match="chunks"):
        read_header(io.BytesIO(png[:33] + text * 70_000 + png[33:]))


def test_a_webp_of_nothing_but_tiny_chunks_is_refused_without_walking_them_all():
    webp = flat_webp(4, 4)
    padding = (b"XXXX" + struct.pack("<I", 0)) * 70_000
    body = b"WEBP" + padding + webp[12:]
    with pytest.raises(BrokenImage, match="chunks"):
        read_header(io.BytesIO(b"RIFF" + struct.pack("<I", len(body)) + body))


def test_a_heic_of_nothing_but_tiny_boxes_is_refused_without_walking_them_all():
    heic = heic_declaring(64, 64)
    with pytest.raises(BrokenImage, match="boxes"):
        read_header(io.BytesIO(heic + struct.pack(">I4s", 8, b"free") * 70_000))


def test_a_png_whose_text_chunks_inflate_to_megabytes_is_refused(rider):
    # each chunk is 5 KB on disk; Pillow would keep up to 64 MB of such text in memory while reading the header
    assert_refused(rider.report(photos=[(png_with_text(8, 1_000_000), "notes.png")]), 415, "broken_image", "photo")
    assert rider.report(photos=[(png_with_text(2, 1_000_000), "notes.png")]).status_code == 201


@pytest.mark.parametrize("photo, name", [
    (heic_declaring(20000, 20000), "big.heic"),
    (flat_webp(16384, 16384), "big.webp"),
    (png_declaring(20000, 20000), "big.png"),
], ids=["heic", "webp", "png"])
def test_a_header_declaring_too_many_pixels_is_refused_before_pillow_reads_it(rider, photo, name):
    assert_refused(rider.report(photos=[(photo, name)]), 415, "image_too_large", "photo")


@pytest.mark.parametrize("head", [
    b"\x00\x00\x00\x14ftypavif\x00\x00\x00\x00mif1", b"GIF89a", b"RIFF\x00\x00\x00\x00AVI ",
], ids=["avif", "gif", "avi"])
def test_other_formats_are_not_images_we_take(head):
    with pytest.raises(NotAnImage):
        read_header(io.BytesIO(head + bytes(64)))


def test_a_phones_mpo_jpeg_is_taken_and_processed(rider, db, workers):
    # Pillow opens a JPEG with a second picture after it (MPF) as "MPO"; intake used to answer 500 for it
    response = rider.report(photos=[(mpo_jpeg(), "IMG_20260301.jpg")])
    assert response.status_code == 201, response.get_data(as_text=True)
    workers()
    photo = db.scalar(sa.select(Photo))
    assert photo.format == "JPEG" and photo.original_path.endswith(".jpg")
    assert photo.web_path and db.scalar(sa.select(Case.processing_error)) is None


# --- the worker's budget -------------------------------------------------------------------------------------------

def _planned_mib(data: bytes) -> float:
    with Image.open(io.BytesIO(data)) as img:
        return plan_decode(img, 1600) / MIB


def test_phone_photos_of_12_and_48_megapixels_fit_the_default_budget():
    # HEIC as phones write it (8-bit 4:2:0); the file's header is all the reckoning reads
    for width, height in ((4032, 3024), (8064, 6048)):
        assert _planned_mib(heic_declaring(width, height)) <= Settings.max_decode_mb
    assert _planned_mib(jpeg_bytes(Image.new("RGB", (8064, 6048)), quality=50)) < 64  # decoded at 1/4 scale


def test_a_progressive_jpeg_is_reckoned_with_its_full_size_coefficients():
    picture = Image.new("RGB", (4032, 3024))
    baseline = _planned_mib(jpeg_bytes(picture, quality=50))
    progressive = _planned_mib(jpeg_bytes(picture, quality=50, progressive=True))
    assert progressive - baseline >= 4032 * 3024 * 2 * 1.5 / MIB  # 4:2:0: 1.5 coefficients a pixel, 2 bytes each


@pytest.mark.parametrize("photo", [flat_png(9999, 9999), flat_webp(9999, 9999), heic_declaring(9000, 9000)],
                         ids=["png-rgba", "webp", "heic"])
def test_pictures_that_would_decode_past_the_budget_are_reckoned_over_it(photo):
    assert _planned_mib(photo) > Settings.max_decode_mb
