"""Per-patient tables for individual-level studies: the case series' Summary Table rebuilt from records.

Where sources disagree, every distinct value is shown with its source key (``7 [case2] / 10 [table]``)
and the patient's row lists the quantities that disagree (from the discrepancy report).
"""

from __future__ import annotations

import pandas as pd

from evsynth.common.io import split_rows
from evsynth.common.timepoints import timepoint_months


def _distinct(frame: pd.DataFrame, column: str = "value") -> str:
    """Distinct values of ``column`` with their sources: ``7 [case2] / 10 [table]``; one value bare."""
    frame = frame.loc[frame[column].notna() & (frame[column].astype(str) != "")]
    if frame.empty:
        return ""
    shown: dict[str, list[str]] = {}
    for value, source in zip(frame[column], frame["source"]):
        text = f"{value:g}" if isinstance(value, float) else str(value)
        shown.setdefault(text, [])
        if source not in shown[text]:
            shown[text].append(source)
    if len(shown) == 1:
        return next(iter(shown))
    return " / ".join(f"{v} [{', '.join(s)}]" for v, s in shown.items())


def _route_counts(admin: pd.DataFrame) -> str:
    counts = admin.groupby("route").size()
    return ", ".join(f"{route} ×{n}" for route, n in counts.sort_index().items())


def _outcome_cells(outcomes: pd.DataFrame, measure: str) -> tuple[str, str, str]:
    """(before, after, when-after) for one measure of one patient, all sources shown."""
    o = outcomes.loc[(outcomes["measure"] == measure) & (outcomes["stat"] == "value")]
    if o.empty:
        return "", "", ""
    unit = o["unit"].iloc[0]
    scale = f"/{unit.split('-')[1]}" if unit.startswith("0-") else ""
    before = o.loc[o["timepoint"] == "baseline"]
    after = o.loc[o["timepoint"] != "baseline"].copy()
    after["months"] = after["timepoint"].map(timepoint_months)
    fmt = (lambda f: _distinct(f) + (scale if _distinct(f) and " / " not in _distinct(f) else ""))
    when = ", ".join(sorted(set(after["timepoint"]), key=lambda t: (t == "post", timepoint_months(t))))
    return fmt(before), fmt(after), when


def case_table(tables: dict[str, pd.DataFrame], studies: dict, measures: dict,
               discrepancies: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per patient of every individual-level study.

    Columns: study, patient, diagnosis, ages (onset, at MSC, at follow-up), cell source and donor,
    administrations (count and by route, as recorded one by one and as summarised), the summarised dose,
    patient and physician global assessment before/after, the disease-activity instrument before/after,
    and ``discrepancies``: the quantities on which this patient's sources disagree.
    """
    individual = sorted(s for s, meta in studies.items() if meta.get("level") == "individual")
    part, iv, out = tables["participants"], tables["interventions"], tables["outcomes"]
    activity = [m for m, spec in measures.items() if spec.get("domain") == "disease_activity"]
    rows = []
    # each table split by study and patient once, not filtered whole for every patient
    part_of_study, part_of = split_rows(part), split_rows(part, ["study", "group"])
    msc_of, out_of = split_rows(iv.loc[iv["agent"] == "msc"], ["study", "group"]), split_rows(out, ["study", "group"])
    disc_of = split_rows(discrepancies, ["study", "group"]) if discrepancies is not None and len(discrepancies) else None
    for study in individual:
        groups = sorted(set(part_of_study(study)["group"]) - {"all"},
                        key=lambda g: int(g[1:]) if g[1:].isdigit() else 0)
        for group in groups:
            p = part_of((study, group))
            i = msc_of((study, group))
            admin, summary = i.loc[i["seq"].notna()], i.loc[i["seq"].isna()]
            o = out_of((study, group))
            row = {
                "study": study, "patient": group,
                "diagnosis": _distinct(p, "condition"),
                "age_onset_years": _distinct(p, "age_onset_years"),
                "age_at_msc_years": _distinct(p, "age_at_msc_years"),
                "age_followup_years": _distinct(p, "age_followup_years"),
                "followup": _distinct(p, "followup"),
                "cell_source": _distinct(i, "cell_source"),
                "donor": _distinct(i, "donor"),
                "administrations": len(admin.drop_duplicates(["seq"])) if len(admin) else "",
                "routes_recorded": _route_counts(admin) if len(admin) else "",
                "routes_summarised": ", ".join(
                    f"{r} ×{int(c)}" for r, c in summary.groupby("route")["count"].sum().sort_index().items()),
                "dose_summarised": _distinct(summary, "dose_text"),
            }
            for measure, label in (("pga_patient", "pga_patient"), ("pga_physician", "pga_physician")):
                before, after, when = _outcome_cells(o, measure)
                row.update({f"{label}_before": before, f"{label}_after": after, f"{label}_after_when": when})
            present = [m for m in activity if m in set(o["measure"])]
            row["activity_measure"] = ", ".join(present)
            befores, afters = [], []
            for m in present:
                b, a, _ = _outcome_cells(o, m)
                befores.append(b)
                afters.append(a)
            row["activity_before"] = "; ".join(x for x in befores if x)
            row["activity_after"] = "; ".join(x for x in afters if x)
            if disc_of is not None:
                d = disc_of((study, group))
                row["discrepancies"] = "; ".join(sorted(set(d["quantity"])))
            else:
                row["discrepancies"] = ""
            rows.append(row)
    return pd.DataFrame(rows)
