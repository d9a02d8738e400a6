"""Timepoints and follow-up: the one grammar, the one conversion to months, the one follow-up rule.

Grammar (resources/README.md "Timepoints"; the record validator checks every ``x-timepoint`` column against
:data:`TIMEPOINT`): ``baseline`` | ``post`` | ``<n> <days|weeks|months|years>`` | ``<a>-<b> <unit>`` (a range),
counted from the first MSC administration. The parser reads the same grammar leniently in case, spacing and
a singular unit (``6 Month``), so a hand-edited fact in study.yaml is not silently lost.

Months: days / (365.25/12), weeks x 7 / (365.25/12), months as is, years x 12 (overridable by the ``time``
block of resources/vocabulary/units.yaml). ``baseline`` is month 0; ``post`` (after MSC, time not stated) and
empty have no month. A range is read at its lower end, midpoint or upper end (``bound``): outcome times use
the midpoint (:func:`time_months`); follow-up uses the bound the config chooses (``followup.range_bound``,
default ``lower``: the follow-up every patient of the range reached).

:func:`followup` is the one follow-up rule; studies.csv, the bias checklist and the summaries all call it and
show its ``basis``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

__all__ = [
    "TIMEPOINT", "RANGE_BOUNDS", "DEFAULT_RANGE_BOUND", "DAYS_PER_MONTH", "Timepoint", "Followup", "parse_timepoint",
    "timepoint_months", "time_months", "followup",
]

TIMEPOINT = re.compile(r"^(baseline|post|\d+(\.\d+)?(-\d+(\.\d+)?)? (days|weeks|months|years))$")
_LENIENT = re.compile(r"^(?P<a>\d+(?:\.\d+)?)(?:\s*-\s*(?P<b>\d+(?:\.\d+)?))?\s*(?P<u>day|week|month|year)s?$")
RANGE_BOUNDS = ("lower", "midpoint", "upper")
DEFAULT_RANGE_BOUND = "lower"
#: Days per month used for all time conversions: a Julian year over 12 months.
DAYS_PER_MONTH = 365.25 / 12
_BOUND_WORD = {"lower": "lower end", "midpoint": "midpoint", "upper": "upper end"}


@dataclass(frozen=True)
class Timepoint:
    """A parsed timepoint: ``kind`` baseline | post | time; for a time its ``low``..``high`` (equal unless a
    range) in ``unit`` (day, week, month, year)."""

    text: str
    kind: str
    low: float = math.nan
    high: float = math.nan
    unit: str = ""

    @property
    def is_range(self) -> bool:
        return self.kind == "time" and self.high != self.low

    def value(self, bound: str = "midpoint") -> float:
        """The number in ``unit`` read at ``bound`` (lower, midpoint, upper)."""
        if bound not in RANGE_BOUNDS:
            raise ValueError(f"range bound {bound!r}: expected one of {list(RANGE_BOUNDS)}")
        if bound == "lower":
            return self.low
        if bound == "upper":
            return self.high
        return (self.low + self.high) / 2


def _blank(x: Any) -> bool:
    if x is None:
        return True
    try:
        if pd.isna(x):
            return True
    except (TypeError, ValueError):
        pass
    return str(x).strip() == ""


def parse_timepoint(text: Any) -> Timepoint | None:
    """The timepoint ``text`` means, or None if it is empty or not in the grammar."""
    if _blank(text):
        return None
    s = " ".join(str(text).strip().lower().split())
    if s in ("baseline", "post"):
        return Timepoint(s, s)
    m = _LENIENT.match(s)
    if not m:
        return None
    a = float(m.group("a"))
    b = float(m.group("b")) if m.group("b") else a
    return Timepoint(s, "time", a, b, m.group("u"))


def _per_month(units: Mapping | None) -> dict[str, float]:
    t = (units or {}).get("time", {}) or {}
    dpm = float(t.get("days_per_month", DAYS_PER_MONTH))
    dpw = float(t.get("days_per_week", 7))
    mpy = float(t.get("months_per_year", 12))
    return {"day": 1 / dpm, "week": dpw / dpm, "month": 1.0, "year": mpy, "_dpm": dpm, "_dpw": dpw, "_mpy": mpy}


def timepoint_months(text: Any, bound: str = "midpoint", units: Mapping | None = None) -> float:
    """Months after the first MSC for one timepoint (NaN for ``post``, empty or unreadable)."""
    tp = parse_timepoint(text)
    if tp is None or tp.kind == "post":
        return math.nan
    if tp.kind == "baseline":
        return 0.0
    return tp.value(bound) * _per_month(units)[tp.unit]


def _one_time(text: Any, per: dict, bound: str) -> tuple[float, str]:
    tp = parse_timepoint(text)
    if tp is None:
        return (np.nan, "time not reported") if _blank(text) else (np.nan, "ERROR")
    if tp.kind == "baseline":
        return 0.0, "baseline = month 0"
    if tp.kind == "post":
        return np.nan, "time not reported"
    u = tp.unit
    k = per[u]
    how = {
        "day": f"days / {per['_dpm']:g}",
        "week": f"weeks x {per['_dpw']:g} / {per['_dpm']:g}",
        "month": "months",
        "year": f"years x {per['_mpy']:g}",
    }[u]
    if not tp.is_range:
        return tp.low * k, f"{tp.text} = {tp.low * k:.4g} months ({how})"
    v = tp.value(bound)
    return v * k, f"{tp.text}: range, {_BOUND_WORD[bound]} {v:g} {u}s = {v * k:.4g} months ({how})"


def time_months(timepoint: pd.Series, units: Mapping | None = None,
                bound: str = "midpoint") -> tuple[pd.Series, pd.Series]:
    """Months since the first MSC administration for each timepoint, and the rule applied (vectorized).

    ``baseline`` -> 0; ``post`` or empty -> NaN (``time not reported``); a range -> its ``bound`` (the
    midpoint for outcome times; the rule says so). An unreadable timepoint gives NaN and the rule ``ERROR``.
    """
    per = _per_month(units)
    codes, uniq = pd.factorize(pd.Series(timepoint), use_na_sentinel=True)
    vals = [_one_time(u, per, bound) for u in uniq]
    months_u = np.array([v[0] for v in vals] + [np.nan], dtype=float)
    rule_u = np.array([v[1] for v in vals] + ["time not reported"], dtype=object)
    idx = np.where(codes < 0, len(uniq), codes)
    index = timepoint.index if isinstance(timepoint, pd.Series) else None
    return (pd.Series(months_u[idx], index=index, name="time_months"),
            pd.Series(rule_u[idx], index=index, name="time_rule"))


# ---------------------------------------------------------------------------------------------------------
# follow-up


@dataclass(frozen=True)
class Followup:
    """Follow-up in months, the basis it rests on (said in words, with the range bound where one was read),
    and the record rows behind it (a frame with ``file`` and ``line``; empty for a study.yaml fact)."""

    months: float
    basis: str
    rows: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False)
    fact: str = ""  # the study.yaml key when the basis is a fact

    @property
    def known(self) -> bool:
        return math.isfinite(self.months)


def _basis(what: str, text: str, bound: str, source: Any = "") -> str:
    tp = parse_timepoint(text)
    tail = f", {_BOUND_WORD[bound]} of the range" if tp is not None and tp.is_range else ""
    return f"{what} '{text}'" + ("" if _blank(source) else f" [{source}]") + tail


def _positive(texts: pd.Series, bound: str, units: Mapping | None) -> pd.Series:
    """Months of each text, NaN where not after the first MSC (post, baseline, 0, unreadable)."""
    months = texts.map(lambda t: timepoint_months(t, bound, units)).astype(float)
    return months.where(months > 0)


def _primary_first(rows: pd.DataFrame, studies: Mapping, study: str) -> pd.DataFrame:
    """Rows from primary sources first (study.yaml ``sources``), then by line (rows without a line last, as
    pandas sorts NaN); rows that tie keep their order. Sorted in Python: these are a group's few rows, and a
    pandas sort per study and group was most of the cost of :func:`followup`."""
    from evsynth.common.vocabulary import PRIMARY_SOURCE_KINDS

    sources = (studies.get(study) or {}).get("sources") or {}
    n = len(rows)
    prim = ([(sources.get(s) or {}).get("kind", "") in PRIMARY_SOURCE_KINDS for s in rows["source"].tolist()]
            if "source" in rows else [False] * n)
    line = (pd.to_numeric(rows["line"], errors="coerce").tolist() if "line" in rows else [0.0] * n)
    order = sorted(range(n), key=lambda i: (not prim[i], math.isnan(line[i]), 0.0 if math.isnan(line[i])
                                            else line[i]))
    return rows if order == list(range(n)) else rows.iloc[order]


def followup(studies: Mapping[str, dict], tables: Mapping[str, pd.DataFrame], study: str, group: str | None = None,
             *, patient: bool = False, bound: str = DEFAULT_RANGE_BOUND, units: Mapping | None = None) -> Followup:
    """The follow-up of a study (``group`` None) or of one of its groups (an arm, or a patient).

    A study: study.yaml ``appraisal.followup``; else the shortest ``participants.followup`` over its groups
    (primary sources first); else its latest outcome timepoint. A group: its own ``participants.followup``
    (primary sources first, earliest line); else, for an arm (not a patient, whom the study's follow-up may
    not describe), the study's ``all`` row and then ``appraisal.followup``; else the group's latest outcome
    timepoint. A range counts at ``bound``; ``post``, ``baseline`` and 0 are not follow-up.
    """
    if bound not in RANGE_BOUNDS:
        raise ValueError(f"followup.range_bound {bound!r}: expected one of {list(RANGE_BOUNDS)}")
    s = studies.get(study) or {}
    fact = (s.get("appraisal") or {}).get("followup")
    fact = fact.get("value") if isinstance(fact, Mapping) else fact
    part = tables.get("participants")
    part = part.loc[part["study"] == study] if part is not None and len(part) else pd.DataFrame()
    out = tables.get("outcomes")
    out = out.loc[out["study"] == study] if out is not None and len(out) else pd.DataFrame()

    def from_fact() -> Followup | None:
        m = timepoint_months(fact, bound, units) if not _blank(fact) else math.nan
        if math.isfinite(m) and m > 0:
            return Followup(m, _basis("study.yaml appraisal.followup", str(fact).strip(), bound), fact="followup")
        return None

    def from_rows(rows: pd.DataFrame, what: str, shortest: bool) -> Followup | None:
        if rows.empty or "followup" not in rows:
            return None
        rows = _primary_first(rows, studies, study)
        months = _positive(rows["followup"], bound, units)
        if not months.notna().any():
            return None
        pick = months.idxmin() if shortest else months.first_valid_index()
        hit = rows.loc[months == months[pick]] if shortest else rows.loc[[pick]]
        first = rows.loc[pick]
        return Followup(float(months[pick]), _basis(what, str(first["followup"]), bound, first.get("source")), hit)

    def from_outcomes(rows: pd.DataFrame) -> Followup | None:
        if rows.empty or "timepoint" not in rows:
            return None
        months = _positive(rows["timepoint"], bound, units)
        if not months.notna().any():
            return None
        best = months.max()
        hit = rows.loc[months == best]
        return Followup(float(best), _basis("latest outcome timepoint", str(hit["timepoint"].iloc[0]), bound), hit)

    if group is None:
        found = from_fact() or from_rows(part, "shortest participants.followup", shortest=True) or from_outcomes(out)
    else:
        found = from_rows(part.loc[part["group"] == group] if len(part) else part,
                          "participants.followup of the group", shortest=False)
        if found is None and not patient:
            found = (from_rows(part.loc[part["group"] == "all"] if len(part) else part,
                               "participants.followup of the whole study", shortest=False) or from_fact())
        if found is None:
            found = from_outcomes(out.loc[out["group"] == group] if len(out) else out)
    return found or Followup(math.nan, "not reported")
