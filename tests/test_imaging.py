"""Photo processing on real image files: upright web copies and thumbnails, EXIF stripped, GPS and time read, hash."""
from __future__ import annotations

import io
import os
import random
import struct
from datetime import UTC, datetime, timedelta

import pytest
from images import (
    ASCII,
    BACKGROUND,
    RATIONAL,
    SHORT,
    TOP_LEFT,
    TOP_RIGHT,
    as_camera_stores,
    corner_picture,
    decompression_bomb,
    exif_block,
    field,
    jpeg_bytes,
    photo_jpeg,
)
from PIL import ExifTags, Image, ImageCms

from config import Settings
from service.imaging import UnreadablePhoto, dhash, exif_gps, exif_taken_at, hash_distance, process_photo

TZ = "Asia/Shanghai"
MAX_PIXELS = 50_000_000
DECODE_BUDGET = Settings.max_decode_mb * 1024 * 1024
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

# EXIF tags by number, as a phone writes them
MAKE, MODEL, ORIENTATION, DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL, BODY_SERIAL = 0x9003, 0x9011, 0xA431
LAT_REF, LAT, LON_REF, LON = 1, 2, 3, 4

# 32°0'54.0"N 120°51'18.0"E (Hongqiao, Chongchuan), seconds as hundredths the way phones store them
HONGQIAO_GPS = [field(LAT_REF, ASCII, "N"), field(LAT, RATIONAL, [(32, 1), (0, 1), (5400, 100)]),
                field(LON_REF, ASCII, "E"), field(LON, RATIONAL, [(120, 1), (51, 1), (1800, 100)])]


def process(tmp_path, data: bytes, name: str = "original.jpg", max_pixels: int = MAX_PIXELS):
    path = tmp_path / name
    path.write_bytes(data)
    return process_photo(path, max_pixels, TZ, DECODE_BUDGET)


def photo_jpeg_image() -> Image.Image:
    """The photo-like test picture, decoded."""
    return Image.open(io.BytesIO(photo_jpeg(800, 600))).convert("RGB")


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG"
    return img


def assert_colour(img: Image.Image, xy: tuple[int, int], expected: tuple[int, int, int], slack: int = 40) -> None:
    got = img.convert("RGB").getpixel(xy)
    assert max(abs(a - b) for a, b in zip(got, expected)) <= slack, f"pixel {xy} is {got}, expected ~{expected}"


def assert_upright_corner_picture(img: Image.Image) -> None:
    """The 400x300 corner picture as meant to be seen: red top left, green top right, blue elsewhere."""
    w, h = img.size
    assert (w, h) == (400, 300)
    assert_colour(img, (20, 20), TOP_LEFT)
    assert_colour(img, (80, 80), TOP_LEFT)
    assert_colour(img, (385, 15), TOP_RIGHT)
    for xy in [(200, 30), (200, 200), (20, 280), (385, 280), (330, 20), (20, 130)]:
        assert_colour(img, xy, BACKGROUND)


# --- orientation -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("orientation", range(1, 9))
def test_photo_with_any_exif_orientation_shows_upright_in_web_copy_and_thumbnail(tmp_path, orientation):
    upright = corner_picture(400, 300)
    stored = as_camera_stores(upright, orientation)
    assert stored.size == ((400, 300) if orientation <= 4 else (300, 400))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation

    result = process(tmp_path, jpeg_bytes(stored, exif=exif))

    assert result.web_size == (400, 300)
    assert_upright_corner_picture(decode(result.web))
    thumb = decode(result.thumb)
    assert thumb.size == (320, 240)
    assert_upright_corner_picture(thumb.resize((400, 300)))


def test_portrait_phone_photo_turned_by_exif_comes_out_portrait_at_full_web_size(tmp_path):
    upright = corner_picture(300, 400)  # held upright: taller than wide
    stored = as_camera_stores(upright, 6).resize((4032, 3024), Image.Resampling.NEAREST)  # the sensor's landscape
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6

    result = process(tmp_path, jpeg_bytes(stored, quality=90, exif=exif))

    assert result.web_size == (1200, 1600)
    web = decode(result.web)
    assert web.size == (1200, 1600)
    assert decode(result.thumb).size == (240, 320)
    assert_colour(web, (100, 100), TOP_LEFT)
    assert_colour(web, (1170, 30), TOP_RIGHT)
    assert_colour(web, (100, 1500), BACKGROUND)
    assert_colour(web, (1100, 1500), BACKGROUND)


