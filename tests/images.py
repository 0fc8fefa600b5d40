"""Real image files for the tests: phone-like JPEGs, other formats, and the broken files riders' phones send."""
from __future__ import annotations

import io
import os

from PIL import Image


def photo_jpeg(width: int = 1600, height: int = 1200, quality: int = 85, seed: int = 1,
               camera: tuple[str, str] | None = ("Xiaomi", "Redmi Note 12")) -> bytes:
    """A JPEG with photo-like content (smooth colour fields), a few hundred KB at this size, naming the phone
    that took it in its EXIF as phones do (camera=None: none, as a screenshot)."""
    rnd = __import__("random").Random(seed)
    small = Image.frombytes("RGB", (40, 30), bytes(rnd.randrange(256) for _ in range(40 * 30 * 3)))
    img = small.resize((width, height), Image.BILINEAR)
    buf = io.BytesIO()
    exif = Image.Exif()
    if camera is not None:
        exif[0x010F], exif[0x0110] = camera  # Make, Model
    img.save(buf, "JPEG", quality=quality, exif=exif.tobytes())
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


# --- pictures with known content and hand-made EXIF, for the photo-processing tests ---

BACKGROUND = (30, 120, 200)  # blue
TOP_LEFT = (230, 30, 30)  # red block in the top left corner as the picture is meant to be seen
TOP_RIGHT = (40, 200, 60)  # smaller green block in the top right corner


