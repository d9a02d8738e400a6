"""What one pooling step writes to its log (``logs/pool_analysis/<analysis>.log``): the studies pooled (k),
those left out and why, and every warning, so a reviewer reads what happened without opening the tables."""

from __future__ import annotations

import math
import warnings as _warnings
from collections.abc import Iterable

import pandas as pd

__all__ = ["analysis_log", "DECLINED"]

#: Messages of rows the analysis declines to pool by its rules (a single study, too few studies for a test):
#: shown on their row, not repeated as warnings.
DECLINED = ("k = 1", "not assessable", "fewer than two", "no study")


def _num(value) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "" if math.isnan(v) else (f"{v:.0f}" if v.is_integer() else f"{v:.4g}")


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() in ("", "nan")


def analysis_log(name: str, spec: dict, out: dict[str, pd.DataFrame],
                 caught: Iterable[_warnings.WarningMessage] = ()) -> str:
    """The log text of analysis ``name`` from :func:`evsynth.pool.analysis.run_analysis`'s ``out``.

    Lines: the analysis and its outcome; ``main: k = ..`` (the first row) with the patients, method, test,
    model and the studies; each other row of ``pooled.csv`` (subgroups, variants, definitions, controlled
    contrast, with its effect measure where it differs) with its k and message; ``excluded (m studies):`` and
    one line per study left out with the reason (or ``excluded: none``); a ``warning:`` line for each row
    without an estimate that the rules did not decline on purpose (:data:`DECLINED`) and for each Python
    warning ``caught`` while the analysis ran (else ``warnings: none``).
    """
    pooled, excluded = out["pooled"], out["excluded"]
    first_measure = pooled["measure"].iloc[0] if len(pooled) and "measure" in pooled else None
    measures = ", ".join(spec.get("outcome", {}).get("measures", []))
    lines = [f"analysis {name}: {spec.get('title', name)} (effect {spec.get('effect', '')}; measures {measures})"]
    warns = []
    for i, row in enumerate(pooled.to_dict("records")):
        is_main = i == 0
        label = "main" if is_main else f"{row.get('subgroup')} / {row.get('variant')}"
        if not is_main and row.get("measure") not in (None, first_measure):
            label += f" ({row['measure']})"  # e.g. the controlled contrast's OR beside a single-arm proportion
        k = _num(row.get("k"))
        text = f"{label}: k = {k or 0}"
        if not _blank(row.get("n")):
            text += f", n = {_num(row['n'])}"
        if is_main:
            text += f"; method {row.get('method')}, test {row.get('test')}, model {row.get('model')}"
            if not _blank(row.get("studies")):
                text += f"; studies: {row['studies']}"
        if not _blank(row.get("message")):
            text += f"; {row['message']}"
        lines.append(text)
        declined = any(reason in str(row.get("message", "")) for reason in DECLINED)
        if not bool(row.get("converged")) and not declined and not str(row.get("subgroup", "")).endswith(": test"):
            warns.append(f"warning: {label}: no pooled estimate"
                         + (f" ({row['message']})" if not _blank(row.get("message")) else ""))
    if len(excluded):
        lines.append(f"excluded ({excluded['study'].nunique()} studies):")
        lines += [f"  {r['study']}: {r['reason']}" for r in excluded.to_dict("records")]
    else:
        lines.append("excluded: none")
    for w in caught:
        warns.append(f"warning: {w.category.__name__}: {w.message}")
    lines += warns or ["warnings: none"]
    return "\n".join(lines) + "\n"