def test_nonsense_orientation_value_leaves_the_picture_as_stored(tmp_path):
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 9
    result = process(tmp_path, jpeg_bytes(corner_picture(), exif=exif))
    assert_upright_corner_picture(decode(result.web))


# --- sizes -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(4032, 3024), (3024, 4032), (4000, 2250), (2400, 1600), (6400, 1600)])
def test_large_photo_web_copy_long_side_1600_and_thumbnail_320_keeping_aspect_ratio(tmp_path, size):
    width, height = size
    result = process(tmp_path, photo_jpeg(width, height, quality=80))

    web, thumb = decode(result.web), decode(result.thumb)
    assert web.size == result.web_size
    assert max(web.size) == 1600
    assert max(thumb.size) == 320
    for w, h in (web.size, thumb.size):
        if width >= height:
            assert abs(h - w * height / width) <= 1, (w, h)
        else:
            assert abs(w - h * width / height) <= 1, (w, h)


def test_small_photo_is_not_enlarged(tmp_path):
    result = process(tmp_path, photo_jpeg(200, 150))
    assert result.web_size == (200, 150)
    assert decode(result.web).size == (200, 150)
    assert decode(result.thumb).size == (200, 150)


def test_medium_photo_keeps_its_size_on_the_web_and_shrinks_only_for_the_thumbnail(tmp_path):
    result = process(tmp_path, photo_jpeg(640, 480))
    assert result.web_size == (640, 480)
    assert decode(result.thumb).size == (320, 240)


# --- what must not leave the building, and what must -------------------------------------------------------------

def test_web_copy_and_thumbnail_carry_no_exif_camera_make_serial_or_gps(tmp_path):
    exif = exif_block(
        [field(MAKE, ASCII, "SnapTestMaker"), field(MODEL, ASCII, "Lens-X9 Pro"), field(ORIENTATION, SHORT, [6])],
        exif_ifd=[field(DATETIME_ORIGINAL, ASCII, "2026:03:01 08:00:00"),
                  field(BODY_SERIAL, ASCII, "SN-8C4F-2291-77")],
        gps_ifd=HONGQIAO_GPS)
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="32,0.9N"/>'
           b"</rdf:RDF></x:xmpmeta>")
    source = jpeg_bytes(photo_jpeg_image(), exif=exif, xmp=xmp)
    assert b"SN-8C4F-2291-77" in source and b"SnapTestMaker" in source  # the test really puts them in

    result = process(tmp_path, source)

    gps_seconds = struct.pack("<II", 5400, 100)
    for data in (result.web, result.thumb):
        img = decode(data)
        assert "exif" not in img.info
        assert len(img.getexif()) == 0
        assert "xmp" not in img.info
        for secret in (b"Exif\x00\x00", b"SnapTestMaker", b"Lens-X9 Pro", b"SN-8C4F-2291-77", b"GPSLatitude",
                       b"2026:03:01", gps_seconds):
            assert secret not in data
    assert result.gps == pytest.approx((32.015, 120.855))  # read before it was dropped


# Pillow's JPEG writer copies im.info["comment"] of the decoded source into what it saves unless told not to: a COM
# marker in the upload (apps put owner names, device ids, edit histories there) must not reach the web copy.
def test_web_copy_and_thumbnail_drop_the_comment_of_the_source_jpeg(tmp_path):
    source = jpeg_bytes(corner_picture(), comment=b"owner: Zhang San 138-0000-0000")
    assert Image.open(io.BytesIO(source)).info.get("comment")  # the test really puts one in

    result = process(tmp_path, source)

    for data in (result.web, result.thumb):
        assert "comment" not in decode(data).info
        assert b"Zhang San" not in data


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_icc_colour_profile_of_the_source_is_kept_on_web_copy_and_thumbnail(tmp_path, fmt):
    buf = io.BytesIO()
    corner_picture().save(buf, fmt, icc_profile=SRGB)

    result = process(tmp_path, buf.getvalue(), name=f"original.{fmt.lower()}")

    assert decode(result.web).info.get("icc_profile") == SRGB
    assert decode(result.thumb).info.get("icc_profile") == SRGB


