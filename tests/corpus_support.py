"""Helpers shared by the corpus anchor tests: read a study's records straight from its files; the shipped corpus
as the workflow validates it, read once per test process."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import pandas as pd
import yaml

from evsynth.ingest.provenance import normalize_text as norm  # noqa: F401 (re-exported for the tests)
from evsynth.ingest.records import Records, load_records

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "resources" / "studies"
SOURCES = ROOT / "resources" / "sources"


@functools.cache
def _shipped_records() -> Records:
    return load_records(STUDIES, sources_dir=SOURCES, root=ROOT)


def shipped_records() -> Records:
    """``load_records(resources/studies, sources_dir=resources/sources, root=ROOT)``: every record validated and every
    quote checked against its source text. Validated once per test process (seconds); each call returns a deep copy,
    which the caller may change."""
    return copy.deepcopy(_shipped_records())


def table(study: str, name: str) -> pd.DataFrame:
    """A study's CSV as written (empty frame when the study reports nothing of that kind)."""
    path = STUDIES / study / f"{name}.csv"
    if not path.exists():
        return pd.DataFrame()
    return pd.read_csv(path, dtype={"quote": str, "dose_text": str, "note": str})


def study_yaml(study: str) -> dict:
    return yaml.safe_load((STUDIES / study / "study.yaml").read_text(encoding="utf-8"))


def one(frame: pd.DataFrame, **where) -> float:
    """The ``value`` of the single row matching ``where`` (fails when there is not exactly one)."""
    sel = frame
    for col, val in where.items():
        sel = sel[sel[col] == val]
    assert len(sel) == 1, f"expected one row for {where}, found {len(sel)}"
    return float(sel["value"].iloc[0])
