"""Helpers shared by the corpus anchor tests: read a study's records straight from its files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from evsynth.ingest.provenance import normalize_text as norm  # noqa: F401 (re-exported for the tests)

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "resources" / "studies"


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
