"""Workbook writer: opens cleanly, typed cells, README caveat, identical bytes on rewrite."""

from __future__ import annotations

import datetime as dt
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from evsynth.report.workbook import CAVEAT, sanitize_sheet_names, write_workbook


def _sheets():
    a = pd.DataFrame({
        "study": ["wong2021", "deng2017", None],
        "n": [3, 12, 7],
        "pct": [0.0, np.nan, 41.666666],
        "flag": pd.array([True, pd.NA, False], dtype="boolean"),
        "levels": [["iv", "intranasal"], [], ["iv"]],
        "text": ["=1+1", "x" * 200, "bell\x07"],
    })
    b = pd.DataFrame({"value": [1.5e6, 2.0]})
    return {"summaries: by route/donor [long]": a, "cases": b, "README": b.head(1)}


def test_sanitize_sheet_names():
    names = sanitize_sheet_names(["a/b:c", "x" * 40, "x" * 40, "readme", "", "'q'"])
    assert names[0] == "a_b_c"
    assert names[1] == "x" * 31 and names[2] == "x" * 29 + "~2" and len(names[2]) == 31
    assert names[3] == "readme~2" and names[4] == "Sheet" and names[5] == "q"


def test_workbook_content(tmp_path):
    path = write_workbook(_sheets(), tmp_path / "out" / "summary.xlsx", notes="Line one\nLine two")
    wb = load_workbook(path)
    assert wb.sheetnames == ["README", "summaries_ by route_donor _long", "cases", "README~2"]
    readme = [r[0] for r in wb["README"].iter_rows(values_only=True)]
    assert readme[0] == "README" and readme[1] == CAVEAT
    assert "Line one" in readme and "Line two" in readme
    assert "cases: 2 rows x 1 columns" in readme
    ws = wb["summaries_ by route_donor _long"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("study", "n", "pct", "flag", "levels", "text")
    assert rows[1] == ("wong2021", 3, 0.0, True, "iv;intranasal", "'=1+1")
    assert rows[2][2] is None and rows[2][3] is None  # NaN and NA -> empty cells
    assert rows[3][0] is None and rows[3][2] == pytest.approx(41.666666) and rows[3][5] == "bell"
    assert ws["B2"].data_type == "n" and ws["C4"].data_type == "n" and ws["A2"].data_type == "s"
    assert ws["A1"].font.b and ws.freeze_panes == "A2"
    assert ws.column_dimensions["F"].width == 60  # capped
    assert ws.column_dimensions["B"].width >= 3
    assert wb["cases"]["A2"].value == 1.5e6
    assert wb.properties.created == dt.datetime(2000, 1, 1)
    assert wb.properties.modified == dt.datetime(2000, 1, 1)
    back = pd.read_excel(path, sheet_name="cases")
    assert back["value"].tolist() == [1.5e6, 2.0]


def test_identical_bytes_on_rewrite(tmp_path):
    p1 = write_workbook(_sheets(), tmp_path / "a.xlsx", notes="n")
    time.sleep(2.1)  # zip timestamps have 2-second resolution
    p2 = write_workbook(_sheets(), tmp_path / "b.xlsx", notes="n")
    assert p1.read_bytes() == p2.read_bytes()
    with zipfile.ZipFile(p1) as z:
        assert z.testzip() is None
        assert {i.date_time for i in z.infolist()} == {(2000, 1, 1, 0, 0, 0)}


def test_empty_frame_and_different_content_differs(tmp_path):
    p1 = write_workbook({"empty": pd.DataFrame({"a": []})}, tmp_path / "e.xlsx")
    wb = load_workbook(p1)
    assert [c.value for c in wb["empty"][1]] == ["a"] and wb["empty"].max_row == 1
    p2 = write_workbook({"empty": pd.DataFrame({"a": [1]})}, tmp_path / "f.xlsx")
    assert p1.read_bytes() != p2.read_bytes()


def test_numbers_shown_to_sensible_digits_but_stored_in_full(tmp_path):
    """A reviewer opening the workbook sees 0.1278, not 0.127819548733897 (issue 13 item 9); the cell keeps
    the full value, as the CSV does."""
    from evsynth.report.workbook import number_format

    frame = pd.DataFrame({"estimate": [0.12781954873389773, 12.3456789, 2.1284298386121556e-22, 3.0, 1.5e6],
                          "k": [3, 4, 5, 6, 7]})
    path = write_workbook({"pooled": frame}, tmp_path / "p.xlsx")
    ws = load_workbook(path)["pooled"]
    cells = [ws.cell(row=i, column=1) for i in range(2, 7)]
    assert [c.number_format for c in cells] == ["0.0000", "0.00", "0.000E+00", "0", "0"]
    assert cells[0].value == pytest.approx(0.12781954873389773, rel=1e-15)  # stored in full
    assert ws.cell(row=2, column=2).number_format == "General"  # integers need no format
    assert number_format(-0.5) == "0.0000" and number_format(1234.5) == "0" and number_format(0.0004) == "0.000E+00"