def test_photo_without_colour_profile_gets_none_invented(tmp_path):
    result = process(tmp_path, jpeg_bytes(corner_picture()))
    assert "icc_profile" not in decode(result.web).info


# --- GPS -------------------------------------------------------------------------------------------------------

def test_exif_gps_degrees_minutes_seconds_read_as_decimal_degrees(tmp_path):
    result = process(tmp_path, jpeg_bytes(corner_picture(), exif=exif_block([], gps_ifd=HONGQIAO_GPS)))
    assert result.gps == pytest.approx((32.015, 120.855), abs=1e-9)


@pytest.mark.parametrize("lat_ref, lon_ref, expected", [
    ("N", "E", (32.015, 120.855)),
    ("S", "E", (-32.015, 120.855)),
    ("N", "W", (32.015, -120.855)),
    ("S", "W", (-32.015, -120.855)),
])
def test_exif_gps_south_and_west_refs_give_negative_degrees(lat_ref, lon_ref, expected):
    gps = [field(LAT_REF, ASCII, lat_ref), HONGQIAO_GPS[1], field(LON_REF, ASCII, lon_ref), HONGQIAO_GPS[3]]
    exif = Image.open(io.BytesIO(jpeg_bytes(corner_picture(), exif=exif_block([], gps_ifd=gps)))).getexif()
    assert exif_gps(exif) == pytest.approx(expected, abs=1e-9)


def test_exif_gps_of_zeros_is_treated_as_no_fix(tmp_path):
    zeros = [field(LAT_REF, ASCII, "N"), field(LAT, RATIONAL, [(0, 1), (0, 1), (0, 1)]),
             field(LON_REF, ASCII, "E"), field(LON, RATIONAL, [(0, 1), (0, 1), (0, 1)])]
    result = process(tmp_path, jpeg_bytes(corner_picture(), exif=exif_block([], gps_ifd=zeros)))
    assert result.gps is None


def test_photo_without_gps_has_no_location(tmp_path):
    assert process(tmp_path, jpeg_bytes(corner_picture())).gps is None
    only_latitude = exif_block([], gps_ifd=HONGQIAO_GPS[:2])
    assert process(tmp_path, jpeg_bytes(corner_picture(), exif=only_latitude)).gps is None


BROKEN_EXIF = {
    # GPS IFD with the wrong TIFF types: latitude/longitude as text, the ref as a number
    "gps as text": exif_block([], gps_ifd=[field(LAT_REF, ASCII, "N"), field(LAT, ASCII, "32.015"),
                                           field(LON_REF, SHORT, [5]), field(LON, ASCII, "120.855")]),
    "gps as single numbers": exif_block([], gps_ifd=[field(LAT, SHORT, [32]), field(LON, SHORT, [120])]),
    "gps rational over zero": exif_block([], gps_ifd=[field(LAT, RATIONAL, [(32, 0), (0, 1), (54, 1)]),
                                                      field(LON, RATIONAL, [(120, 1), (51, 1), (18, 1)])]),
    "gps out of range": exif_block([], gps_ifd=[field(LAT, RATIONAL, [(132, 1), (0, 1), (0, 1)]),
                                                field(LON, RATIONAL, [(120, 1), (51, 1), (18, 1)])]),
    "date garbage": exif_block([], exif_ifd=[field(DATETIME_ORIGINAL, ASCII, "garbage")]),
    "date impossible": exif_block([], exif_ifd=[field(DATETIME_ORIGINAL, ASCII, "2026:02:30 25:61:00")]),
    "exif truncated": exif_block([field(MAKE, ASCII, "SnapTestMaker")],
                                 exif_ifd=[field(DATETIME_ORIGINAL, ASCII, "2026:03:01 08:00:00")],
                                 gps_ifd=HONGQIAO_GPS)[:60],
    "exif garbage": b"Exif\x00\x00" + bytes(range(256)) * 2,
    "exif random": b"Exif\x00\x00" + random.Random(5).randbytes(300),
}


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow says "Corrupt EXIF data", which is the point
@pytest.mark.parametrize("name", BROKEN_EXIF)
def test_broken_exif_gives_no_gps_and_no_time_but_the_photo_still_processes(tmp_path, name):
    result = process(tmp_path, jpeg_bytes(corner_picture(), exif=BROKEN_EXIF[name]))

    assert result.gps is None
    assert result.taken_at is None
    assert result.web_size == (400, 300)
    assert_upright_corner_picture(decode(result.web))


