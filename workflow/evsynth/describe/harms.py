"""Harms: every adverse event and every reported death of every study, in one table (issue 11).

Nothing is dropped: an event whose seriousness the source does not state is listed with ``serious``
``unknown`` (counted apart from ``yes``, never folded into ``no``), and a reported absence ("no serious
adverse events") is a row with 0 patients. Pediatric studies come first, so a child's harm is not buried
under the adult trials.

Two public functions:

* :func:`harms_table` - the table (frames in, frame out).
* :func:`patients_with_event` - how many patients of one arm had at least one of several event rows; the
  one definition the pooled analyses and the descriptive summaries share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["HARM_COLUMNS", "POPULATION_ORDER", "harms_table", "patients_with_event"]

#: Order of populations in the table: children first.
POPULATION_ORDER = {"pediatric": 0, "mixed": 1, "adult": 2}

HARM_COLUMNS = [
    "population", "study", "design", "group", "event", "serious", "n_patients", "n_events", "n_at_risk",
    "at_risk_basis", "timepoint", "kind", "source", "source_kind", "file", "line", "quote", "note",
]


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() in ("", "nan", "None", "<NA>")


def _source_kind(studies: dict, study: str, source) -> str:
    src = ((studies.get(study) or {}).get("sources") or {}).get(str(source)) or {}
    return str(src.get("kind", "")) if isinstance(src, dict) else ""


def patients_with_event(rows: pd.DataFrame) -> tuple[float, str]:
    """Patients of one arm with at least one of the event ``rows`` (``n_patients``, ``distinct_patients``).

    Rule, smallest count the rows prove: an ``any ...`` row (event name contains the word *any*) gives the
    count by itself (the largest such row). Otherwise rows marked ``distinct_patients: yes`` (the curator
    read that their patients are not those of the arm's other rows, e.g. "one patient ... and another ...")
    are added up, and any other row may overlap with them, so the count is the larger of that sum and the
    largest single row. Returns ``(count, how)``; NaN when no row gives a number of patients.
    """
    pts = pd.to_numeric(rows["n_patients"], errors="coerce")
    ok = pts.notna()
    if not ok.any():
        return np.nan, "no row gives a number of patients"
    events = rows["event"].astype(str).str.lower()
    anyrow = events.str.contains(r"\bany\b") & ok
    if anyrow.any():
        return float(pts[anyrow].max()), "'any' row"
    distinct = rows.get("distinct_patients", pd.Series("", index=rows.index)).astype(str).eq("yes") & ok
    summed = float(pts[distinct].sum()) if distinct.any() else 0.0
    largest = float(pts[ok].max())
    if ok.sum() == 1:
        return largest, ""
    if distinct.all() or (distinct.any() and summed >= largest and distinct[ok].all()):
        return summed, f"{int(distinct.sum())} rows of distinct patients added"
    if distinct.any():
        count = max(summed, largest)
        return count, (f"rows of distinct patients added ({summed:g}); other rows may overlap: "
                       f"at least {count:g}")
    return largest, f"{int(ok.sum())} rows that may overlap: the largest ({largest:g}), a lower bound"


def _arm_sizes(participants: pd.DataFrame) -> dict:
    """(study, group, source) -> n and (study, group) -> first n by line, for the at-risk column."""
    p = participants.loc[participants["n"].notna()].sort_values(["study", "group", "line"], kind="stable")
    by_source: dict = {}
    for s, g, src, n in zip(p["study"], p["group"], p["source"], p["n"]):
        by_source.setdefault((s, g, str(src)), float(n))
    first = p.drop_duplicates(["study", "group"])
    return {"source": by_source, "first": {(s, g): float(n) for s, g, n in zip(first["study"], first["group"],
                                                                               first["n"])}}


def _at_risk(sizes: dict, study: str, group: str, source, reported) -> tuple[float, str]:
    if not _blank(reported):
        return float(reported), "reported"
    key = (study, group, str(source))
    if key in sizes["source"]:
        return sizes["source"][key], "arm size, same source"
    if (study, group) in sizes["first"]:
        return sizes["first"][(study, group)], "arm size, another source"
    return np.nan, "not reported"


def _death_rows(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Deaths reported as outcomes: events (or n - survivors) with n from the same source and time."""
    o = outcomes.loc[outcomes["measure"].isin(["death", "survival"]) & outcomes["stat"].isin(["events", "n"])]
    if o.empty:
        return pd.DataFrame()
    keys = ["study", "group", "timepoint", "source"]
    rows = []
    for key, g in o.groupby(keys, sort=True):
        val = {(m, s): v for m, s, v in zip(g["measure"], g["stat"], g["value"])}
        line = {(m, s): ln for m, s, ln in zip(g["measure"], g["stat"], g["line"])}
        first = g.sort_values("line").iloc[0]
        n = val.get(("death", "n"), val.get(("survival", "n"), np.nan))
        if ("death", "events") in val:
            events, which = val[("death", "events")], ("death", "events")
            how = "deaths as reported" + ("" if ("death", "n") in val else
                                          "; n from the survival row of the same source and time"
                                          if ("survival", "n") in val else "")
        elif ("survival", "events") in val and ("survival", "n") in val:
            events, which = n - val[("survival", "events")], ("survival", "events")
            how = f"deaths derived as n - survivors ({n:g} - {val[('survival', 'events')]:g})"
        else:
            continue
        rows.append({
            "study": key[0], "group": key[1], "timepoint": key[2], "source": key[3], "event": "death",
            "serious": "yes", "n_patients": float(events), "n_events": np.nan, "n_at_risk": n,
            "kind": "outcome", "file": first["file"], "line": line[which],
            "quote": g.loc[g["line"] == line[which], "quote"].iloc[0] if "quote" in g else "", "note": how,
        })
    return pd.DataFrame(rows)


def harms_table(tables: dict[str, pd.DataFrame], studies: dict, selected: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per adverse-event row and per reported death, pediatric studies first.

    Columns :data:`HARM_COLUMNS`. ``kind`` is ``adverse_event`` (a row of adverse_events.csv) or ``outcome``
    (a death from outcomes.csv: deaths as reported, else n - survivors, with n from the same source and
    timepoint). ``n_at_risk``: as reported, else the arm's size from the same source, else from another
    source (``at_risk_basis`` says which). ``serious`` is ``yes``, ``no`` or ``unknown`` exactly as recorded.
    Systematic reviews' pooled rows are listed too (group ``pooled``): they are the review's harms.
    ``selected`` (optional, evidence.csv) adds ``used``: whether the row is the one the synthesis uses.
    """
    ae = tables.get("adverse_events", pd.DataFrame()).copy()
    ae["kind"] = "adverse_event"
    deaths = _death_rows(tables.get("outcomes", pd.DataFrame(columns=["measure", "stat"])))
    frame = pd.concat([x for x in (ae, deaths) if len(x)], ignore_index=True) if len(ae) or len(deaths) else \
        pd.DataFrame(columns=HARM_COLUMNS)
    sizes = _arm_sizes(tables["participants"])
    risk = [_at_risk(sizes, s, g, src, r) for s, g, src, r in
            zip(frame["study"], frame["group"], frame["source"], frame["n_at_risk"])]
    frame["n_at_risk"] = [r[0] for r in risk]
    frame["at_risk_basis"] = [r[1] for r in risk]
    frame["population"] = frame["study"].map(lambda s: (studies.get(s) or {}).get("population", "unspecified"))
    frame["design"] = frame["study"].map(lambda s: (studies.get(s) or {}).get("design", ""))
    frame["source_kind"] = [_source_kind(studies, s, src) for s, src in zip(frame["study"], frame["source"])]
    frame["line"] = pd.to_numeric(frame["line"], errors="coerce").astype("Int64")
    for col in HARM_COLUMNS:
        if col not in frame:
            frame[col] = np.nan
    order = frame["population"].map(POPULATION_ORDER).fillna(len(POPULATION_ORDER))
    frame = frame.assign(_p=order).sort_values(["_p", "study", "kind", "file", "line"], kind="stable")
    out = frame[HARM_COLUMNS].reset_index(drop=True)
    if selected is not None and len(selected):
        used = set(zip(selected["file"].astype(str), pd.to_numeric(selected["line"], errors="coerce")))
        out["used"] = [(str(f), float(ln)) in used for f, ln in zip(out["file"], out["line"])]
    return out
