"""The file formats: CSV (UTF-8 with a BOM, so Excel reads Chinese text) and XLSX (XlsxWriter in
constant-memory mode: each row goes to disk as it is written). Both write to a file on local disk, one
row at a time; neither holds a sheet in memory.

An XLSX sheet holds at most XLSX_MAX_ROWS rows, the header included: the rows go on in a new sheet
named "订单 (2)", "订单 (3)" …, each with the header again, and the writer reports the sheets it made."""

from __future__ import annotations

import csv
import re
from datetime import date, datetime
from decimal import Decimal

import xlsxwriter
from xlsxwriter.utility import _preserve_whitespace, xl_col_to_name

XLSX_MAX_ROWS = 1_048_576  # Excel's limit per sheet, the header row included
FAST_ROWS = True  # rows as XML text, written straight into the sheet's row file (see XlsxFile.row)
# Text XlsxWriter would change: XML's specials, control characters, its own _xHHHH_ escape, non-chars.
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
_TEXT_MAX = 16_383  # characters: within Excel's 32,767 UTF-16 units whatever the text
SHEET_NAME_MAX = 31
# CSV cells a spreadsheet would read as a formula (CSV injection): prefixed with an apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMATS = {
    "csv": ("text/csv", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}


def _csv_cell(value):
    kind = type(value)
    if kind is str:
        return "'" + value if value.startswith(_FORMULA_START) else value
    if kind is datetime:
        return value.isoformat(" ", "minutes")
    if kind is date:
        return value.isoformat()
    return value  # int, float, Decimal; None is written as an empty cell


class CsvFile:
    """`row(values)` writes one line; `close()` returns what was written."""

    def __init__(self, path: str, title: str, header: list[str]):
        self.file = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed in close)
        self.writer = csv.writer(self.file)
        self.writer.writerow(header)
        self.rows = 0

    def row(self, values) -> None:
        self.writer.writerow([_csv_cell(v) for v in values])
        self.rows += 1

    def close(self) -> dict:
        self.file.close()
        return {"rows": self.rows, "sheets": []}


def sheet_name(title: str, n: int) -> str:
    """The n-th sheet's name: the title, then "title (2)" …, within Excel's 31 characters."""
    for bad in "[]:*?/\\":
        title = title.replace(bad, " ")
    suffix = "" if n == 1 else f" ({n})"
    return title[: SHEET_NAME_MAX - len(suffix)] + suffix


