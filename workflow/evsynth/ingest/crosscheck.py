"""Checks across rows and tables of one study (the per-cell checks are in :mod:`evsynth.ingest.records`).

Each problem is reported like a per-cell error (file, line, column, value, what was expected) and all of them
are collected before anything is written:

- every ``group`` (and every ``comparator``) used in a table is a group of the study's ``participants.csv``
  (``all`` and ``pooled`` are always known; the comparator of a review's ``pooled`` row names the arm of the
  pooled studies, e.g. ``control``, which is not a group of the review itself);
- counts agree: events <= n, ``n_patients`` <= ``n_at_risk``, ``n_at_risk`` > 0, an ``n`` of an outcome > 0,
  ``n_female`` + ``n_male`` <= ``n``, a percent equals 100 x events / n to the decimals it is printed with
  (rounded or truncated), and the arms of a study add up to its ``all`` row where one source states both;
- a row that repeats another row exactly, and a patient recorded twice from the same source, name both lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from evsynth.common.vocabulary import unknown_message

SPECIAL_GROUPS = ("all", "pooled")
# outcomes rows that describe the same statistic set: events, n and percent of one arm at one time
_OUTCOME_KEY = ["group", "measure", "timepoint", "metric", "comparator", "source"]

ErrorFn = Callable[[str, "int | None", "str | None", object, str], None]


def _num(value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return x


def _fmt(x: float) -> str:
    return f"{x:g}"


def _decimals(x: float) -> int:
    text = repr(float(x))
    if "e" in text or "." not in text:
        return 0
    decimals = text.split(".")[1]
    return 0 if decimals == "0" else len(decimals)


def percent_matches(percent: float, events: float, n: float) -> bool:
    """True when ``percent`` is 100 x events / n rounded or truncated to the decimals it is printed with."""
    if n <= 0:
        return False
    exact = 100.0 * events / n
    return abs(exact - percent) <= 10.0 ** -_decimals(percent) + 1e-9


def check_study(study_id: str, study: dict, frames: dict[str, pd.DataFrame], error: ErrorFn,
                participants_file: str) -> None:
    """Run every check across the rows and tables of one study; report through ``error``."""
    for table, frame in frames.items():
        if frame is not None and len(frame):
            _exact_duplicates(table, frame, error)
    participants = frames.get("participants")
    _groups(study_id, frames, participants, error, participants_file)
    if participants is not None and len(participants):
        _participants_counts(study, participants, frames.get("interventions"), error)
    sizes = _group_sizes(participants)
    if frames.get("adverse_events") is not None and len(frames["adverse_events"]):
        _adverse_event_counts(frames["adverse_events"], sizes, error)
    if frames.get("outcomes") is not None and len(frames["outcomes"]):
        _outcome_counts(frames["outcomes"], sizes, error)


# -- duplicates ---------------------------------------------------------------------------------

def _exact_duplicates(table: str, frame: pd.DataFrame, error: ErrorFn) -> None:
    cols = [c for c in frame.columns if c not in ("study", "file", "line")]
    keys = ["\x1f".join(cells) for cells in zip(*(frame[c].astype(str) for c in cols))]
    first: dict[str, int] = {}
    for key, line, file in zip(keys, frame["line"], frame["file"]):
        if key in first:
            error(file, int(line), None, None,
                  f"repeats line {first[key]} exactly; delete one (two places in the sources that say the same "
                  "thing are two rows with different source keys)")
        else:
            first[key] = int(line)


# -- groups -------------------------------------------------------------------------------------

def _groups(study_id: str, frames: dict, participants: pd.DataFrame | None, error: ErrorFn,
            participants_file: str) -> None:
    declared = [] if participants is None else sorted({g for g in participants["group"].astype(str) if g})
    known = sorted(set(declared) | set(SPECIAL_GROUPS))
    if participants is not None and len(participants):
        _duplicate_patients(participants, error)
    for table, frame in frames.items():
        if table == "participants" or frame is None or not len(frame):
            continue
        columns = ["group"] + (["comparator"] if "comparator" in frame.columns else [])
        for col in columns:
            for file, line, group, value in zip(frame["file"], frame["line"], frame["group"].astype(str),
                                                 frame[col].astype(str)):
                if not value or value == "nan" or value in known:
                    continue
                if col == "comparator" and group == "pooled":
                    continue  # a review's pooled contrast names the pooled studies' arm (e.g. control)
                if participants is None:
                    expected = (f"is not a group of {participants_file}: {study_id} has no participants.csv; "
                                "declare every group used in a table there (its size where reported)")
                else:
                    expected = unknown_message(f"group of {participants_file}", value, known)
                error(file, int(line), col, value, expected)


def _duplicate_patients(participants: pd.DataFrame, error: ErrorFn) -> None:
    """A patient id twice from one source (an individual-level study's P1 typed twice)."""
    patients = participants.loc[participants["group"].astype(str).str.fullmatch(r"P\d+")]
    first: dict[tuple, int] = {}
    for row in patients[["file", "line", "group", "source", "quote"]].itertuples(index=False):
        key = (row.group, row.source, row.quote)
        if key in first:
            error(row.file, int(row.line), "group", row.group,
                  f"is recorded twice from source '{row.source}' with the same quote (lines {first[key]} and "
                  f"{int(row.line)}); one patient is one row per source")
        else:
            first[key] = int(row.line)


def _group_sizes(participants: pd.DataFrame | None) -> dict[str, list[tuple[float, int]]]:
    """group -> [(n, line)] for the participants rows that state n."""
    sizes: dict[str, list[tuple[float, int]]] = {}
    if participants is None or not len(participants):
        return sizes
    for g, n, line in zip(participants["group"].astype(str), participants["n"], participants["line"]):
        if isinstance(n, float) and np.isfinite(n):
            sizes.setdefault(g, []).append((n, int(line)))
    return sizes


# -- counts -------------------------------------------------------------------------------------

def _participants_counts(study: dict, participants: pd.DataFrame, interventions: pd.DataFrame | None,
                         error: ErrorFn) -> None:
    for row in participants.itertuples(index=False):
        n, f, m = _num(row.n), _num(row.n_female), _num(row.n_male)
        for col, x in (("n_female", f), ("n_male", m)):
            if np.isfinite(n) and np.isfinite(x) and x > n:
                error(row.file, int(row.line), col, _fmt(x), f"is more than the group's n ({_fmt(n)}) on the same row")
        if np.isfinite(n) and np.isfinite(f) and np.isfinite(m) and f + m > n:
            error(row.file, int(row.line), "n_male", _fmt(m),
                  f"n_female + n_male = {_fmt(f + m)} is more than the group's n ({_fmt(n)}) on the same row")
    # arms add up to the study where one source states both the whole study and every arm
    if interventions is None or not len(interventions) or study.get("level") != "aggregate":
        return
    arms = sorted({g for g in interventions["group"].astype(str) if g and g not in SPECIAL_GROUPS})
    if len(arms) < 2:
        return
    for source, rows in participants.groupby("source", sort=True):
        whole = rows.loc[rows["group"].eq("all") & rows["n"].notna()]
        if len(whole) != 1:
            continue
        parts = rows.loc[rows["group"].isin(arms) & rows["n"].notna()]
        if set(parts["group"]) != set(arms) or parts["group"].duplicated().any():
            continue
        total = float(parts["n"].sum())
        stated = float(whole["n"].iloc[0])
        if not math.isclose(total, stated):
            lines = ", ".join(f"{g} {_fmt(n)} (line {int(ln)})" for g, n, ln in
                              zip(parts["group"], parts["n"], parts["line"]))
            error(whole["file"].iloc[0], int(whole["line"].iloc[0]), "n", _fmt(stated),
                  f"is the study's n from source '{source}', but its arms add up to {_fmt(total)}: {lines}")


def _largest(sizes: dict, group: str) -> tuple[float, int] | None:
    return max(sizes[group]) if group in sizes else None


def _adverse_event_counts(ae: pd.DataFrame, sizes: dict, error: ErrorFn) -> None:
    for row in ae.itertuples(index=False):
        k, at_risk = _num(row.n_patients), _num(row.n_at_risk)
        if np.isfinite(at_risk) and at_risk <= 0:
            error(row.file, int(row.line), "n_at_risk", _fmt(at_risk),
                  "must be more than 0 (leave it empty when the source does not say how many were at risk)")
        elif np.isfinite(k) and np.isfinite(at_risk) and k > at_risk:
            error(row.file, int(row.line), "n_patients", _fmt(k),
                  f"is more than n_at_risk ({_fmt(at_risk)}) on the same row")
        elif np.isfinite(k) and not np.isfinite(at_risk):
            size = _largest(sizes, str(row.group))
            if size is not None and k > size[0]:
                error(row.file, int(row.line), "n_patients", _fmt(k),
                      f"is more than the size of group {row.group} ({_fmt(size[0])}, participants.csv line "
                      f"{size[1]}); give n_at_risk if the source reports it")


def _outcome_counts(outcomes: pd.DataFrame, sizes: dict, error: ErrorFn) -> None:
    o = outcomes.loc[outcomes["stat"].isin(["events", "n", "percent"])]
    for row in o.loc[o["stat"].eq("n")].itertuples(index=False):
        if _num(row.value) <= 0:
            error(row.file, int(row.line), "value", _fmt(_num(row.value)),
                  "is an n of 0 or less; an outcome's n counts the patients assessed (at least 1)")
    keyed = o.fillna({c: "" for c in _OUTCOME_KEY}).astype({c: str for c in _OUTCOME_KEY})
    # the rows of each outcome key (in order of first appearance), as plain tuples: a pandas frame per key
    # made this check most of the validation's time
    groups: dict[tuple, list[tuple]] = {}
    for key, row in zip(zip(*(keyed[c] for c in _OUTCOME_KEY)),
                        zip(keyed["stat"], keyed["value"], keyed["line"], keyed["file"])):
        groups.setdefault(key, []).append(row)
    for key, g in groups.items():
        events = [(float(v), int(ln), f) for stat, v, ln, f in g if stat == "events"]
        ns = [(float(v), int(ln)) for stat, v, ln, _ in g if stat == "n"]
        group = key[0]
        for e, line, file in events:
            if ns:
                n, nline = max(ns)
                if e > n:
                    error(file, line, "value", _fmt(e), f"is more events than the n of the same outcome and source "
                                                        f"({_fmt(n)}, line {nline})")
            else:
                size = _largest(sizes, group)
                if size is not None and e > size[0]:
                    error(file, line, "value", _fmt(e),
                          f"is more events than group {group} has patients ({_fmt(size[0])}, participants.csv line "
                          f"{size[1]}); give the outcome's n if the source reports it")
        percents = [(v, ln, f) for stat, v, ln, f in g if stat == "percent"]
        if not events or not len(percents):
            continue
        # without an n in the same source the denominator is unknown (a percent of responders, say): not checked
        denominators, of = ns, "the events and n of the same outcome and source"
        if not denominators:
            continue
        for p, pline, pfile in percents:
            if not np.isfinite(float(p)):
                continue
            if not any(percent_matches(float(p), e, n) for e, _, _ in events for n, _ in denominators):
                shown = ", ".join(f"{_fmt(e)}/{_fmt(n)} = {100 * e / n:.4g}%" for e, _, _ in events
                                  for n, _ in denominators if n > 0)
                error(pfile, int(pline), "value", _fmt(float(p)),
                      f"does not match {of} ({shown}; lines {', '.join(str(x[1]) for x in events + denominators)}) "
                      "to the decimals printed")