# --- when the photo was taken -----------------------------------------------------------------------------------

def exif_of(block: bytes) -> Image.Exif:
    return Image.open(io.BytesIO(jpeg_bytes(Image.new("RGB", (16, 16)), exif=block))).getexif()


def test_taken_at_without_offset_is_read_as_shanghai_time_and_returned_in_utc(tmp_path):
    block = exif_block([], exif_ifd=[field(DATETIME_ORIGINAL, ASCII, "2026:03:01 08:00:00")])
    result = process(tmp_path, jpeg_bytes(corner_picture(), exif=block))
    assert result.taken_at == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    assert result.taken_at.utcoffset() == timedelta(0)


def test_taken_at_uses_the_community_time_zone_it_is_given():
    exif = exif_of(exif_block([], exif_ifd=[field(DATETIME_ORIGINAL, ASCII, "2026:03:01 08:00:00")]))
    assert exif_taken_at(exif, "UTC") == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert exif_taken_at(exif, "Asia/Shanghai") == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("offset, expected", [
    ("+09:00", datetime(2026, 2, 28, 23, 0, tzinfo=UTC)),
    ("-05:30", datetime(2026, 3, 1, 13, 30, tzinfo=UTC)),
    ("+08:00", datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),
])
def test_taken_at_with_offset_time_original_uses_that_offset(tmp_path, offset, expected):
    block = exif_block([], exif_ifd=[field(DATETIME_ORIGINAL, ASCII, "2026:03:01 08:00:00"),
                                     field(OFFSET_TIME_ORIGINAL, ASCII, offset)])
    result = process(tmp_path, jpeg_bytes(corner_picture(), exif=block))
    assert result.taken_at == expected


def test_taken_at_falls_back_to_the_plain_datetime_tag():
    exif = exif_of(exif_block([field(DATETIME, ASCII, "2025:12:31 23:30:00")]))
    assert exif_taken_at(exif, TZ) == datetime(2025, 12, 31, 15, 30, tzinfo=UTC)


def test_photo_without_exif_has_no_taken_at(tmp_path):
    assert process(tmp_path, jpeg_bytes(corner_picture())).taken_at is None


# --- formats ----------------------------------------------------------------------------------------------------

def test_heic_photo_is_processed_into_a_jpeg_web_copy(tmp_path):
    buf = io.BytesIO()
    corner_picture().save(buf, "HEIF", quality=90)
    assert Image.open(io.BytesIO(buf.getvalue())).format == "HEIF"

    result = process(tmp_path, buf.getvalue(), name="original.heic")

    assert result.web[:3] == b"\xff\xd8\xff" and result.thumb[:3] == b"\xff\xd8\xff"
    assert_upright_corner_picture(decode(result.web))
    assert decode(result.thumb).size == (320, 240)


def test_png_with_alpha_is_processed_into_an_rgb_jpeg(tmp_path):
    rgba = corner_picture().convert("RGBA")
    rgba.putalpha(200)
    buf = io.BytesIO()
    rgba.save(buf, "PNG")

    result = process(tmp_path, buf.getvalue(), name="original.png")

    web = decode(result.web)
    assert web.mode == "RGB"
    assert_upright_corner_picture(web)


def test_grayscale_jpeg_is_processed(tmp_path):
    gray = corner_picture().convert("L")
    result = process(tmp_path, jpeg_bytes(gray))

    web = decode(result.web).convert("RGB")
    assert web.size == (400, 300)
    red, blue = gray.getpixel((20, 20)), gray.getpixel((200, 200))
    assert_colour(web, (20, 20), (red, red, red), slack=12)
    assert_colour(web, (200, 200), (blue, blue, blue), slack=12)


def test_cmyk_jpeg_is_processed_with_its_colours(tmp_path):
    cmyk = corner_picture().convert("CMYK")
    result = process(tmp_path, jpeg_bytes(cmyk))

    web = decode(result.web)
    assert web.mode == "RGB"
    assert_upright_corner_picture(web)


# --- duplicate hash ---------------------------------------------------------------------------------------------

