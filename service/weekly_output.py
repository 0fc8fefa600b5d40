"""The weekly report as people take it away: SVG charts, an Excel workbook (one sheet per table), and CSV."""
from __future__ import annotations

import io
from datetime import UTC, datetime

import pygal
from openpyxl import Workbook
from openpyxl.styles import Font
from pygal.style import Style

from service.local_time import local_time
from service.spreadsheets import CsvWriter, append_row
from service.weekly import percent

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
             range=(0, 100), show_y_guides=True, width=760, height=320,
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


def shown(key: str, value) -> str:
    """An indicator as the tables show it: rates as percent, missing values as —."""
    if key.endswith("_rate"):
        return percent(value)
    return "—" if value is None else str(value)


def local_minute(iso: str, tz: str) -> str:
    """An instant kept in the report (ISO 8601) as its readers write it: 2026-12-02 11:10, in the report's zone."""
    instant = datetime.fromisoformat(iso)
    instant = instant if instant.tzinfo else instant.replace(tzinfo=UTC)  # the database keeps UTC
    return local_time(instant, tz)


def _pct(rate):
    return None if rate is None else round(rate * 100, 1)


def grid_rates_chart(data: dict) -> str:
    """A bar chart of 结案率 and 按期结案率 per grid, as inline SVG."""
    chart = _chart(pygal.Bar, title=f"{data['week']} 各网格结案率与按期结案率")
    rows = data["by_grid"]
    chart.x_labels = [row["name"].split("·")[0] for row in rows]
    chart.add("结案率", [_pct(row["figures"]["closure_rate"]) for row in rows])
    chart.add("按期结案率", [_pct(row["figures"]["on_time_rate"]) for row in rows])
    return chart.render(is_unicode=True)


def trend_chart(data: dict) -> str:
    """The last 8 weeks' 结案率 and 按期结案率 as lines, as inline SVG."""
    chart = _chart(pygal.Line, title="近 8 周结案率", dots_size=4)
    chart.x_labels = [t["week"] for t in data["trend"]]
    chart.add("结案率", [_pct(t["closure_rate"]) for t in data["trend"]])
    chart.add("按期结案率", [_pct(t["on_time_rate"]) for t in data["trend"]])  # dashed: css/report.css
    return chart.render(is_unicode=True)


def tables(data: dict) -> list[tuple[str, list[str], list[list]]]:
    """Every table of the report as (title, header, rows): overall, per group, overdue, reporters."""
    header = ["名称"] + [label for _, label in INDICATORS] + ["上周结案率", "上周按期结案率"]

    def row(name, f, before):
        return [name] + [shown(k, f[k]) for k, _ in INDICATORS] + [percent(before["closure_rate"]),
                                                                    percent(before["on_time_rate"])]

    result = [("总体", header, [row("全社区", data["overall"], data["previous"])])]
    for key, title in GROUP_TABLES:
        result.append((title, header, [row(r["name"], r["figures"], r["previous"]) for r in data[key]]))
    result.append(("超期未结", ["案件编号", "类别", "网格", "处置人", "期限", "超期(小时)"],
                   [[o["case_no"], o["category"], o["grid"] or "", o["assignee"] or "",
                     local_minute(o["deadline_at"], data["timezone"]),
                     o["hours_overdue"]] for o in data["overdue"]]))
    result.append(("上报人排行", ["用户名", "姓名", "上报数", "有效上报", "本周积分"],
                   [[r["username"], r["display_name"], r["reports"], r["valid"], r["points"]]
                    for r in data["reporters"]]))
    return result


def workbook(data: dict) -> bytes:
    """The report as an .xlsx workbook, one sheet per table."""
    book = Workbook()
    book.remove(book.active)
    for title, header, rows in tables(data):
        sheet = book.create_sheet(title)
        append_row(sheet, header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for values in rows:
            append_row(sheet, values)
        sheet.freeze_panes = "B2"
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def csv_text(data: dict) -> str:
    """The report as CSV: the tables one after another, each under its title (UTF-8 with BOM for Excel)."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = CsvWriter(buf)
    writer.writerow([f"随手拍周报 {data['week']}", data["start"], data["end"]])
    for title, header, rows in tables(data):
        writer.writerow([])
        writer.writerow([title])
        writer.writerow(header)
        writer.writerows(rows)
    return buf.getvalue()
