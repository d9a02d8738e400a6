"""One row per study: what it is, whom it treated, with what, and how much of it is recorded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evsynth.common.io import rows_by_study, split_rows
from evsynth.common.timepoints import DEFAULT_RANGE_BOUND, followup
from evsynth.harmonize.tables import selected_doses

SPECIAL = {"all", "pooled"}


def _join(values) -> str:
    vals = sorted({str(v) for v in values if isinstance(v, str) and v and v != "unspecified"})
    return ";".join(vals)


def study_sizes(participants: pd.DataFrame, studies: dict) -> pd.DataFrame:
    """Patients per study by the rule of :func:`evsynth.describe.summaries.study_sizes` (primary report; the
    'all' row, else the sum of arms), with every other reported size listed beside it."""
    from evsynth.describe.summaries import study_sizes as sizes_by_rule

    _, sizes = sizes_by_rule(participants, studies)
    sizes = sizes.set_index("study")
    rows = []
    sized = split_rows(participants.loc[participants["n"].notna() & participants["subtype"].fillna("").eq("")])
    for study in sorted(studies):
        n = float(sizes.loc[study, "n"]) if study in sizes.index else np.nan
        p = sized(study)
        other = p.loc[(p["n"] != n) & p["group"].isin(["all"])]
        note = "; ".join(f"{r.group}: {r.n:g} [{r.source}]" for r in other.itertuples()) if len(other) else ""
        rows.append({"study": study, "n": n, "n_other_reports": note})
    return pd.DataFrame(rows, columns=["study", "n", "n_other_reports"])


def study_table(tables: dict[str, pd.DataFrame], studies: dict, doses: pd.DataFrame | None = None,
                followup_bound: str = DEFAULT_RANGE_BOUND) -> pd.DataFrame:
    """``results/tables/studies.csv``: design, population, conditions, n, cell source, donor, route,
    dose range per kg (from the selected harmonized doses where derivable:
    :func:`evsynth.harmonize.tables.selected_doses`), follow-up (by
    :func:`evsynth.common.timepoints.followup`, with its basis) and the count of recorded values."""
    sizes = study_sizes(tables["participants"], studies).set_index("study")
    iv = tables["interventions"]
    # every table split by study once (selecting a study's rows from whole tables grew with the square of the corpus)
    own_tables = rows_by_study(tables)
    msc_of = split_rows(iv.loc[iv["agent"].astype(str).str.startswith("msc")])
    doses_of = split_rows(selected_doses(doses)) if doses is not None and len(doses) else None
    rows = []
    for sid in sorted(studies):
        s = studies[sid]
        msc = msc_of(sid)
        values = 0
        own = own_tables(sid)
        for name in tables:
            t = own[name]
            numeric = [c for c in t.columns if c not in ("line", "seq") and pd.api.types.is_float_dtype(t[c])]
            values += int(t[numeric].notna().sum().sum()) if numeric else 0
        fu = followup(studies, own, sid, bound=followup_bound)
        row = {
            "study": sid, "design": s.get("design"), "population": s.get("population"),
            "conditions": ";".join(s.get("conditions", [])), "level": s.get("level"), "year": s.get("year"),
            "n": sizes.loc[sid, "n"], "n_other_reports": sizes.loc[sid, "n_other_reports"],
            "cell_source": _join(msc["cell_source"]), "donor": _join(msc["donor"]), "route": _join(msc["route"]),
            "dose_per_kg_min": np.nan, "dose_per_kg_max": np.nan,
            "followup_months": fu.months, "followup_basis": fu.basis,
            "recorded_values": values,
            "sources": len(s.get("sources") or {}),
            "citation": s.get("citation"),
        }
        if doses_of is not None:
            d = doses_of(sid)
            lo = d[[c for c in ("cells_per_kg", "cells_per_kg_low") if c in d.columns]].min(axis=1)
            hi = d[[c for c in ("cells_per_kg", "cells_per_kg_high") if c in d.columns]].max(axis=1)
            if lo.notna().any():
                row["dose_per_kg_min"], row["dose_per_kg_max"] = float(lo.min()), float(hi.max())
        rows.append(row)
    return pd.DataFrame(rows)
