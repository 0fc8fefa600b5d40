"""The weekly report as people take it away: SVG charts, an Excel workbook (one sheet per table, the league
tables' too), and CSV."""
from __future__ import annotations

import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pygal
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from pygal.style import Style

from service.local_time import local_time
from service.spreadsheets import CsvWriter, append_row
from service.weekly import Week, percent, progress_note
from service.weekly_figures import overdue_cases

# pygal lays the charts out with these sizes; their colours, fonts and lines are css/report.css's, for the page's
# CSP forbids the <style> and <script> pygal puts in every chart (see _without_style_or_script)
LAYOUT = Style(value_font_size=11, label_font_size=11, legend_font_size=12, title_font_size=14)


def _without_style_or_script(root):
    """pygal's xml_filter: drop the chart's own <style>, <script> and style attributes (its tooltip's opacity)."""
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] in ("style", "script"):
                parent.remove(child)
        parent.attrib.pop("style", None)
    return root


CHART = dict(style=LAYOUT, js=[], css=[], disable_xml_declaration=True, print_values=True, legend_at_bottom=True,
             range=(0, 100), show_y_guides=True, width=760, height=320, no_data_text="暂无数据",
             value_formatter=lambda v: "—" if v is None else f"{v:.0f}%")


def _chart(kind, **options):
    """A pygal chart of ours: the common options, drawn without pygal's style and script."""
    chart = kind(**CHART, **options)
    chart.add_xml_filter(_without_style_or_script)
    return chart

INDICATORS = (("received", "受理数"), ("valid", "立案数"), ("due", "应结案数"), ("closed", "结案数"),  # not a state
              ("closure_rate", "结案率"), ("on_time", "按期结案数"), ("on_time_rate", "按期结案率"),
              ("rework", "返工数"), ("rework_rate", "返工率"), ("extended", "延期数"),
              ("median_hours", "结案用时中位数(小时)"), ("p90_hours", "结案用时90%分位(小时)"))
GROUP_TABLES = (("by_grid", "按网格"), ("by_category", "按类别"), ("by_assignee", "按处置人"))
# the league table of a street office's or the district's parts: (key, 中文, English), the figures' keys as above
RANKING_COLUMNS = (("rank", "名次", "Rank"), ("name", "名称", "Name"), ("received", "受理数", "Received"),
                   ("valid", "立案数", "Valid"), ("due", "应结案数", "Due"),
                   ("closed", "结案数", "Closed"),  # not a state
                   ("closure_rate", "结案率", "Closure rate"), ("on_time", "按期结案数", "On time"),
                   ("on_time_rate", "按期结案率", "On-time rate"), ("rework", "返工数", "Rework"),
                   ("rework_rate", "返工率", "Rework rate"), ("transfers", "转派数", "Transfers"),
                   ("escalations", "上报数", "Escalations"), ("dispatched", "派遣数", "Dispatched"),  # not a state
                   ("sent_back", "退回数", "Sent back"), ("send_back_rate", "退回率", "Send-back rate"),
                   ("median_hours", "结案用时中位数(小时)", "Median hours to close"))
SEND_BACKS = "退回原因"
OVERDUE, RANKING = "超期未结", "上报人排行"
# the report's lists (not tables of indicators): on paper only their first rows, the most overdue and the most
# points, as many as fit the last A4 page beside each other; the rest are in the Excel and CSV downloads
PRINTED_ROWS = {OVERDUE: (30, "件"), RANKING: (15, "人")}


def shown(key: str, value) -> str:
    """An indicator as the tables show it: rates as percent, missing values as —."""
    if key.endswith("_rate"):
        return percent(value)
    return "—" if value is None else str(value)


def instant(iso: str) -> datetime:
    """An instant kept in the report (ISO 8601), as an aware datetime (the database keeps UTC)."""
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_minute(iso: str, tz: str) -> str:
    """An instant kept in the report as its readers write it: 2026-12-02 11:10, in the report's zone."""
    return local_time(instant(iso), tz)


