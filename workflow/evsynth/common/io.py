"""Reading and writing the pipeline's intermediates and tables, deterministically.

Intermediates are Parquet (typed, fast, lossless for floats); result tables are CSV with ``\\n`` line
endings plus a Markdown rendering, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from evsynth.ingest.records import TABLES, Records


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a result table as UTF-8 CSV without the index."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n")


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
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


def load_saved_records(table_paths: list[str], studies_path: str) -> Records:
    """Read what :func:`save_records` wrote."""
    tables = {}
    for path in table_paths:
        name = Path(path).stem
        tables[name] = pd.read_parquet(path)
    studies = json.loads(Path(studies_path).read_text(encoding="utf-8"))
    return Records(studies=studies, tables=tables)


@contextmanager
def step(log_path: str):
    """Run a workflow step: log to ``log_path``; a known data error exits 1 with its message, no traceback.

    Messages go to the log and to the terminal, so the curator sees which file, line and column to fix.
    """
    from evsynth.common.config import ConfigError
    from evsynth.common.inputs import InputError
    from evsynth.ingest.records import RecordValidationError

    known: tuple[type[BaseException], ...] = (RecordValidationError, ConfigError, InputError)
    try:
        from evsynth.harmonize.tables import HarmonizeError  # noqa: PLC0415 (present once harmonization exists)

        known = (*known, HarmonizeError)
    except ImportError:
        pass
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        sys.stderr = log
        try:
            yield
        except known as exc:
            print(f"error: {exc}", file=log)
            print(f"error: {exc}", file=sys.__stderr__)
            log.flush()
            sys.exit(1)
        except Exception:  # a bug, not a data problem: keep the traceback in the log too
            import traceback

            traceback.print_exc(file=log)
            log.flush()
            raise
        finally:
            sys.stderr = sys.__stderr__
