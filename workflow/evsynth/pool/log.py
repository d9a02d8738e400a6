"""What one pooling step writes to its log (``logs/pool_analysis/<analysis>.log``): the studies pooled (k),
those left out and why, and every warning, so a reviewer reads what happened without opening the tables."""

from __future__ import annotations

import math
import warnings as _warnings
from collections.abc import Iterable

import pandas as pd

__all__ = ["analysis_log"]


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

    Lines: the analysis and its outcome; ``main: k = ..`` with the patients, method, test, model and the
    studies; each other row of ``pooled.csv`` (subgroups, variants, definitions, controlled contrast) with
    its k; ``excluded (m):`` and one line per study left out with the reason (or ``excluded: none``); a
    ``warning:`` line for a fit that did not converge, for each message of a row that did not converge and
    for each Python warning ``caught`` while the analysis ran.
    """
    pooled, excluded = out["pooled"], out["excluded"]
    measures = ", ".join(spec.get("outcome", {}).get("measures", []))
    lines = [f"analysis {name}: {spec.get('title', name)} (effect {spec.get('effect', '')}; measures {measures})"]
    warns = []
    for row in pooled.to_dict("records"):
        is_main = row.get("subgroup") == "all" and row.get("variant") == "main"
        label = "main" if is_main else f"{row.get('subgroup')} / {row.get('variant')}"
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
        if not bool(row.get("converged")) and not str(row.get("subgroup", "")).endswith(": test"):
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