def period(data: dict) -> dict:
    """The report's dates and times as its readers write them, in its zone: first and last day of the week, when
    it was built, and (for a week in progress) the moment it was counted up to."""
    tz, week = data["timezone"], Week.parse(data["week"])  # reports kept before first_day/last_day existed
    return {"first_day": data.get("first_day") or week.day(1).isoformat(),
            "last_day": data.get("last_day") or week.day(7).isoformat(),
            "built_at": local_minute(data["built_at"], tz), "under_way": bool(data.get("under_way")),
            "as_of": local_minute(data["as_of"], tz) if data.get("as_of") else ""}


def _pct(rate):
    return None if rate is None else round(rate * 100, 1)


def grid_rates_chart(data: dict) -> str:
    """A bar chart of 结案率 and 按期结案率 per grid of a community, per part of a street office or the district
    (its first league table: the district's street offices), as inline SVG."""
    rankings = data.get("rankings") or []
    parts = rankings[0]["title"].removesuffix("排名") if rankings else "网格"
    chart = _chart(pygal.Bar, title=f"{data['week']}{progress_note(data)} 各{parts}结案率与按期结案率",
                   x_label_rotation=30, truncate_label=-1)  # a dozen grids' names, whole and apart
    rows = rankings[0]["rows"] if rankings else data["by_grid"]
    chart.x_labels = [row["name"].split("·")[0] for row in rows]
    chart.add("结案率", [_pct(row["figures"]["closure_rate"]) for row in rows])
    chart.add("按期结案率", [_pct(row["figures"]["on_time_rate"]) for row in rows])
    return chart.render(is_unicode=True)


def trend_chart(data: dict) -> str:
    """The last 8 weeks' 结案率 and 按期结案率 as lines, as inline SVG."""
    chart = _chart(pygal.Line, title="近 8 周结案率", dots_size=4, margin_right=36,
                   truncate_label=-1)  # room for "（进行中）", and no "…" instead
    # a week still under way is its last point so far, not its result
    chart.x_labels = [f"{t['week']}（进行中）" if t.get("partial") else t["week"] for t in data["trend"]]
    chart.add("结案率", [_pct(t["closure_rate"]) for t in data["trend"]])
    chart.add("按期结案率", [_pct(t["on_time_rate"]) for t in data["trend"]])  # dashed: css/report.css
    return chart.render(is_unicode=True)


# how a column's values are written: TEXT as is, COUNT whole numbers, RATE fractions shown as percent, HOURS
# decimals, TIME instants shown in the report's zone
TEXT, COUNT, RATE, HOURS, TIME = "text", "count", "rate", "hours", "time"
INDICATOR_KINDS = {key: RATE if key.endswith("_rate") else HOURS if key.endswith("_hours") else COUNT
                   for key, _ in INDICATORS}
Table = tuple[str, list[str], list[str], list[list]]  # title, header, each column's kind, rows of typed values


def tables(data: dict) -> list[Table]:
    """Every table of the report as (title, header, kinds, rows): overall, per group, overdue, reporters; values
    typed (numbers, fractions, aware datetimes, None for nothing) for Excel, written out by shown_tables."""
    header = ["名称"] + [label for _, label in INDICATORS] + ["上周结案率", "上周按期结案率"]
    kinds = [TEXT] + [INDICATOR_KINDS[k] for k, _ in INDICATORS] + [RATE, RATE]

    def row(name, f, before):
        return [name] + [f[k] for k, _ in INDICATORS] + [before["closure_rate"], before["on_time_rate"]]

    result = [("总体", header, kinds, [row(data.get("scope_name") or "全社区", data["overall"], data["previous"])])]
    result += ranking_tables(data)
    for key, title in GROUP_TABLES:
        if data.get(key) or data.get("level", "community") != "district":  # the district lists no grids or workers
            result.append((title, header, kinds, [row(r["name"], r["figures"], r["previous"]) for r in data[key]]))
    result.append((OVERDUE, ["案件编号", "类别", "网格", "处置人", "期限", "超期(小时)"],
                   [TEXT, TEXT, TEXT, TEXT, TIME, COUNT],
                   [[o["case_no"], o["category"], o["grid"] or "", o["assignee"] or "", instant(o["deadline_at"]),
                     o["hours_overdue"]] for o in overdue_cases(data)]))
    result.append((RANKING, ["用户名", "姓名", "上报数", "有效上报", "本周积分"],
                   [TEXT, TEXT, COUNT, COUNT, COUNT],
                   [[r["username"], r["display_name"], r["reports"], r["valid"], r["points"]]
                    for r in data["reporters"]]))
    if data.get("rankings"):  # above a community: why its parts sent work back
        result.append((SEND_BACKS, ["原因", "退回数"], [TEXT, COUNT],
                       [[r["name"], r["count"]] for r in data.get("send_back_reasons", [])]))
    return result