class XlsxFile:
    """`row(values)` writes one row (a new sheet when one is full); `close()` finishes the workbook and
    returns the rows and the sheets' names.

    The hot path: XlsxWriter's constant-memory mode keeps one row in a dict of cell objects and writes
    it out as XML when the next row starts; at ~18 cells a row that costs ~100 µs, capping an export at
    ~9,000 rows/s on this machine. With FAST_ROWS each row is rendered here as the same XML XlsxWriter
    writes (`<row r=…><c r=… t="inlineStr">…`, numbers with its `.16G`, its escapes) and appended to the
    sheet's row file, the sheet's dimensions kept through its own `_check_dimensions`; everything else
    (the header, styles, the workbook, the zip) is XlsxWriter's. `tests/exports/test_writers.py`
    compares both paths' sheet XML cell for cell."""

    def __init__(self, path: str, title: str, header: list[str]):
        self.book = xlsxwriter.Workbook(
            path, {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False}
        )
        self.bold = self.book.add_format({"bold": True})
        self.when = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        self.day = self.book.add_format({"num_format": "yyyy-mm-dd"})
        self.title, self.header = title, header
        self.sheets: list[str] = []
        self.rows = 0
        self.sheet = None
        self.at = 0
        self.max_rows = XLSX_MAX_ROWS  # read when the file opens (a test lowers it)
        self.fast = FAST_ROWS
        self.columns = [xl_col_to_name(c) for c in range(max(len(header), 1) + 64)]
        self._new_sheet()
        self.when_xf, self.day_xf = self.when._get_xf_index(), self.day._get_xf_index()

    def _new_sheet(self) -> None:
        name = sheet_name(self.title, len(self.sheets) + 1)
        self.sheet = self.book.add_worksheet(name)
        self.sheets.append(name)
        self.sheet.write_row(0, 0, self.header, self.bold)
        self.sheet._write_single_row(1)  # the header goes out now; the rows follow it
        self.at = 1

    def row(self, values) -> None:
        if self.at >= self.max_rows:
            self._new_sheet()
        if self.fast:
            self._fast_row(values)
        else:
            self._cells(values)
        self.at += 1
        self.rows += 1

    def _fast_row(self, values) -> None:
        r, columns, sheet = self.at, self.columns, self.sheet
        n = r + 1
        parts = [f'<row r="{n}">']
        last = 0
        for c, value in enumerate(values):
            if value is None:
                continue
            last = c
            kind = type(value)
            if kind is str:
                if len(value) > _TEXT_MAX:
                    value = value[:_TEXT_MAX]
                if _SPECIAL.search(value):
                    value = sheet._escape_data(sheet._escape_control_characters(value))
                space = ' xml:space="preserve"' if _preserve_whitespace(value) else ""
                parts.append(f'<c r="{columns[c]}{n}" t="inlineStr"><is><t{space}>{value}</t></is></c>')
            elif kind is int or kind is float:
                parts.append(f'<c r="{columns[c]}{n}"><v>{value:.16G}</v></c>')
            elif kind is datetime:
                parts.append(f'<c r="{columns[c]}{n}" s="{self.when_xf}"><v>{_serial(value):.16G}</v></c>')
            elif kind is date:
                serial = float(value.toordinal() - _EPOCH_ORDINAL)
                parts.append(f'<c r="{columns[c]}{n}" s="{self.day_xf}"><v>{serial:.16G}</v></c>')
            elif kind is bool:
                parts.append(f'<c r="{columns[c]}{n}" t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, int | float | Decimal):
                parts.append(f'<c r="{columns[c]}{n}"><v>{float(value):.16G}</v></c>')
            else:
                text = sheet._escape_data(sheet._escape_control_characters(str(value)))
                parts.append(f'<c r="{columns[c]}{n}" t="inlineStr"><is><t>{text}</t></is></c>')
        parts.append("</row>")
        sheet.fh.write("".join(parts))
        sheet._check_dimensions(r, last)
        sheet.previous_row = r

    def _cells(self, values) -> None:
        """The same row through XlsxWriter's own (undecorated) cell writers."""
        r, sheet = self.at, self.sheet
        for c, value in enumerate(values):
            kind = type(value)
            if kind is str:
                sheet._write_string(r, c, value)
            elif kind is int or kind is float:
                sheet._write_number(r, c, value)
            elif value is None:
                continue
            elif kind is datetime:
                sheet._write_number(r, c, _serial(value), self.when)
            elif kind is date:
                sheet._write_number(r, c, float(value.toordinal() - _EPOCH_ORDINAL), self.day)
            elif kind is bool:
                sheet._write_boolean(r, c, value)
            elif isinstance(value, int | float | Decimal):
                sheet._write_number(r, c, float(value))
            else:
                sheet._write_string(r, c, str(value))

    def close(self) -> dict:
        self.book.close()
        return {"rows": self.rows, "sheets": self.sheets}


_EPOCH_ORDINAL = date(1899, 12, 30).toordinal()  # Excel's day 0 (1900 date system, after 1900-03-01)


def _serial(moment: datetime) -> float:
    """A naive local time as Excel's serial number: days since 1899-12-30 and the fraction of the day."""
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    return moment.toordinal() - _EPOCH_ORDINAL + seconds / 86400


def open_writer(fmt: str, path: str, title: str, header: list[str]):
    if fmt == "csv":
        return CsvFile(path, title, header)
    return XlsxFile(path, title, header)
