"""What a derivation rule sees: :class:`StudyContext` (one study's facts and tables), the evidence helpers,
and the registry :data:`RULES` (rule name in tools.yaml -> function) filled by :func:`derivation_rule`.

A rule takes a :class:`StudyContext` and returns ``(judgement, rationale, evidence list)``; evidence entries
are ``<file>:<line>[,<line>...]`` (record rows) or ``<study.yaml>:<line> (appraisal.<key>)`` (a fact).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from evsynth.common.timepoints import DEFAULT_RANGE_BOUND, Followup, followup, parse_timepoint

MSC_AGENT = re.compile(r"^msc")
# Relations that put another treatment alongside or after MSC (stopped_after: given during the course,
# stopped later).
INTERVENING = ("concurrent", "stopped_during", "stopped_after", "added_after")
# Days per unit for timepoints (resources/README.md "Timepoints"); a month is 365.25/12 days.
DAYS_PER = {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "year": 365.25}


def present(x: Any) -> bool:
    if x is None:
        return False
    if isinstance(x, float) and math.isnan(x):
        return False
    try:
        if pd.isna(x):
            return False
    except (TypeError, ValueError):
        pass
    return str(x).strip() != ""


def text_of(x: Any) -> str:
    return str(x).strip() if present(x) else ""


def days_after_msc(tp: Any, bound: str = "lower") -> float | None:
    """Days after the first MSC for a timepoint (a range at ``bound``; the grammar of
    :mod:`evsynth.common.timepoints`); None for ``post``, empty or unreadable."""
    t = parse_timepoint(tp)
    if t is None or t.kind == "post":
        return None
    if t.kind == "baseline":
        return 0.0
    months = t.value(bound) * DAYS_PER[t.unit] / DAYS_PER["month"]
    return months * DAYS_PER["month"]


def fmt_months(m: float) -> str:
    return f"{m:.1f}".rstrip("0").rstrip(".")


def rows_evidence(*frames: pd.DataFrame) -> list[str]:
    """``file:line,line`` entries for the given rows, grouped by file, deterministic."""
    out: dict[str, set[int]] = {}
    for df in frames:
        if df is None or df.empty or "file" not in df or "line" not in df:
            continue
        for f, ln in zip(df["file"], df["line"]):
            if present(f) and present(ln):
                out.setdefault(str(f), set()).add(int(float(ln)))
    return [f"{f}:{','.join(str(x) for x in sorted(lines))}" for f, lines in sorted(out.items())]


def merge_evidence(entries: list[str]) -> str:
    """Join evidence entries, merging the line lists of the same CSV file; facts keep their order."""
    csv_lines: dict[str, set[int]] = {}
    other: list[str] = []
    for e in entries:
        m = re.match(r"^(.+\.csv):([\d,]+)$", e)
        if m:
            csv_lines.setdefault(m.group(1), set()).update(int(x) for x in m.group(2).split(","))
        elif e not in other:
            other.append(e)
    merged = [f"{f}:{','.join(str(x) for x in sorted(ls))}" for f, ls in sorted(csv_lines.items())]
    return "; ".join(other + merged)


def column(df: pd.DataFrame, name: str) -> pd.Series:
    if df is None or name not in df:
        return pd.Series([None] * (0 if df is None else len(df)), index=None if df is None else df.index,
                         dtype=object)
    return df[name]


@dataclass
class StudyContext:
    """One study's facts (study.yaml ``appraisal:``) and record tables, as a derivation rule sees them."""

    study: dict
    tables: dict[str, pd.DataFrame]
    settings: dict  # tools.yaml ``settings`` (the thresholds; no code defaults)
    min_followup_months: float
    tool: str
    scale: list[str]
    followup_bound: str = DEFAULT_RANGE_BOUND
    missing: str = "unclear"  # the tool's judgement for an item nobody could judge

    @property
    def sid(self) -> str:
        return str(self.study.get("id"))

    def table(self, name: str) -> pd.DataFrame:
        df = self.tables.get(name)
        if df is None:
            return pd.DataFrame()
        if "study" in df.columns and self.sid:
            df = df[df["study"] == self.sid]
        return df

    # ---- facts -----------------------------------------------------------------------------------
    def study_file(self) -> str:
        for name in ("participants", "interventions", "outcomes", "adverse_events", "cointerventions"):
            df = self.table(name)
            if not df.empty and "file" in df and present(df["file"].iloc[0]):
                return str(Path(str(df["file"].iloc[0])).parent / "study.yaml")
        return str(self.study.get("_file") or f"resources/studies/{self.sid}/study.yaml")

    def fact(self, key: str) -> tuple[str | None, list[str]]:
        entry = (self.study.get("appraisal") or {}).get(key)
        if entry is None:
            return None, []
        value = entry.get("value") if isinstance(entry, Mapping) else entry
        if not present(value):
            return None, []
        path = self.study_file()
        line = yaml_key_line(path, key, self.study.get("_root"))
        where = f"{path}:{line}" if line else path
        src = f", source {entry.get('source')}" if isinstance(entry, Mapping) and entry.get("source") else ""
        return str(value).strip(), [f"{where} (appraisal.{key}{src})"]

    def followup(self) -> tuple[Followup, list[str]]:
        """The study's follow-up (:func:`evsynth.common.timepoints.followup`) and its evidence."""
        fu = followup({self.sid: self.study}, self.tables, self.sid, bound=self.followup_bound)
        return fu, (self.fact(fu.fact)[1] if fu.fact else rows_evidence(fu.rows))

    # ---- tables ----------------------------------------------------------------------------------
    def msc_rows(self) -> pd.DataFrame:
        iv = self.table("interventions")
        if iv.empty or "agent" not in iv:
            return iv.iloc[0:0] if not iv.empty else iv
        return iv[iv["agent"].map(lambda a: bool(MSC_AGENT.match(text_of(a))))]

    def groups(self) -> list[str]:
        """Participant groups (patients or arms); ``all`` only when no other group is recorded."""
        found: set[str] = set()
        for name in ("participants", "interventions", "outcomes"):
            df = self.table(name)
            if not df.empty and "group" in df:
                found |= {text_of(g) for g in df["group"] if present(g)}
        specific = sorted(g for g in found if g not in ("all", "pooled"))
        return specific or sorted(found)

    def rows_for(self, df: pd.DataFrame, group: str) -> pd.DataFrame:
        if df.empty or "group" not in df:
            return df
        return df[df["group"].map(text_of).isin([group, "all"])]


