"""Write result tables to one .xlsx workbook (openpyxl), byte-for-byte reproducibly.

One sheet per table after a first ``README`` sheet; sheet names sanitized (``[]:*?/\\`` removed, at most 31
characters, unique); bold, frozen header row; column widths fitted to the content (capped); numbers stored
as numbers at full precision but shown to :data:`SIGNIFICANT_DIGITS` significant digits
(:func:`number_format`; the CSV tables hold the same values), NaN/None/NA as empty cells, booleans as booleans. The workbook's created/modified dates are
fixed (2000-01-01) and every zip entry gets the same fixed timestamp and order, so writing the same frames
twice gives identical bytes.
"""

from __future__ import annotations

import datetime as _dt
import io
import math
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.writer.excel import ExcelWriter

from evsynth.common.io import CAVEAT

__all__ = ["write_workbook", "sanitize_sheet_names", "number_format", "CAVEAT", "FIXED_TIME", "SIGNIFICANT_DIGITS"]

FIXED_TIME = _dt.datetime(2000, 1, 1, 0, 0, 0)
MAX_WIDTH = 60
MIN_WIDTH = 6
#: Significant digits a workbook shows for a non-integer number (the stored value keeps full precision).
SIGNIFICANT_DIGITS = 4
_BAD = re.compile(r"[\[\]:*?/\\]")


def sanitize_sheet_names(names, reserved=("README",)) -> list[str]:
    """Excel-safe, unique sheet names: forbidden characters ``[]:*?/\\`` become ``_``, leading/trailing
    apostrophes are dropped, at most 31 characters; clashes (case-insensitive, also with ``reserved``) get
    a ``~2``, ``~3``... suffix within the 31 characters; an empty name becomes ``Sheet``."""
    taken = {r.lower() for r in reserved}
    out = []
    for name in names:
        base = _BAD.sub("_", str(name)).strip().strip("'")[:31] or "Sheet"
        candidate, k = base, 1
        while candidate.lower() in taken:
            k += 1
            suffix = f"~{k}"
            candidate = base[: 31 - len(suffix)] + suffix
        taken.add(candidate.lower())
        out.append(candidate)
    return out


def _cell_value(v):
    """A value openpyxl stores natively: numbers as numbers, missing as None, everything else as text."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else (float(v) if math.isfinite(v) else str(v))
    if isinstance(v, (pd.Timestamp, _dt.datetime, _dt.date)):
        return v.isoformat()
    if isinstance(v, (list, tuple, set, np.ndarray)):
        return ";".join(str(x) for x in v)
    s = ILLEGAL_CHARACTERS_RE.sub("", str(v))  # control characters XML cannot hold
    if s.startswith("="):  # text, never a formula
        s = "'" + s
    return s


def number_format(value: float, digits: int = SIGNIFICANT_DIGITS) -> str:
    """The Excel number format showing ``value`` to ``digits`` significant digits: whole numbers as such
    (``0``), very small or large ones in scientific notation (``0.000E+00``), others with the decimals the
    digits need (0.12781954 -> ``0.0000``, shown 0.1278; 12.3456 -> ``0.00``, shown 12.35)."""
    if not math.isfinite(value) or value == 0 or (float(value).is_integer() and abs(value) < 1e15):
        return "0"
    size = abs(value)
    if size < 1e-3 or size >= 1e6:
        return "0." + "0" * (digits - 1) + "E+00"
    decimals = max(0, digits - 1 - math.floor(math.log10(size)))
    return "0." + "0" * decimals if decimals else "0"


def _width(values) -> float:
    longest = max((len(str(v)) for v in values if v is not None), default=0)
    return float(min(MAX_WIDTH, max(MIN_WIDTH, longest + 2)))


def _fill(ws, frame: pd.DataFrame) -> None:
    header = [str(c) for c in frame.columns]
    ws.append(header)
    columns = [[_cell_value(v) for v in frame[c].tolist()] for c in frame.columns]
    for row in zip(*columns):
        ws.append(list(row))
    bold = Font(bold=True)
    for cell in ws[1]:
        cell.font = bold
    for j, values in enumerate(columns, start=1):
        if not any(isinstance(v, float) for v in values):
            continue
        for i, v in enumerate(values, start=2):
            if isinstance(v, float):
                ws.cell(row=i, column=j).number_format = number_format(v)
    ws.freeze_panes = "A2"
    for j, (name, values) in enumerate(zip(header, columns), start=1):
        shown = [f"{v:.{SIGNIFICANT_DIGITS}g}" if isinstance(v, float) else v for v in values]
        ws.column_dimensions[ws.cell(row=1, column=j).column_letter].width = _width([name, *shown])


def _readme(ws, notes: str | None, names: list[str], frames: list[pd.DataFrame]) -> None:
    ws.append(["README"])
    ws["A1"].font = Font(bold=True)
    lines = [CAVEAT, ""]
    if notes:
        lines += [ln for ln in str(notes).splitlines()] + [""]
    lines.append("Sheets:")
    lines += [f"{n}: {len(f)} rows x {len(f.columns)} columns" for n, f in zip(names, frames)]
    for ln in lines:
        ws.append([ln])
    ws.column_dimensions["A"].width = 100
    for row in ws.iter_rows(min_row=2):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")


def _normalize_zip(data: bytes) -> bytes:
    """Rewrite the zip with a fixed timestamp, fixed permissions and the original entry order."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            fixed.create_system = 0
            dst.writestr(fixed, src.read(info.filename))
    return buf.getvalue()


def write_workbook(sheets: dict[str, pd.DataFrame], path, notes: str | None = None) -> Path:
    """Write ``sheets`` (name -> frame, in order) to ``path`` as .xlsx, after a README sheet.

    The README sheet carries :data:`CAVEAT` ("These numbers describe the reported evidence; they do not
    show efficacy."), then ``notes`` (one line per line), then each sheet's size. The index of each frame
    is not written (reset it first if it carries data). Output bytes depend only on the inputs.
    Returns the path written.
    """
    names = sanitize_sheet_names(list(sheets))
    frames = [f if isinstance(f, pd.DataFrame) else pd.DataFrame(f) for f in sheets.values()]
    wb = Workbook()
    _readme(wb.active, notes, names, frames)
    wb.active.title = "README"
    for name, frame in zip(names, frames):
        _fill(wb.create_sheet(title=name), frame)
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.properties.creator = "evsynth"
    wb.properties.lastModifiedBy = "evsynth"
    # Workbook.save() stamps 'modified' with the current time; the writer it wraps does not.
    buf = io.BytesIO()
    archive = zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    ExcelWriter(wb, archive).save()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_normalize_zip(buf.getvalue()))
    return path
