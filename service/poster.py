"""The weekly 公示 as a picture for the community's WeChat group: drawn with Pillow in the Noto Sans CJK SC subset
we ship (service/fonts/), so it needs no font installed and shows Chinese, not boxes."""
from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path(__file__).with_name("fonts") / "NotoSansSC-Subset.otf"
NO_SUCH_CHARACTER = "\U000F0000"  # private use: in no font of ours, so drawn as the box
WIDTH, MARGIN = 1080, 60
WISTERIA, DEEP, INK, PALE, LINE = (142, 92, 196), (74, 40, 120), (25, 25, 25), (245, 239, 252), (214, 200, 232)
WEEK_ROWS, QUARTER_ROWS = 20, 10
COLUMNS = (("名次", 0), ("姓名", 130), ("积分", 520), ("紫藤花", 690), ("结案", 860))  # title, x from the margin


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size)


@cache
def _has(char: str) -> bool:
    """Whether the shipped font draws the character (not its empty box, .notdef)."""
    font = _font(32)
    return char.isspace() or bytes(font.getmask(char)) != bytes(font.getmask(NO_SUCH_CHARACTER))


def drawable(text: str) -> str:
    """The text with any character the font lacks (beyond GBK, service/fonts/make_subset.py) as *: a name's
    masked characters are * already, where a box would be a fault."""
    return "".join(c if _has(c) else "*" for c in text)


def _flower(draw: ImageDraw.ImageDraw, x: int, y: int, r: int = 7) -> None:
    """A small wisteria cluster: four purple dots narrowing downwards."""
    for dx, dy, shade in ((-r, 0, WISTERIA), (r, 0, WISTERIA), (0, int(1.6 * r), (167, 123, 214)),
                          (0, int(2.9 * r), (191, 155, 227))):
        draw.ellipse((x + dx - r, y + dy - r, x + dx + r, y + dy + r), fill=shade)


def _table(draw: ImageDraw.ImageDraw, y: int, title: str, rows: list, limit: int) -> int:
    """A ranking under its title from height y; the height after it."""
    draw.text((MARGIN, y), title, font=_font(40), fill=DEEP, stroke_width=1, stroke_fill=DEEP)
    y += 66
    head = _font(28)
    for label, x in COLUMNS:
        draw.text((MARGIN + x, y), label, font=head, fill=(110, 110, 110))
    y += 44
    body = _font(34)
    if not rows:
        draw.text((MARGIN, y + 8), "暂无", font=body, fill=INK)
        return y + 70
    for i, standing in enumerate(rows[:limit]):
        if i % 2 == 0:
            draw.rectangle((MARGIN - 16, y - 4, WIDTH - MARGIN + 16, y + 52), fill=PALE)
        medal = standing.rank <= 3
        values = (str(standing.rank), drawable(standing.name), str(standing.points), str(standing.flowers),
                  str(standing.reports_closed))
        for (_, x), value in zip(COLUMNS, values):
            draw.text((MARGIN + x, y), value, font=body, fill=DEEP if medal else INK,
                      stroke_width=1 if medal else 0, stroke_fill=DEEP)
        _flower(draw, MARGIN + COLUMNS[3][1] + 90, y + 12)
        y += 58
    if len(rows) > limit:
        draw.text((MARGIN, y + 4), f"另有 {len(rows) - limit} 人获得积分", font=_font(28), fill=(110, 110, 110))
        y += 48
    return y + 24


def poster_png(publicity: dict, built: str) -> bytes:
    """The 公示 of service.publicity.weekly_publicity as a PNG, 1080 px wide; `built` says when it was made."""
    week_rows, quarter_rows = publicity["week_ranking"], publicity["quarter_ranking"]
    height = 420 + 58 * (min(len(week_rows), WEEK_ROWS) + min(len(quarter_rows), QUARTER_ROWS)) + 420
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 250), fill=WISTERIA)
    for i in range(6):
        _flower(draw, WIDTH - 120 + (i % 3) * 34, 40 + (i // 3) * 70, 11)
    draw.text((MARGIN, 36), "紫藤花积分公示", font=_font(72), fill="white", stroke_width=2, stroke_fill="white")
    draw.text((MARGIN, 130), drawable(f"{publicity['community']} · {publicity['office']}"), font=_font(38),
              fill="white")
    span = f"{publicity['week']}（{publicity['first_day']:%m-%d} 至 {publicity['last_day']:%m-%d}）"
    draw.text((MARGIN, 186), span + (" 进行中" if publicity["under_way"] else ""), font=_font(32), fill="white")
    y = _table(draw, 290, "本周排行", week_rows, WEEK_ROWS)
    y = _table(draw, y + 10, f"本季度累计（{publicity['quarter']}）", quarter_rows, QUARTER_ROWS)
    note = _font(26)
    draw.line((MARGIN, y, WIDTH - MARGIN, y), fill=LINE, width=2)
    draw.text((MARGIN, y + 20), f"{publicity['per_flower']} 积分 = 1 朵紫藤花 · 每季度末可到社区兑换点兑换生活用品",
              font=note, fill=(90, 90, 90))
    draw.text((MARGIN, y + 60), f"姓名已隐去部分，不愿公示者显示为“匿名” · 生成于 {built}", font=note,
              fill=(90, 90, 90))
    image = image.crop((0, 0, WIDTH, y + 120))
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
