"""How the shipped font was made: `python -m service.fonts.make_subset` (with requirements-dev.txt installed and
Debian's fonts-noto-cjk) writes NotoSansSC-Subset.otf from Noto Sans CJK SC Regular: every hanzi of GBK (its 20,902
unified ideographs: the rare characters of names, 堃 玥 喆 昇 珺, as well as GB 2312's 6,763), GB 2312's
punctuation and symbols, ASCII, and the few characters our posters use beyond them. Run by hand when a character
is missing; the output is committed, so the service itself needs nothing installed to draw Chinese (a character
the font lacks all the same is drawn as *, service.poster)."""
from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
TARGET = Path(__file__).with_name("NotoSansSC-Subset.otf")
EXTRA = "·—–…“”‘’（）：；，。、《》【】〖〗★☆№①②③④⑤⑥⑦⑧⑨⑩＊＋－－％￥🌸"


def gb2312() -> str:
    """Every character GB 2312 encodes (rows 0xA1–0xF7, columns 0xA1–0xFE)."""
    chars = []
    for row in range(0xA1, 0xF8):
        for col in range(0xA1, 0xFF):
            try:
                chars.append(bytes([row, col]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(chars)


def gbk_hanzi() -> str:
    """The unified ideographs GBK encodes (U+4E00–U+9FA5)."""
    return "".join(chr(c) for c in range(0x4E00, 0x9FA6))


def main() -> None:
    collection = TTCollection(str(SOURCE))
    font = next(f for f in collection.fonts if "SC" in f["name"].getDebugName(1))  # Noto Sans CJK SC
    text = gb2312() + gbk_hanzi() + "".join(chr(c) for c in range(0x20, 0x7F)) + EXTRA
    options = subset.Options()
    options.layout_features = ["kern", "palt"]  # no vertical forms, no other locales' shapes
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.desubroutinize = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    font.save(str(TARGET))
    print(f"{TARGET}: {TARGET.stat().st_size / 1e6:.2f} MB, {len(font.getGlyphOrder())} glyphs", file=sys.stderr)


if __name__ == "__main__":
    main()