def yaml_key_line(path: str, key: str, root: Any = None) -> int | None:
    """1-based line of ``key:`` inside the ``appraisal:`` block of a study.yaml, if the file is readable."""
    candidates = [Path(path)]
    if root:
        candidates.insert(0, Path(root) / path)
    for p in candidates:
        if p.is_file():
            stat = p.stat()
            return _appraisal_key_lines(str(p), stat.st_mtime_ns, stat.st_size).get(key)
    return None


@lru_cache(maxsize=4096)
def _appraisal_key_lines(path: str, mtime_ns: int, size: int) -> dict[str, int]:
    """Key -> 1-based line of the first ``key:`` inside the ``appraisal:`` block, read once per file version
    (a study's facts are looked up item by item; the file was read again for each)."""
    found: dict[str, int] = {}
    inside = False
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if re.match(r"^appraisal:\s*$", line):
            inside = True
            continue
        if inside and re.match(r"^\S", line):
            inside = False
        m = re.match(r"^\s+([^\s:][^:]*?)\s*:", line) if inside else None
        if m:
            found.setdefault(m.group(1), i)
    return found


#: A derivation rule: context -> (judgement, rationale, evidence).
Rule = Callable[["StudyContext"], tuple[str, str, list[str]]]
RULES: dict[str, Rule] = {}


def derivation_rule(name: str):
    """Register the decorated function as the rule ``name`` (the ``rule`` of a tools.yaml item)."""
    def deco(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn
    return deco
