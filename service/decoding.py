"""Decoding a stored original within a memory budget: what each decoder holds at once, and the picture made
small band by band, so no full-size copy is ever made beside the decoded one."""
from __future__ import annotations

import math
from typing import BinaryIO

import pillow_heif
from PIL import Image

MIB = 1024 * 1024
BAND_BYTES = 4 * MIB  # how much of the full-size picture is converted at a time
# bytes per pixel of Pillow's own storage; every mode not named is kept in 4 (RGB too: as RGBX)
PILLOW_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# what libwebp and Pillow hold for a WEBP, per pixel, measured: the decoder's canvas and its copy of the
# previous frame, the frame handed over as bytes, and Pillow's image made from those bytes (4 bytes each)
WEBP_PIXEL_BYTES = 16
HEIF_CHROMA_SAMPLES = {420: 1.5, 422: 2.0, 444: 3.0}  # samples per pixel of libheif's planes before conversion


class TooLargeToDecode(ValueError):
    """Decoding this picture would take more memory than the budget allows."""


def reduction_for(size: tuple[int, int], long_side: int) -> int:
    """The whole factor that brings the long side down to between long_side and twice that (1: none)."""
    return max(1, max(size) // long_side)


def decode_for_web(img: Image.Image, source: BinaryIO, long_side: int, budget: int) -> Image.Image:
    """The opened picture decoded no larger than about twice long_side, as RGB (a JPEG as YCbCr, as stored).

    What decoding will hold at its peak is reckoned from the header first (plan_decode), and a picture that
    needs more than `budget` bytes is refused before a pixel is decoded.
    """
    needed = plan_decode(img, long_side)
    if needed > budget:
        raise TooLargeToDecode(f"{img.format} {img.size[0]}x{img.size[1]} {img.mode} needs {needed // MIB} MB "
                               f"to decode, more than the {budget // MIB} MB allowed")
    if img.format in ("JPEG", "MPO"):
        img.load()
        return img if img.mode in ("RGB", "YCbCr") else img.convert("RGB")
    return reduced_rgb(img, source, long_side)


def plan_decode(img: Image.Image, long_side: int) -> int:
    """Choose how to decode this opened picture, and reckon the bytes that will take at its peak.

    A JPEG is set to decode at the smallest DCT scale (1/2, 1/4, 1/8) that still gives long_side, in YCbCr as
    stored (which skips the colour conversion on decode and again on encode); a progressive one still keeps
    every coefficient of the full-size picture. Anything else is decoded whole, then reduced band by band.
    """
    coefficients = _progressive_coefficients(img)  # of the full-size picture, whatever the draft
    if img.format in ("JPEG", "MPO"):  # a phone's MPO is a JPEG with more pictures after it
        width, height = img.size
        scale = min(1.0, long_side / max(width, height))
        img.draft("YCbCr", (math.ceil(width * scale), math.ceil(height * scale)))
    return _held_bytes(img) + coefficients + _reduced_bytes(img.size, long_side) + 2 * BAND_BYTES


def _held_bytes(img: Image.Image) -> int:
    """What the decoder and Pillow hold at once for the picture decoded at its (draft) size."""
    pixels = img.size[0] * img.size[1]
    if img.format == "WEBP":
        return pixels * WEBP_PIXEL_BYTES
    if img.format == "HEIF":  # libheif's planes as decoded, and the same converted to interleaved RGB(A)
        depth = 2 if img.info.get("bit_depth", 8) > 8 else 1
        return int(pixels * (HEIF_CHROMA_SAMPLES.get(img.info.get("chroma"), 3.0) * depth + len(img.mode)))
    return pixels * PILLOW_PIXEL_BYTES.get(img.mode, 4)


def _reduced_bytes(size: tuple[int, int], long_side: int) -> int:
    """The reduced RGB copy reduced_rgb makes and the web copy made from it (4 bytes a pixel: Pillow keeps RGB
    as RGBX)."""
    factor = reduction_for(size, long_side)
    scale = min(1.0, long_side / max(size))
    reduced = -(-size[0] // factor) * -(-size[1] // factor)
    return (reduced + math.ceil(size[0] * scale) * math.ceil(size[1] * scale)) * 4


def _progressive_coefficients(img: Image.Image) -> int:
    """What libjpeg keeps to decode a progressive JPEG: every DCT coefficient of the full-size picture, 2 bytes
    each, however small the draft it is asked for (a 48 MP one: 146 MB)."""
    if img.format not in ("JPEG", "MPO") or not img.info.get("progressive"):
        return 0
    width, height = img.size
    layers = getattr(img, "layer", None) or [(0, 1, 1, 0)] * 3
    h_max, v_max = max(h for _, h, _, _ in layers), max(v for _, _, v, _ in layers)
    return sum(2 * -(-width * h // h_max) * -(-height * v // v_max) for _, h, v, _ in layers)


def reduced_rgb(img: Image.Image, source: BinaryIO, long_side: int) -> Image.Image:
    """The loaded-on-demand picture as RGB, reduced by whole factors to between long_side and twice that.

    Converted band by band from the decoded picture: a full-size RGB copy of a 48 MP RGBA PNG would cost
    another 190 MB. A HEIF is decoded by pillow_heif on its own, and its bands read straight from libheif's
    buffer, rather than copied whole into a Pillow image first.
    """
    width, height = img.size
    if img.format == "HEIF":
        source.seek(0)  # pillow_heif reads the file from where the reader left it
        heif = pillow_heif.open_heif(source, convert_hdr_to_8bit=True, remove_stride=False)
        data, stride, mode = heif.data, heif.stride, heif.mode
        width, height = heif.size

        def band(top: int, bottom: int) -> Image.Image:
            view = data[top * stride:bottom * stride]
            return Image.frombuffer(mode, (width, bottom - top), view, "raw", mode, stride, 1)
    else:
        img.load()

        def band(top: int, bottom: int) -> Image.Image:
            return img.crop((0, top, width, bottom))
    factor = reduction_for((width, height), long_side)
    rows = factor * max(1, BAND_BYTES // (width * 4 * factor))
    out = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows):
        piece = band(top, min(height, top + rows))
        piece = piece if piece.mode == "RGB" else piece.convert("RGB")
        out.paste(piece.reduce(factor) if factor > 1 else piece, (0, top // factor))
    return out
