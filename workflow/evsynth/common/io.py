"""Reading and writing the pipeline's intermediates and tables, deterministically.

Intermediates are Parquet (typed, fast, lossless for floats); result tables are CSV with ``\\n`` line
endings plus a Markdown rendering, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import csv
import errno
import json
import re
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from evsynth.common.teardown import skip_final_collection
from evsynth.ingest.records import TABLES, Records

#: Said on every table and workbook of results.
CAVEAT = "These numbers describe the reported evidence; they do not show efficacy."


# A spreadsheet opening a CSV runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def neutralize_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells a spreadsheet would execute get a leading apostrophe (as the workbooks do for '=').

    Only text is touched: numbers (float columns, and text that is a plain number such as '-0.51') stay as
    they are, so tables without such text are byte-identical. Quotes and notes come from sources a curator
    pasted; a cell such as ``=HYPERLINK(...)`` or ``@SUM(...)`` must not run when a reviewer opens the table.
    """
    out = None
    for col in frame.columns:
        if frame[col].dtype != object:
            continue
        values = frame[col]
        risky = values.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS)
                           and not _PLAIN_NUMBER.match(v))
        if risky.any():
            out = frame.copy() if out is None else out
            out[col] = values.where(~risky, "'" + values.astype(str))
    return frame if out is None else out


def read_table(path: str | Path) -> pd.DataFrame:
    """A result table written by :func:`write_csv`, with the apostrophes :func:`neutralize_formulas` added
    removed again: what a page or a later step shows is the value itself (e.g. '-8.63 SLEDAI points')."""
    frame = pd.read_csv(path)
    for col in frame.columns:
        if frame[col].dtype == object:
            values = frame[col]
            guarded = values.map(lambda v: isinstance(v, str) and v[:1] == "'" and v[1:2] != ""
                                 and v[1:].startswith(FORMULA_STARTS))
            if guarded.any():
                frame[col] = values.where(~guarded, values.str[1:])
    return frame


def csv_header(path: str | Path) -> list[str]:
    """The column names of a CSV table (its first record, read with the csv module: about 30 times faster than
    ``pd.read_csv(path, nrows=0)``, which the evidence page's job did for each of its 30-odd tables)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), [])


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a result table as UTF-8 CSV without the index (formula-like text neutralized)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    neutralize_formulas(frame).to_csv(path, index=False, lineterminator="\n")


def _cell(value) -> str:
    """A Markdown cell: missing values (None, NaN, pandas' NA and NaT) empty, never '<NA>' or 'nan'."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (floats to 4 significant digits)."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_markdown(frame: pd.DataFrame, path: str | Path, title: str, preface: str = "") -> None:
    """Write ``frame`` as a titled Markdown document."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    text = f"# {title}\n\n" + (preface.strip() + "\n\n" if preface else "") + markdown_table(frame)
    Path(path).write_text(text, encoding="utf-8")


def save_records(records: Records, table_paths: list[str], studies_path: str) -> None:
    """Write validated tables (one Parquet per table, in ``TABLES`` order) and the study metadata."""
    for table, path in zip(TABLES, table_paths):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        records.tables[table].to_parquet(path, index=False)
    Path(studies_path).write_text(json.dumps(records.studies, indent=1, sort_keys=True, default=str), encoding="utf-8")


def load_saved_studies(studies_path: str | Path) -> dict:
    """The study metadata :func:`save_records` wrote (studies.json): study id -> its study.yaml."""
    return json.loads(Path(studies_path).read_text(encoding="utf-8"))


def load_saved_records(table_paths: list[str], studies_path: str) -> Records:
    """Read what :func:`save_records` wrote."""
    tables = {}
    for path in table_paths:
        name = Path(path).stem
        tables[name] = pd.read_parquet(path)
    return Records(studies=load_saved_studies(studies_path), tables=tables)


_WRITE_FAULTS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.ENOTDIR,
                 errno.EISDIR, errno.EEXIST}


def _exit_on_write_fault(exc: OSError, log) -> None:
    """A full disk or an unwritable results folder: one clear line (log and terminal), exit 1; else return."""
    text = str(exc)
    if exc.errno not in _WRITE_FAULTS and "No space left on device" not in text:
        return
    where = exc.filename or "the results"
    why = exc.strerror or text
    message = (f"error: cannot write {where}: {why}. Free disk space or make the folder writable, then rerun the "
               "same command (finished steps are kept).")
    _say(message, log)
    sys.exit(1)


def output_folder_problem(folder: str | Path) -> str | None:
    """Why the pipeline could not write into ``folder`` (results/, logs/), or None; checked before any job runs."""
    import tempfile

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return f"cannot write results: {folder} is a file, not a folder; move it away and rerun the same command"
    if folder.is_dir():
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            return (f"cannot write in {folder}/: {exc.strerror or exc}. Free disk space or make the folder "
                    "writable, then rerun the same command")
    return None


def _say(message: str, log) -> None:
    """Print to the step's log (when it can still be written) and to the terminal."""
    for stream in (log, sys.__stderr__):
        if stream is None:
            continue
        try:
            print(message, file=stream)
            stream.flush()
        except OSError:
            pass


@contextmanager
def step(log_path: str):
    """Run a workflow step: log to ``log_path``; a known data error exits 1 with its message, no traceback.

    Messages go to the log and to the terminal, so the curator sees which file, line and column to fix. A job
    in its own Python (no warm worker) ends without the interpreter's last garbage collections
    (:func:`evsynth.common.teardown.skip_final_collection`, about 0.2 s a job).
    """
    skip_final_collection()
    from evsynth.common.config import ConfigError
    from evsynth.common.inputs import InputError
    from evsynth.ingest.records import RecordValidationError

    known: tuple[type[BaseException], ...] = (RecordValidationError, ConfigError, InputError)
    try:
        from evsynth.harmonize.tables import HarmonizeError  # noqa: PLC0415 (present once harmonization exists)

        known = (*known, HarmonizeError)
    except ImportError:
        pass
    try:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as exc:
        _exit_on_write_fault(exc, None)
        raise
    sys.stderr = log
    try:
        yield
    except known as exc:
        _say(f"error: {exc}", log)
        sys.exit(1)
    except OSError as exc:
        _exit_on_write_fault(exc, log)
        raise
    except Exception:  # a bug, not a data problem: keep the traceback in the log too
        import traceback

        traceback.print_exc(file=log)
        log.flush()
        raise
    finally:
        sys.stderr = sys.__stderr__
        try:
            log.close()
        except OSError:  # a full disk: the message is already on the terminal
            pass


def split_rows(frame: pd.DataFrame, by: str | list[str] = "study"):
    """A function giving the rows of ``frame`` whose ``by`` column (a key) or columns (a tuple) equal the key,
    the frame split once: a loop over studies, arms or patients reads its own rows instead of selecting them
    from the whole table each time, which grew with the square of the corpus. The rows, their order, index and
    columns are those ``frame.loc[frame[by] == key]`` gives (an empty slice for a key without rows)."""
    parts = dict(iter(frame.groupby(by, sort=False))) if len(frame) else {}
    empty = frame.iloc[:0]
    return lambda key: parts.get(key, empty)


def rows_by_study(tables) -> Callable[[str], dict[str, pd.DataFrame]]:
    """A function giving one study's rows of every record table (:func:`split_rows` per table with a
    ``study`` column; another table is passed whole)."""
    split = {name: split_rows(df) for name, df in tables.items() if df is not None and "study" in df.columns}
    return lambda sid: {name: (split[name](sid) if name in split else df) for name, df in tables.items()}
