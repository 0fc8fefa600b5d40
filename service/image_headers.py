"""What an upload's header says: its format, its size, and whether the file is whole, read without decoding a pixel.

Each format is told by its first bytes (never the name or Content-Type), then its framing is walked to its end
with seeks and small reads: PNG's chunks (length, type, CRC) to IEND, WEBP's RIFF chunks against the RIFF size,
HEIF's ISO-BMFF boxes against the file size. A file cut off by a dropped connection fails here in milliseconds,
where decoding it would cost the whole picture's memory.
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

BLOCK = 1 << 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# chunks (PNG, WEBP) or boxes (HEIF, per container) walked at most: libpng writes 8 KB data chunks, so a 15 MB
# photo has about 2 000; more is a slow-walk trick (15 MB of empty 8-byte chunks cost seconds of CPU to walk)
MAX_CHUNKS = 65_536
END_OF_IMAGE = b"\xff\xd9"
# ISO-BMFF brands of HEVC-coded HEIF (what phones write), and the generic HEIF brands that come with them
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
NOT_HEVC_BRANDS = {b"avif", b"avis"}  # AV1-coded: no decoder here


class NotAnImage(ValueError):
    """The bytes are none of the formats we take."""


class BrokenImage(ValueError):
    """The bytes begin as one of our formats but the file is cut short or its framing is damaged."""


@dataclass(frozen=True)
class HeaderFacts:
    """What the header says: the format (Pillow's name for it) and, when the header gives them, the dimensions."""

    format: str
    size: tuple[int, int] | None  # None: a HEIF without `ispe`; Pillow's reading of the header gives it


def sniff_format(stream: BinaryIO) -> str:
    """Pillow's name of the format the first bytes announce: JPEG, PNG, WEBP or HEIF; else NotAnImage."""
    stream.seek(0)
    head = stream.read(32)
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == PNG_SIGNATURE:
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and _heif_brands(stream):
        return "HEIF"
    raise NotAnImage("not a JPEG, PNG, WEBP or HEIF file")


def read_header(stream: BinaryIO) -> HeaderFacts:
    """The format and size the header gives, having walked the framing to the end (JPEG's is left to the caller:
    Pillow reads its markers, and `reaches_end_of_image` its end)."""
    fmt = sniff_format(stream)
    size = stream.seek(0, io.SEEK_END)
    walk = {"JPEG": lambda f, n: None, "PNG": _png_size, "WEBP": _webp_size, "HEIF": _heif_size}[fmt]
    try:
        return HeaderFacts(fmt, walk(stream, size))
    except struct.error:  # a field read past the end of the file
        raise BrokenImage(f"{fmt} header cut short") from None
    finally:
        stream.seek(0)


def reaches_end_of_image(stream: BinaryIO, scan_start: int, chunk: int = BLOCK) -> bool:
    """True when a JPEG's data, from its first scan on, holds the end-of-image marker.

    Inside scan data a 0xFF byte is always followed by 0x00 or a restart marker, so FF D9 there can only be the
    end of the image; what a phone may append after it (a motion photo's video) does not matter. A cut-off upload
    has none. The last megabyte is looked at first, where a photo's end nearly always is; only when it is not
    there is everything read.
    """
    size = stream.seek(0, io.SEEK_END)
    tail_start = max(scan_start, size - chunk)
    stream.seek(tail_start)
    if END_OF_IMAGE in stream.read(chunk):
        return True
    stream.seek(scan_start)
    carried = b""
    while block := stream.read(chunk):
        if END_OF_IMAGE in carried + block[:1] or END_OF_IMAGE in block:
            return True
        carried = block[-1:]
    return False


def _read(stream: BinaryIO, at: int, n: int) -> bytes:
    """Up to n bytes of the stream from offset `at`."""
    stream.seek(at)
    return stream.read(n)


def _png_size(stream: BinaryIO, file_size: int) -> tuple[int, int]:
    """IHDR's width and height, once every chunk has been found whole (CRC included) up to IEND."""
    pos, size, seen_data = len(PNG_SIGNATURE), None, False
    for _ in range(MAX_CHUNKS):
        length, kind = struct.unpack(">I4s", _read(stream, pos, 8))
        end = pos + 12 + length
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise BrokenImage(f"PNG chunk at byte {pos} is damaged")
        if end > file_size:
            raise BrokenImage("PNG is cut short (a chunk runs past the end of the file)")
        crc, left = zlib.crc32(kind), length
        while left:
            block = stream.read(min(left, BLOCK))
            crc, left = zlib.crc32(block, crc), left - len(block)
        if stream.read(4) != struct.pack(">I", crc):
            raise BrokenImage(f"PNG chunk {kind.decode()} at byte {pos} fails its CRC")
        if size is None:
            if kind != b"IHDR" or length != 13:
                raise BrokenImage("PNG does not begin with its IHDR chunk")
            size = struct.unpack(">II", _read(stream, pos + 8, 8))
        seen_data |= kind == b"IDAT"
        if kind == b"IEND":
            if not seen_data:
                raise BrokenImage("PNG has no image data")
            return size
        pos = end
    raise BrokenImage(f"PNG has more than {MAX_CHUNKS} chunks")


def _webp_size(stream: BinaryIO, file_size: int) -> tuple[int, int]:
    """The canvas (VP8X) or bitstream (VP8, VP8L) size, once the RIFF size is found to fit in the file."""
    riff_end = 8 + struct.unpack("<I", _read(stream, 4, 4))[0]
    if riff_end > file_size:
        raise BrokenImage(f"WEBP is cut short ({file_size} of {riff_end} bytes)")
    pos, canvas, bitstream, frames, chunks = 12, None, None, False, 0
    while pos + 8 <= riff_end:
        chunks += 1
        if chunks > MAX_CHUNKS:
            raise BrokenImage(f"WEBP has more than {MAX_CHUNKS} chunks")
        kind, length = struct.unpack("<4sI", _read(stream, pos, 8))
        if pos + 8 + length > riff_end:
            raise BrokenImage(f"WEBP chunk {kind!r} runs past the end of the file")
        body = stream.read(min(length, 10))
        if kind == b"VP8X":
            width, height = struct.unpack("<I", body[4:7] + b"\0")[0], struct.unpack("<I", body[7:10] + b"\0")[0]
            canvas = (width + 1, height + 1)
        elif kind == b"VP8 ":
            if body[3:6] != b"\x9d\x01\x2a":
                raise BrokenImage("WEBP (lossy) frame header is damaged")
            width, height = struct.unpack("<HH", body[6:10])
            bitstream = (width & 0x3FFF, height & 0x3FFF)
        elif kind == b"VP8L":
            if body[:1] != b"\x2f":
                raise BrokenImage("WEBP (lossless) header is damaged")
            bits = struct.unpack("<I", body[1:5])[0]
            bitstream = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        frames |= kind == b"ANMF"
        pos += 8 + length + (length & 1)
    if bitstream is None and not frames:
        raise BrokenImage("WEBP has no image data")
    return canvas or bitstream


def _boxes(stream: BinaryIO, start: int, end: int):
    """(type, payload start, box end) of each ISO-BMFF box between start and end, each checked to lie inside;
    BrokenImage past MAX_CHUNKS of them."""
    pos = start
    for _ in range(MAX_CHUNKS):
        if pos >= end:
            return
        if end - pos < 8:
            raise BrokenImage(f"HEIF has stray bytes at byte {pos}")
        size, kind = struct.unpack(">I4s", _read(stream, pos, 8))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", stream.read(8))[0], 16
        elif size == 0:  # the last box runs to the end
            size = end - pos
        if size < header or pos + size > end:
            raise BrokenImage(f"HEIF box {kind!r} runs past the end of the file")
        yield kind, pos + header, pos + size
        pos += size
    if pos < end:
        raise BrokenImage(f"HEIF has more than {MAX_CHUNKS} boxes in one container")


def _heif_brands(stream: BinaryIO) -> bool:
    """True when the leading ftyp box names an HEVC-coded HEIF brand."""
    stream.seek(0)
    size = struct.unpack(">I", stream.read(4))[0]
    if not 16 <= size <= 4096:
        return False
    payload = _read(stream, 8, size - 8)
    brands = {payload[i:i + 4] for i in range(8, len(payload) - 3, 4)} | {payload[:4]}
    return payload[:4] not in NOT_HEVC_BRANDS and bool(brands & HEIF_BRANDS)


def _inside(stream: BinaryIO, spans: list[tuple[int, int]], kind: bytes, flags: int = 0) -> list[tuple[int, int]]:
    """The (payload start, end) of each box of this kind directly inside any of the spans; `flags`: the bytes of
    a full box's version and flags, skipped."""
    return [(body + flags, end) for start, stop in spans for found, body, end in _boxes(stream, start, stop)
            if found == kind]


def _heif_size(stream: BinaryIO, file_size: int) -> tuple[int, int] | None:
    """The largest `ispe` (image spatial extent) among the file's images, once every top-level box fits the file.

    The primary image's own size, after rotation, comes from libheif's reading of the header; the largest
    extent of any image is what the pixel limit is held to, for a hostile file may hide a huge one anywhere.
    """
    metas = _inside(stream, [(0, file_size)], b"meta", flags=4)
    properties = _inside(stream, _inside(stream, metas, b"iprp"), b"ipco")
    extents = [struct.unpack(">II", _read(stream, body, 8))
               for body, end in _inside(stream, properties, b"ispe", flags=4) if end - body >= 8]
    return max(extents, key=lambda wh: wh[0] * wh[1], default=None)