def corner_picture(width: int = 400, height: int = 300) -> Image.Image:
    """An upright picture no rotation or mirror maps onto itself: a red block top left, a green one top right."""
    img = Image.new("RGB", (width, height), BACKGROUND)
    img.paste(TOP_LEFT, (0, 0, width // 4, height // 3))
    img.paste(TOP_RIGHT, (width - width // 8, 0, width, height // 5))
    return img


def as_camera_stores(upright: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera writes for `upright` with this EXIF Orientation tag, from the tag's definition.

    EXIF 2.3 (Orientation, 0x0112) names the visual side of the stored 0th row and 0th column: 2 = top/right,
    3 = bottom/right, 4 = bottom/left, 5 = left/top, 6 = right/top, 7 = right/bottom, 8 = left/bottom. Here each
    stored pixel (c, r) is taken from the upright pixel it will be shown as, without Pillow's transpose table.
    """
    w, h = upright.size
    shown_at = {
        1: lambda c, r: (c, r),
        2: lambda c, r: (w - 1 - c, r),
        3: lambda c, r: (w - 1 - c, h - 1 - r),
        4: lambda c, r: (c, h - 1 - r),
        5: lambda c, r: (r, c),
        6: lambda c, r: (w - 1 - r, c),
        7: lambda c, r: (w - 1 - r, h - 1 - c),
        8: lambda c, r: (r, h - 1 - c),
    }[orientation]
    sw, sh = (w, h) if orientation <= 4 else (h, w)
    src = upright.convert("RGB").tobytes()
    out = bytearray(sw * sh * 3)
    for r in range(sh):
        for c in range(sw):
            x, y = shown_at(c, r)
            i, j = (r * sw + c) * 3, (y * w + x) * 3
            out[i:i + 3] = src[j:j + 3]
    return Image.frombytes("RGB", (sw, sh), bytes(out))


def jpeg_bytes(img: Image.Image, quality: int = 95, **params) -> bytes:
    """`img` as a JPEG; params go to Pillow's JPEG writer (exif=, icc_profile=, comment=, xmp=...)."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, **params)
    return buf.getvalue()


# TIFF field types, for hand-made EXIF blocks
BYTE, ASCII, SHORT, LONG, RATIONAL = 1, 2, 3, 4, 5
_TYPE_SIZE = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8}


def field(tag: int, kind: int, value) -> tuple:
    """One IFD entry of the given TIFF type: str for ASCII, ints for BYTE/SHORT/LONG, (num, den) pairs for RATIONAL."""
    import struct

    if kind == ASCII:
        payload, count = value.encode() + b"\x00", len(value) + 1
    elif kind == RATIONAL:
        payload, count = b"".join(struct.pack("<II", n, d) for n, d in value), len(value)
    else:
        fmt = {BYTE: "B", SHORT: "H", LONG: "I"}[kind]
        payload, count = struct.pack(f"<{len(value)}{fmt}", *value), len(value)
    assert len(payload) == count * _TYPE_SIZE[kind]
    return tag, kind, count, payload


def exif_block(ifd0: list[tuple], exif_ifd: list[tuple] = (), gps_ifd: list[tuple] = ()) -> bytes:
    """An APP1 EXIF payload (b"Exif\\0\\0" + little-endian TIFF) written byte by byte from `field` entries.

    Pillow's own writer insists on the standard type of each tag; this one writes whatever it is given, as a
    buggy phone or app does.
    """
    import struct

    ifds = [list(ifd0)]
    pointers = []
    for pointer_tag, entries in ((0x8769, exif_ifd), (0x8825, gps_ifd)):
        if entries:
            pointers.append((pointer_tag, len(ifds)))
            ifds.append(list(entries))
    ifds[0] += [(tag, LONG, 1, None) for tag, _ in pointers]
    offsets, at = [], 8
    for entries in ifds:
        offsets.append(at)
        at += 2 + 12 * len(entries) + 4
    data, blobs = at, []
    for entries in ifds:
        entries.sort(key=lambda e: e[0])
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for entries in ifds:
        out += struct.pack("<H", len(entries))
        for tag, kind, count, payload in entries:
            if payload is None:  # a pointer to a sub-IFD
                payload = struct.pack("<I", offsets[dict(pointers)[tag]])
            if len(payload) <= 4:
                out += struct.pack("<HHI", tag, kind, count) + payload.ljust(4, b"\x00")
            else:
                out += struct.pack("<HHII", tag, kind, count, data)
                blobs.append(payload + b"\x00" * (len(payload) % 2))
                data += len(blobs[-1])
        out += struct.pack("<I", 0)
    return b"Exif\x00\x00" + bytes(out) + b"".join(blobs)


# --- files whose header promises far more pixels than their bytes, for the memory tests ---

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def flat_png(width: int, height: int, rgba: bool = True) -> bytes:
    """A one-colour PNG written row by row (never whole in memory): 9999x9999 RGBA is 405 KB on disk, 400 MB decoded."""
    import struct
    import zlib

    pixel = b"\x1e\x78\xc8\xff" if rgba else b"\x1e\x78\xc8"
    packer, row = zlib.compressobj(9), b"\x00" + pixel * width  # filter type 0, then the pixels
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if rgba else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def png_declaring(width: int, height: int) -> bytes:
    """A 1x1 RGBA PNG whose IHDR chunk (CRC and all) says it is width x height."""
    import struct

    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
    return flat_png(1, 1)[:8] + header + flat_png(1, 1)[33:]


def png_with_text(chunks: int, inflated_bytes: int) -> bytes:
    """A small PNG carrying `chunks` zTXt chunks that each inflate to `inflated_bytes` (a few KB on disk)."""
    import zlib

    text = _png_chunk(b"zTXt", b"note\x00\x00" + zlib.compress(b" " * inflated_bytes, 9))
    plain = encode("PNG", 64, 48)
    return plain[:33] + text * chunks + plain[33:]  # after the 8-byte signature and the 25-byte IHDR chunk


def flat_webp(width: int, height: int) -> bytes:
    """A lossless one-colour WEBP of any size in 38 bytes: a 1x1 one with its size fields rewritten.

    A single colour needs no bits per pixel in VP8L, so only the 14-bit width-1 and height-1 after the 0x2f
    signature say how large it is.
    """
    tiny = bytearray(encode("WEBP", 1, 1, lossless=True))
    at = tiny.index(b"VP8L") + 8
    assert tiny[at] == 0x2F
    bits = int.from_bytes(tiny[at + 1:at + 5], "little") & ~((1 << 28) - 1)
    tiny[at + 1:at + 5] = (bits | (width - 1) | (height - 1) << 14).to_bytes(4, "little")
    return bytes(tiny)


def heic_declaring(width: int, height: int) -> bytes:
    """A small real HEIC whose `ispe` box (the size every reader takes from the header) says width x height."""
    data = bytearray(encode("HEIF", 64, 64))  # coded as it is shown: no `clap` crop box to change as well
    at = data.index(b"ispe") + 8  # past the type and the full box's version and flags
    data[at:at + 8] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    return bytes(data)


def mpo_jpeg() -> bytes:
    """A JPEG with a second picture after it (MPF), as phones with two cameras write them."""
    from PIL import Image

    first, second = (Image.open(io.BytesIO(photo_jpeg(800, 600, seed=s))) for s in (12, 13))
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second])
    return buf.getvalue()
