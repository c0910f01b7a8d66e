"""The file writers alone: XLSX rows written as XML text are exactly what XlsxWriter's own cell
writers make; CSV keeps Chinese text, writes dates as local wall times and defuses formulas."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from decimal import Decimal

import pytest

from tests.exports.conftest import read_csv, read_xlsx
from volunteer_app.exports import writers

HEADER = ["编号", "标题", "时间", "空", "小时", "日期", "真假", "金额", "其他"]
ROWS = [
    (
        1,
        "陪独居老人就医",
        datetime(2026, 11, 2, 9, 30),
        None,
        1.5,
        date(2026, 11, 2),
        True,
        Decimal("2.5"),
        "x",
    ),
    (2, 'a & <b> "c" _x0001_ \x01 \ufffe', datetime(2026, 1, 1), None, 0.1, None, False, None, None),
    (3, "  leading and trailing  ", None, None, 12345678901234, None, None, None, "=1+2"),
    (4, "\n换行\t制表", None, None, -3.25, date(1900, 3, 1), None, None, "@x"),
    (5, "", None, None, 0, None, None, None, None),
]


def _sheet_xml(tmp_path, fast: bool, monkeypatch) -> str:
    monkeypatch.setattr(writers, "FAST_ROWS", fast)
    path = tmp_path / f"{fast}.xlsx"
    writer = writers.open_writer("xlsx", str(path), "订单", HEADER)
    for row in ROWS:
        writer.row(row)
    writer.close()
    return zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()


def test_fast_rows_are_the_xml_xlsxwriter_writes(tmp_path, monkeypatch):
    assert _sheet_xml(tmp_path, True, monkeypatch) == _sheet_xml(tmp_path, False, monkeypatch)


@pytest.mark.parametrize("fast", [True, False])
def test_xlsx_cells_read_back(tmp_path, monkeypatch, fast):
    monkeypatch.setattr(writers, "FAST_ROWS", fast)
    path = tmp_path / "x.xlsx"
    writer = writers.open_writer("xlsx", str(path), "订单", HEADER)
    for row in ROWS:
        writer.row(row)
    assert writer.close() == {"rows": 5, "sheets": ["订单"]}
    rows = list(read_xlsx(path.read_bytes())["订单"].iter_rows(values_only=True))
    assert rows[0] == tuple(HEADER)
    assert rows[1] == (
        1,
        "陪独居老人就医",
        datetime(2026, 11, 2, 9, 30),
        None,
        1.5,
        datetime(2026, 11, 2),
        True,
        2.5,
        "x",
    )
    # Excel reads _xHHHH_ back as the character (openpyxl leaves it): XML's specials are intact.
    assert rows[2][1].startswith('a & <b> "c" _x005F_x0001_ _x0001_') and rows[2][6] is False
    assert rows[3][1] == "  leading and trailing  " and rows[3][4] == 12345678901234 and rows[3][8] == "=1+2"
    assert rows[4][1] == "\n换行\t制表" and rows[4][5] == datetime(1900, 3, 1)
    assert rows[5][0] == 5 and rows[5][4] == 0


def test_csv_has_a_bom_local_times_and_no_formulas(tmp_path):
    path = tmp_path / "x.csv"
    writer = writers.open_writer("csv", str(path), "订单", HEADER)
    for row in ROWS:
        writer.row(row)
    assert writer.close()["rows"] == 5
    rows = read_csv(path.read_bytes())
    assert rows[0] == HEADER
    assert rows[1] == ["1", "陪独居老人就医", "2026-11-02 09:30", "", "1.5", "2026-11-02", "True", "2.5", "x"]
    assert rows[3][8] == "'=1+2" and rows[4][8] == "'@x" and rows[4][1] == "\n换行\t制表"


def test_sheet_names_stay_within_excels_rules():
    assert writers.sheet_name("订单", 1) == "订单"
    assert writers.sheet_name("a/b[c]:d", 2) == "a b c  d (2)"
    assert len(writers.sheet_name("x" * 40, 12)) == 31
