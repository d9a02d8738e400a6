"""Composite steps the workflow rules call: each joins a few package functions into one stage.

Kept here so that a rule script stays a few lines (read, call one function, write) and the logic
stays importable and tested.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .discrepancies import COLUMNS as DISCREPANCY_COLUMNS
from .harmonize import cumulative_doses, harmonize_doses, harmonize_outcomes, implied_weight_conflicts
from .summary_stats import impute_summary, load_thresholds, responders
from .units import DoseParseError, load_units, parse_dose
from .vocabulary import load_vocabulary


def ledger_part(frame: pd.DataFrame, status: str, reason: pd.Series | str) -> pd.DataFrame:
    """Ledger rows (study, file, line, status, reason) for the input rows behind ``frame``."""
    part = frame[["study", "file", "line"]].copy()
    part["status"] = status
    part["reason"] = reason
    part = part.loc[part["line"].astype(str).str.fullmatch(r"\d+(\.0)?")]
    part["line"] = part["line"].astype(float).astype(int)
    return part


def dose_step(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Doses read from ``dose_text`` (doses.csv), per-group totals, and weight conflicts.

    Rows a curator marked ``dose_readable: no`` (garbled in the source) are not parsed: their dose is
    absent and the rule says why, with the parser's reading of the problem. Any other unreadable dose
    stops the run with an error naming the row.
    """
    interventions = tables["interventions"].copy()
    garbled = interventions["dose_readable"].fillna("").astype(str).eq("no")
    texts = interventions.loc[garbled, "dose_text"]
    interventions.loc[garbled, "dose_text"] = ""
    doses = harmonize_doses(interventions, tables["participants"])
    if garbled.any():
        keyed = dict(zip(zip(interventions.loc[garbled, "file"], interventions.loc[garbled, "line"]), texts))
        for i in doses.index:
            key = (doses.at[i, "file"], doses.at[i, "line"])
            if key in keyed:
                doses.at[i, "dose_text"] = keyed[key]
                doses.at[i, "rule"] = "not read: marked dose_readable=no (garbled in source); " + _why_unreadable(keyed[key])
    conflicts = implied_weight_conflicts(doses)
    for col in DISCREPANCY_COLUMNS:
        if col not in conflicts.columns:
            conflicts[col] = ""
    return {
        "doses": doses,
        "cumulative": cumulative_doses(doses),
        "conflicts": conflicts[DISCREPANCY_COLUMNS],
        "ledger": ledger_part(doses, "converted", "dose read: " + doses["rule"].astype(str)),
    }


def _why_unreadable(text: str) -> str:
    try:
        parse_dose(text)
    except DoseParseError as exc:
        return f"parser: {exc}"
    return "parser could read it; review the dose_readable mark"


def outcome_step(outcomes: pd.DataFrame, vocabulary_dir: str | Path, summary_method: str,
                 prepost_correlation: float) -> dict[str, pd.DataFrame]:
    """Harmonized outcomes with imputed summary statistics flagged, and responder flags."""
    vocabulary_dir = Path(vocabulary_dir)
    measures = load_vocabulary(vocabulary_dir).measures
    units = load_units(vocabulary_dir / "units.yaml")
    harmonized = harmonize_outcomes(outcomes, measures, units)
    completed = impute_summary(harmonized, method=summary_method, r=prepost_correlation)
    thresholds = load_thresholds(vocabulary_dir / "responders.yaml")
    completed["line"] = completed["line"].astype(str).str.replace(r"\.0$", "", regex=True)
    original = completed.loc[~completed["imputed"].astype(bool)]
    return {
        "outcomes": completed,
        "responders": responders(completed, thresholds),
        "ledger": ledger_part(original, "converted", "outcome harmonized: " + original["rule"].astype(str)),
    }