RANKING_KINDS = {"rank": COUNT, "name": TEXT, "transfers": COUNT, "escalations": COUNT,
                 "dispatched": COUNT,  # not a state: a count's name
                 "sent_back": COUNT, "send_back_rate": RATE, **INDICATOR_KINDS}


def ranking_tables(data: dict) -> list[Table]:
    """The report's league tables (a street office's communities; the district's offices and communities), each
    part's row in rank order, the scope's own cases in none of them last, unranked."""
    result = []
    for table in data.get("rankings") or []:
        office = table["level"] == "community" and data.get("level") == "district"
        header = [label for key, label, _ in RANKING_COLUMNS] + (["所属街道"] if office else [])
        kinds = [RANKING_KINDS[key] for key, _, _ in RANKING_COLUMNS] + ([TEXT] if office else [])
        rows = table["rows"] + ([{**table["own"], "rank": None, "office": ""}] if table.get("own") else [])
        result.append((table["title"], header, kinds,
                       [[r.get(key, r["figures"].get(key)) if key in ("rank", "name") else r["figures"][key]
                         for key, _, _ in RANKING_COLUMNS] + ([r.get("office") or ""] if office else [])
                        for r in rows]))
    return result


def written(kind: str, value, tz: str) -> str:
    """A typed cell as the page and the CSV write it: 75.0%, 2026-02-27 12:00 (local), — for nothing."""
    if kind == RATE:
        return percent(value)
    if value is None:
        return "" if kind in (TEXT, TIME) else "—"
    return local_time(value, tz) if kind == TIME else str(value)


def shown_tables(data: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """Every table as (title, header, rows) of text, as the page and the CSV show them."""
    tz = data["timezone"]
    return [(title, header, [[written(k, v, tz) for k, v in zip(kinds, values)] for values in rows])
            for title, header, kinds, rows in tables(data)]


# Excel's number formats for the typed cells; times are naive local datetimes (Excel knows no zones)
EXCEL_FORMATS = {RATE: "0.0%", HOURS: "0.0", COUNT: "0", TIME: "yyyy-mm-dd hh:mm"}


def _excel_value(kind: str, value, tz: str):
    """A typed cell as Excel keeps it: a time as the community's wall-clock reading, the rest unchanged."""
    if kind == TIME and value is not None:
        return value.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    return value


def workbook(data: dict) -> bytes:
    """The report as an .xlsx workbook, one sheet per table."""
    tz, when = data["timezone"], period(data)
    book = Workbook()
    book.remove(book.active)
    for title, header, kinds, rows in tables(data):
        sheet = book.create_sheet(title)
        append_row(sheet, header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for values in rows:
            append_row(sheet, [_excel_value(k, v, tz) for k, v in zip(kinds, values)])
            for kind, cell in zip(kinds, sheet[sheet.max_row]):
                if kind in EXCEL_FORMATS:
                    cell.number_format = EXCEL_FORMATS[kind]
        for column, kind in enumerate(kinds, start=1):
            if kind == TIME:
                sheet.column_dimensions[get_column_letter(column)].width = 17
        sheet.freeze_panes = "B2"
    book.properties.title = f"随手拍周报 {data['week']}{progress_note(data)}"
    book.properties.description = f"{when['first_day']} 至 {when['last_day']}，生成于 {when['built_at']}（{tz}）"
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def csv_text(data: dict) -> str:
    """The report as CSV: the tables one after another, each under its title (UTF-8 with BOM for Excel)."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = CsvWriter(buf)
    when = period(data)
    writer.writerow([f"随手拍周报 {data['week']}{progress_note(data)}", f"{when['first_day']} 至 {when['last_day']}",
                     f"生成于 {when['built_at']}（{data['timezone']}）"])
    for title, header, rows in shown_tables(data):
        writer.writerow([])
        writer.writerow([title])
        writer.writerow(header)
        writer.writerows(rows)
    return buf.getvalue()