def test_dhash_is_an_unsigned_64_bit_integer(tmp_path):
    result = process(tmp_path, photo_jpeg(800, 600, seed=11))
    assert isinstance(result.dhash, int)
    assert 0 <= result.dhash < 2 ** 64
    assert result.dhash not in (0, 2 ** 64 - 1)  # a real picture has both brighter and darker steps


def test_dhash_describes_the_picture_as_shown_in_the_web_copy(tmp_path):
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    result = process(tmp_path, jpeg_bytes(as_camera_stores(photo_jpeg_image(), 6), exif=exif))
    assert hash_distance(result.dhash, dhash(decode(result.web))) <= 6


def test_same_picture_at_another_jpeg_quality_hashes_alike(tmp_path):
    good = process(tmp_path, photo_jpeg(1600, 1200, quality=92, seed=7), name="a.jpg")
    poor = process(tmp_path, photo_jpeg(1600, 1200, quality=30, seed=7), name="b.jpg")
    assert hash_distance(good.dhash, poor.dhash) <= 10


def test_same_picture_resized_hashes_alike(tmp_path):
    big = process(tmp_path, photo_jpeg(4032, 3024, seed=7), name="a.jpg")
    small = process(tmp_path, photo_jpeg(1008, 756, seed=7), name="b.jpg")
    assert hash_distance(big.dhash, small.dhash) <= 10


def test_same_picture_sent_turned_by_exif_hashes_like_the_upright_one(tmp_path):
    upright = photo_jpeg_image()
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 8
    plain = process(tmp_path, jpeg_bytes(upright), name="a.jpg")
    turned = process(tmp_path, jpeg_bytes(as_camera_stores(upright, 8), exif=exif), name="b.jpg")
    assert hash_distance(plain.dhash, turned.dhash) <= 10


@pytest.mark.parametrize("other_seed", [2, 3, 4])
def test_different_pictures_hash_far_apart(tmp_path, other_seed):
    one = process(tmp_path, photo_jpeg(1600, 1200, seed=1), name="a.jpg")
    other = process(tmp_path, photo_jpeg(1600, 1200, seed=other_seed), name="b.jpg")
    assert hash_distance(one.dhash, other.dhash) > 10


def test_dhash_of_a_picture_and_its_mirror_differ():
    img = photo_jpeg_image()
    assert hash_distance(dhash(img), dhash(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT))) > 10


def test_dhash_of_a_left_to_right_brightening_ramp_has_no_bit_set():
    ramp = Image.linear_gradient("L").rotate(90, expand=True)  # dark on the left, bright on the right
    assert ramp.getpixel((0, 128)) < ramp.getpixel((255, 128))
    assert dhash(ramp) == 0
    assert dhash(ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) == 2 ** 64 - 1


def test_hash_distance_counts_differing_bits():
    assert hash_distance(0x1234_5678_9ABC_DEF0, 0x1234_5678_9ABC_DEF0) == 0
    assert hash_distance(0, 2 ** 64 - 1) == 64
    assert hash_distance(0b1011, 0b0001) == 2
    assert hash_distance(1 << 63, 0) == 1


# --- what cannot be processed -----------------------------------------------------------------------------------

def test_truncated_jpeg_is_unreadable(tmp_path):
    data = photo_jpeg(1600, 1200, seed=3)
    with pytest.raises(UnreadablePhoto):
        process(tmp_path, data[: len(data) // 2])


def test_random_bytes_are_unreadable(tmp_path):
    with pytest.raises(UnreadablePhoto):
        process(tmp_path, os.urandom(64 * 1024))


def test_picture_over_max_pixels_is_unreadable(tmp_path):
    data = photo_jpeg(4032, 3024)
    with pytest.raises(UnreadablePhoto):
        process(tmp_path, data, max_pixels=4032 * 3024 - 1)
    assert process(tmp_path, data, max_pixels=4032 * 3024).web_size == (1600, 1200)


def test_decompression_bomb_is_unreadable(tmp_path):
    with pytest.raises(UnreadablePhoto):
        process(tmp_path, decompression_bomb(), name="original.png")


def test_missing_file_is_the_machines_problem_not_the_photos(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        process_photo(tmp_path / "gone.jpg", MAX_PIXELS, TZ, DECODE_BUDGET)
    assert not isinstance(caught.value, UnreadablePhoto)
