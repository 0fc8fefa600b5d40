"""The quarterly exchange report (兑换季报): per community the goods given and the points spent and expired in a
quarter, and the stock left; rolled up to its street office and the district (sums of their parts); as tables for
the page, the workbook and the CSV."""
from __future__ import annotations

import io
from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from openpyxl import Workbook
from sqlalchemy.orm import Session

from service.ledger import PointsRules, Rule
from service.models import CatalogueItem, Exchange, PointsEntry, Redemption, RedemptionLine
from service.quarters import Quarter
from service.scope import Level
from service.spreadsheets import CsvWriter, append_row
from service.weekly_levels import ReportScope, district_scopes

FIGURES = (("redemptions", "兑换笔数"), ("flowers", "兑换紫藤花"), ("spent", "兑换积分"), ("reversed", "撤销退回积分"),
           ("expired", "过期积分"))
Table = tuple[str, list[str], list[list]]


def _per_community(session: Session, quarter: Quarter, rules: PointsRules) -> tuple[dict, dict]:
    """{community id: figures} and {community id: {item name: [given, flowers]}} of the quarter: redemptions
    not reversed (a reversal in the quarter gives its points back as `reversed`), and expiries."""
    start, end = quarter.start(rules.tz), quarter.end(rules.tz)
    figures: dict = defaultdict(lambda: dict.fromkeys((name for name, _ in FIGURES), 0))
    ledger = session.execute(sa.select(PointsEntry.community_id, PointsEntry.rule, sa.func.sum(PointsEntry.points),
                                       sa.func.count())
                             .where(PointsEntry.rule.in_((Rule.REDEEMED, Rule.REVERSAL, Rule.EXPIRED)),
                                    PointsEntry.created_at >= start, PointsEntry.created_at < end)
                             .group_by(PointsEntry.community_id, PointsEntry.rule)).all()
    for community, rule, points, count in ledger:
        into = figures[community]
        if rule == Rule.REDEEMED:
            into["spent"] += -int(points)
            into["redemptions"] += int(count)
        elif rule == Rule.REVERSAL:
            into["reversed"] += int(points)
        else:
            into["expired"] += -int(points)
    given: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    lines = session.execute(sa.select(Exchange.community_id, CatalogueItem.name, sa.func.sum(RedemptionLine.qty),
                                      sa.func.sum(RedemptionLine.qty * RedemptionLine.flowers_each))
                            .select_from(RedemptionLine).join(Redemption).join(CatalogueItem)
                            .join(Exchange, Exchange.id == Redemption.exchange_id)
                            .where(Redemption.created_at >= start, Redemption.created_at < end,
                                   Redemption.reversed_at.is_(None))
                            .group_by(Exchange.community_id, CatalogueItem.name)).all()
    for community, name, qty, flowers in lines:
        given[community][name] = [int(qty), int(flowers)]
        figures[community]["flowers"] += int(flowers)
    return figures, given


def _stock(session: Session) -> dict[int, dict[str, int]]:
    """{community id: {item name: stock now}} of the goods still offered."""
    rows = session.execute(sa.select(Exchange.community_id, CatalogueItem.name, CatalogueItem.stock)
                           .join(CatalogueItem, CatalogueItem.exchange_id == Exchange.id)
                           .where(CatalogueItem.active.is_(True))).all()
    stock: dict = defaultdict(dict)
    for community, name, left in rows:
        stock[community][name] = int(left)
    return stock


def _parts(scope: ReportScope, scopes: list[ReportScope]) -> list[ReportScope]:
    """The communities a scope holds (itself, for a community)."""
    return [s for s in scopes if s.level is Level.COMMUNITY and scope.holds(s)]


def exchange_report(session: Session, quarter: Quarter, scope: ReportScope, rules: PointsRules,
                    now: datetime) -> dict:
    """The scope's report of the quarter: its figures (the sum of its communities'), each community's row, the
    goods given (by name, summed), the stock left now."""
    scopes = district_scopes(session)
    figures, given = _per_community(session, quarter, rules)
    stock = _stock(session)
    parts = _parts(scope, scopes)
    total = dict.fromkeys((name for name, _ in FIGURES), 0)
    rows, goods, left = [], defaultdict(lambda: [0, 0]), defaultdict(int)
    for part in parts:
        own = {name: figures[part.id][name] if part.id in figures else 0 for name, _ in FIGURES}
        rows.append({"name": part.name, "office": part.office_name, "scope": part.key, **own})
        for name in total:
            total[name] += own[name]
        for item, (qty, flowers) in given.get(part.id, {}).items():
            goods[item][0] += qty
            goods[item][1] += flowers
        for item, count in stock.get(part.id, {}).items():
            left[item] += count
    return {"quarter": quarter.name, "scope": scope.key, "scope_name": scope.name, "level": scope.level.value,
            "first_day": quarter.first_day().isoformat(), "last_day": quarter.last_day().isoformat(),
            "under_way": now < quarter.end(rules.tz), "built_at": now.isoformat(timespec="seconds"),
            "total": total, "communities": rows,
            "goods": [{"item": name, "given": qty, "flowers": flowers, "stock_left": left.get(name, 0)}
                      for name, (qty, flowers) in sorted(goods.items())] +
                     [{"item": name, "given": 0, "flowers": 0, "stock_left": count}
                      for name, count in sorted(left.items()) if name not in goods]}


def report_tables(data: dict) -> list[Table]:
    """The report's tables: its totals, its communities, its goods."""
    header = [label for _, label in FIGURES]
    tables = [("合计", ["范围"] + header, [[data["scope_name"]] + [data["total"][name] for name, _ in FIGURES]])]
    if data["level"] != Level.COMMUNITY.value:
        tables.append(("各社区", ["社区", "街道"] + header,
                       [[r["name"], r["office"]] + [r[name] for name, _ in FIGURES] for r in data["communities"]]))
    tables.append(("兑出物品", ["物品", "兑出数量", "紫藤花", "现有库存"],
                   [[g["item"], g["given"], g["flowers"], g["stock_left"]] for g in data["goods"]]))
    return tables


def workbook(data: dict) -> bytes:
    """The report as an Excel workbook, one sheet per table."""
    book = Workbook()
    book.remove(book.active)
    for title, header, rows in report_tables(data):
        sheet = book.create_sheet(title)
        append_row(sheet, [f"{data['scope_name']} {data['quarter']} 兑换季报"])
        append_row(sheet, header)
        for row in rows:
            append_row(sheet, row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_text(data: dict) -> str:
    """The report's tables as CSV, one after another under their titles."""
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.writerow([f"{data['scope_name']} {data['quarter']} 兑换季报"])
    for title, header, rows in report_tables(data):
        writer.writerow([])
        writer.writerow([title])
        writer.writerow(header)
        writer.writerows(rows)
    return "\ufeff" + out.getvalue()  # a BOM: Excel then reads the Chinese as UTF-8
