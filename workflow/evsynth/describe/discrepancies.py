"""Where the sources disagree: the same quantity recorded twice with different values, and derived
facts that do not add up with reported ones.

Every disagreement is a row of ``results/tables/discrepancies.csv`` with both values side by side,
each with its source and the record row it comes from. Nothing is overwritten or averaged away.

Checks (each a function returning rows with :data:`COLUMNS`):

- :func:`repeated_values`: the same quantity of the same group at the same timepoint, recorded in two
  rows with different values (text vs table, abstract vs table, paper vs registry, primary vs secondary).
  An outcome at ``post`` (time not stated) is compared with every post-baseline value of the same group,
  measure and statistic from another source, and reported when it matches none of them.
- :func:`route_count_conflicts`: administrations counted by route vs a summary row's count ("IV ×3").
- :func:`named_route_conflicts`: the routes a source names (a Discussion's "local injection (joint, ...)")
  vs the routes of the administrations recorded one by one.
- :func:`age_followup_conflicts`: age at follow-up minus age at MSC vs the recorded follow-up time.
- :func:`claim_conflicts`: a statement about every patient of a case series (group ``all``, e.g. a
  Discussion's "titers did not change": metric ``change``, value 0) vs the patients' own before/after values.
- :func:`selection_conflicts`: each value the synthesis uses (``evidence.csv``) beside every report of
  the same quantity that it does not use and that gives another value.
- :func:`summary_dose_conflicts` (per route) and :func:`range_conflicts`: a summary's per-kg dose or
  reported range vs the administrations it describes.
- :func:`evsynth.harmonize.tables.implied_weight_conflicts` (it needs the dose parser): weights implied by
  different administrations of one patient that disagree.

Each row of discrepancies.csv names the function that found it (``check``).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from evsynth.common.code import code_name
from evsynth.common.io import split_rows
from evsynth.common.timepoints import timepoint_months

#: Columns every check returns.
COLUMNS = [
    "study", "group", "quantity", "timepoint", "value_a", "source_a", "record_a",
    "value_b", "source_b", "record_b", "kind", "note",
]
#: Columns of discrepancies.csv: a check's columns and ``check``, the function that found the row.
TABLE_COLUMNS = [*COLUMNS, "check"]

PARTICIPANT_QUANTITIES = [
    "n", "condition", "subtype", "sex", "n_female", "n_male", "age_onset_years", "age_at_msc_years",
    "age_followup_years", "age_mean_years", "age_sd_years", "age_median_years", "age_min_years",
    "age_max_years", "weight_kg", "disease_duration_years", "followup",
]
ADVERSE_QUANTITIES = ["n_patients", "n_events", "n_at_risk"]


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:g}"
    return str(value)


def _same(a, b) -> bool:
    if isinstance(a, (float, int, np.number)) and isinstance(b, (float, int, np.number)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return str(a).strip().lower() == str(b).strip().lower()


def source_kind(studies: dict, study: str, source: str) -> str:
    """The ``kind`` of a source key of a study (``text``, ``table``, ``secondary``...)."""
    src = (studies.get(study, {}).get("sources") or {}).get(source) or {}
    return str(src.get("kind", "unknown"))


def pair_kind(kind_a: str, kind_b: str) -> str:
    """Name a disagreement by the kinds of its two sources."""
    if "secondary" in (kind_a, kind_b) and kind_a != kind_b:
        return "primary_vs_secondary"
    if "registry" in (kind_a, kind_b) and kind_a != kind_b:
        return "paper_vs_registry"
    if kind_a == kind_b:
        return f"within_{kind_a}"
    return "_vs_".join(sorted((kind_a, kind_b)))


def _record(row) -> str:
    return f"{row['file']}:{int(row['line'])}"


def _facts(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All recorded values as long rows: study, group, quantity, timepoint, value, source, file, line."""
    parts = []
    p = tables.get("participants")
    if p is not None and len(p):
        p = p.copy()
        # a row naming a subtype describes that subset of the group ("6 systemic"), not the group
        subset = p["subtype"].fillna("").astype(str)
        p["scope"] = np.where(subset != "", " [subtype " + subset + "]", "")
        stat = p["disease_duration_stat"].fillna("").astype(str)
        p["duration_scope"] = np.where(stat != "", " (" + stat + ")", "")
        cols = [c for c in PARTICIPANT_QUANTITIES if c in p.columns and c != "subtype"]
        p["derived"] = p["derived"] if "derived" in p else ""
        long = p.melt(id_vars=["study", "group", "source", "file", "line", "scope", "duration_scope", "derived"],
                      value_vars=cols, var_name="quantity", value_name="value")
        is_duration = long["quantity"] == "disease_duration_years"
        long["quantity"] = long["quantity"] + np.where(is_duration, long["duration_scope"], "") + long["scope"]
        parts.append(long.drop(columns=["scope", "duration_scope"]).assign(timepoint=""))
    o = tables.get("outcomes")
    if o is not None and len(o):
        metric = o["metric"].replace("", "level").fillna("level")
        comparator = o["comparator"].fillna("").astype(str)
        quantity = (o["measure"] + " " + metric + " " + o["stat"] + " (" + o["unit"] + ")"
                    + np.where(comparator != "", " vs " + comparator, ""))
        parts.append(o.assign(quantity=quantity, derived=o["derived"] if "derived" in o else "")[
            ["study", "group", "quantity", "timepoint", "value", "source", "file", "line", "derived"]])
    a = tables.get("adverse_events")
    if a is not None and len(a):
        a = a.assign(derived=a["derived"] if "derived" in a else "")
        long = a.melt(id_vars=["study", "group", "event", "serious", "timepoint", "source", "file", "line", "derived"],
                      value_vars=ADVERSE_QUANTITIES, var_name="stat", value_name="value")
        long["quantity"] = long["event"] + " (serious: " + long["serious"] + ") " + long["stat"]
        parts.append(long[["study", "group", "quantity", "timepoint", "value", "source", "file", "line", "derived"]])
    if not parts:
        return pd.DataFrame(columns=["study", "group", "quantity", "timepoint", "value", "source", "file", "line",
                                     "derived"])
    facts = pd.concat(parts, ignore_index=True)
    facts["timepoint"] = facts["timepoint"].fillna("").astype(str)
    facts["derived"] = facts["derived"].fillna("").astype(str)
    empty = facts["value"].isna() | facts["value"].astype(str).str.strip().eq("")
    return facts.loc[~empty].reset_index(drop=True)


def _row(study, group, quantity, timepoint, a, b, studies, note="") -> dict:
    ka, kb = source_kind(studies, study, a["source"]), source_kind(studies, study, b["source"])
    derived = [r for r in (a, b) if str(r.get("derived") or "").strip() not in ("", "nan")]
    if derived:  # a value the curator derived from several statements: name the arithmetic
        note = "; ".join([note] * bool(note) + [
            f"{r['source']} derived: {r['derived']} = {_fmt(r['value'])}" for r in derived])
    return {
        "study": study, "group": group, "quantity": quantity, "timepoint": timepoint,
        "value_a": _fmt(a["value"]), "source_a": a["source"], "record_a": _record(a),
        "value_b": _fmt(b["value"]), "source_b": b["source"], "record_b": _record(b),
        "kind": "derived_vs_reported" if derived and len(derived) == 1 else pair_kind(ka, kb), "note": note,
    }


def repeated_values(tables: dict[str, pd.DataFrame], studies: dict) -> pd.DataFrame:
    """The same quantity of the same group recorded with different values (see module docstring)."""
    facts = _facts(tables)
    rows = []
    keys = ["study", "group", "quantity", "timepoint"]
    timed = facts.loc[facts["timepoint"] != "post"]
    timed = timed.loc[timed.duplicated(keys, keep=False)]  # a quantity recorded once cannot disagree
    for (study, group, quantity, timepoint), g in timed.groupby(keys, sort=True):
        if len(g) < 2:
            continue
        records = g.sort_values("line").to_dict("records")
        first = records[0]
        seen = [first]
        for other in records[1:]:
            if any(_same(other["value"], s["value"]) for s in seen):
                continue
            rows.append(_row(study, group, quantity, timepoint, first, other, studies))
            seen.append(other)
    post = facts.loc[facts["timepoint"] == "post"]
    later = facts.loc[~facts["timepoint"].isin(["", "baseline", "post"])]
    # each post value is compared with its own quantity's rows: both tables split by quantity once
    later_of, post_of = split_rows(later, keys[:3]), split_rows(post, keys[:3])
    for rec in post.sort_values(["study", "line"]).to_dict("records"):
        key = (rec["study"], rec["group"], rec["quantity"])
        same = post_of(key)
        cands = pd.concat([
            later_of(key),
            same.loc[(same["line"] > rec["line"]) & (same["file"] == rec["file"])],
        ])
        cands = cands.loc[cands["source"] != rec["source"]]
        if cands.empty or any(_same(rec["value"], v) for v in cands["value"]):
            continue
        for cand in cands.sort_values("line").to_dict("records"):
            note = ("post-treatment value whose time is not stated, compared with the timed value "
                    f"at {cand['timepoint']}" if cand["timepoint"] != "post" else "")
            rows.append(_row(rec["study"], rec["group"], rec["quantity"], "post", rec, cand, studies, note))
    return pd.DataFrame(rows, columns=COLUMNS)


def route_count_conflicts(interventions: pd.DataFrame, studies: dict) -> pd.DataFrame:
    """Administrations counted per group and route vs the count a summary row reports."""
    if interventions is None or interventions.empty:
        return pd.DataFrame(columns=COLUMNS)
    iv = interventions.copy()
    iv["route"] = iv["route"].fillna("").astype(str)
    # an administration whose route is not reported cannot contradict a summary's route count
    admin = iv.loc[iv["seq"].notna() & ~iv["route"].isin(["", "unspecified"])]
    summary = iv.loc[iv["seq"].isna() & iv["count"].notna()]
    rows = []
    for (study, group), s in summary.groupby(["study", "group"], sort=True):
        given = admin.loc[(admin["study"] == study) & (admin["group"] == group)]
        if given.empty:
            continue
        for source, s_src in s.groupby("source", sort=True):
            reported = s_src.groupby("route")["count"].sum()
            counted = given.loc[given["source"] != source].groupby("route").size()
            if counted.empty:
                continue
            first_admin = given.loc[given["source"] != source].sort_values("line").iloc[0]
            for route in sorted(set(reported.index) | set(counted.index)):
                r, c = float(reported.get(route, 0)), float(counted.get(route, 0))
                if r == c:
                    continue
                summary_row = s_src.loc[s_src["route"] == route]
                srow = (summary_row.iloc[0] if len(summary_row) else s_src.iloc[0])
                a_rows = given.loc[(given["source"] != source) & (given["route"] == route)]
                arow = a_rows.sort_values("line").iloc[0] if len(a_rows) else first_admin
                note = (f"{int(c)} administration(s) by {route} recorded one by one "
                        f"({', '.join(sorted(set(given.loc[given['route'] == route, 'source'])) or '-')}) "
                        f"vs {int(r)} in the summary ({source})")
                rows.append({
                    "study": study, "group": group, "quantity": f"administrations by route {route}",
                    "timepoint": "", "value_a": _fmt(c), "source_a": arow["source"], "record_a": _record(arow),
                    "value_b": _fmt(r), "source_b": source, "record_b": _record(srow),
                    "kind": "derived_vs_reported", "note": note,
                })
    return pd.DataFrame(rows, columns=COLUMNS)


def named_route_conflicts(interventions: pd.DataFrame, studies: dict) -> pd.DataFrame:
    """Routes a source names for a study's administrations (``summary: routes`` rows, e.g. a Discussion's
    "local injection (joint, lymph node, and intranasal)") vs the routes of the administrations recorded one
    by one, per kind of source (the case texts together, the table): one row per kind that names other routes."""
    if interventions is None or interventions.empty or "summary" not in interventions:
        return pd.DataFrame(columns=COLUMNS)
    iv = interventions.copy()
    iv["route"] = iv["route"].fillna("").astype(str)
    kind = iv["summary"].fillna("").astype(str)
    named_rows = iv.loc[iv["seq"].isna() & kind.eq("routes")]
    given = iv.loc[(iv["seq"].notna() | kind.isin(["", "per_administration"])) & ~iv["route"].isin(["", "unspecified"])]
    rows = []
    for (study, source, group), named in named_rows.groupby(["study", "source", "group"], sort=True):
        own = given.loc[(given["study"] == study) & (given["source"] != source)]
        if group not in ("all", "pooled"):
            own = own.loc[own["group"] == group]
        own = own.assign(kind=[source_kind(studies, study, s) for s in own["source"]])
        said = set(named["route"]) - {""}
        for kind_b, g in own.groupby("kind", sort=True):
            recorded = set(g["route"])
            if recorded == said:
                continue
            only_b = g.loc[g["route"].isin(recorded - said)].sort_values("line")
            first_b = only_b.iloc[0] if len(only_b) else g.sort_values("line").iloc[0]
            first_a = named.sort_values("line").iloc[0]
            rows.append({
                "study": study, "group": ", ".join(sorted(set(only_b["group"]))) or group,
                "quantity": "routes named", "timepoint": "",
                "value_a": ", ".join(sorted(said)), "source_a": source, "record_a": _record(first_a),
                "value_b": ", ".join(sorted(recorded)), "source_b": "+".join(sorted(set(g["source"]))),
                "record_b": _record(first_b), "kind": pair_kind(source_kind(studies, study, source), kind_b),
                "note": (f"named only by {source}: {', '.join(sorted(said - recorded)) or '-'}; recorded only in the "
                         f"{kind_b} administrations: {', '.join(sorted(recorded - said)) or '-'}"
                         f" ('{first_a['quote']}')"),
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def age_followup_conflicts(participants: pd.DataFrame, studies: dict, tolerance_years: float = 1.0) -> pd.DataFrame:
    """Age at follow-up minus age at MSC vs recorded follow-up, per patient.

    Ages are whole years in most reports, so a difference is reported only when it exceeds
    ``tolerance_years`` (one year: two ages rounded down can be almost a year apart).
    """
    if participants is None or participants.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    # only the groups with an age at MSC, an age at follow-up and a follow-up can disagree
    p = participants.assign(_m=participants["age_at_msc_years"].notna(), _a=participants["age_followup_years"].notna(),
                            _f=participants["followup"].fillna("").astype(str) != "")
    full = p.groupby(["study", "group"])[["_m", "_a", "_f"]].transform("any").all(axis=1)
    for (study, group), g in participants.loc[full].groupby(["study", "group"], sort=True):
        at_msc = g.loc[g["age_at_msc_years"].notna()]
        at_fu = g.loc[g["age_followup_years"].notna()]
        fu = g.loc[g["followup"].fillna("").astype(str) != ""]
        for _, m in at_msc.iterrows():
            for _, f in at_fu.iterrows():
                span = f["age_followup_years"] - m["age_at_msc_years"]
                for _, t in fu.iterrows():
                    months = timepoint_months(t["followup"])
                    if math.isnan(months) or abs(span - months / 12) <= tolerance_years:
                        continue
                    rows.append({
                        "study": study, "group": group, "quantity": "follow-up (years)", "timepoint": "",
                        "value_a": _fmt(span), "source_a": f"{m['source']}+{f['source']}",
                        "record_a": f"{_record(m)}; {_record(f)}",
                        "value_b": _fmt(months / 12), "source_b": t["source"], "record_b": _record(t),
                        "kind": "derived_vs_reported",
                        "note": (f"age at follow-up {f['age_followup_years']:g} minus age at MSC "
                                 f"{m['age_at_msc_years']:g} vs follow-up '{t['followup']}'"),
                    })
    return pd.DataFrame(rows, columns=COLUMNS).drop_duplicates()


def claim_conflicts(outcomes: pd.DataFrame | None, studies: dict) -> pd.DataFrame:
    """A no-change statement about all patients of an individual-level study vs each patient whose
    recorded values of that measure changed (baseline vs any later value or range end)."""
    if outcomes is None or outcomes.empty:
        return pd.DataFrame(columns=COLUMNS)
    o = outcomes
    metric = o["metric"].fillna("level").replace("", "level")
    claims = o.loc[o["group"].eq("all") & metric.eq("change") & pd.to_numeric(o["value"], errors="coerce").eq(0)
                   & o["study"].map(lambda s: (studies.get(s) or {}).get("level") == "individual")]
    rows = []
    for c in claims.to_dict("records"):
        pts = o.loc[(o["study"] == c["study"]) & (o["measure"] == c["measure"]) & ~o["group"].isin(["all", "pooled"])
                    & metric.eq("level")]
        for patient, g in pts.groupby("group", sort=True):
            base = g.loc[g["timepoint"] == "baseline"]
            later = g.loc[g["timepoint"] != "baseline"]
            if base.empty or later.empty:
                continue
            b = base.sort_values("line").iloc[0]
            if later["value"].map(lambda v: _same(v, b["value"])).all():
                continue
            after = "-".join(_fmt(v) for v in later.sort_values("line")["value"])
            rows.append({
                "study": c["study"], "group": patient, "quantity": f"{c['measure']} change",
                "timepoint": str(c["timepoint"]), "value_a": "no change (all patients)", "source_a": c["source"],
                "record_a": _record(c), "value_b": f"{_fmt(b['value'])} -> {after}",
                "source_b": later.sort_values("line")["source"].iloc[0],
                "record_b": _record(later.sort_values("line").iloc[0]), "kind": "statement_vs_patient",
                "note": f"'{c['quote']}' vs {patient}'s recorded values",
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def selection_conflicts(evidence: pd.DataFrame | None) -> pd.DataFrame:
    """One row per value used (``evidence.csv``) and each unused report of it that gives another value."""
    from evsynth.select.evidence import alternatives

    if evidence is None or evidence.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for e in evidence.loc[evidence["differs"].astype(str).str.lower().isin(["true", "1"])].to_dict("records"):
        for alt in alternatives(e["alternatives"]):
            if str(alt["value"]) == str(e["value"]):
                continue
            rows.append({
                "study": e["study"], "group": e["group"], "quantity": f"{e['table']}: {e['quantity']}",
                "timepoint": "" if pd.isna(e["timepoint"]) else e["timepoint"],
                "value_a": e["value"], "source_a": e["source"], "record_a": f"{e['file']}:{int(e['line'])}",
                "value_b": alt["value"], "source_b": alt["source"], "record_b": f"{alt['file']}:{alt['line']}",
                "kind": "selected_vs_unused",
                "note": f"used: {e['source']} ({e['source_kind']}) by {e['rule']}; not used: {alt['source']} ({alt['kind']})",
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def checked(rows: pd.DataFrame, check: Callable) -> pd.DataFrame:
    """``rows`` found by the function ``check``, with the ``check`` column naming it."""
    return rows.reindex(columns=COLUMNS, fill_value="").assign(check=code_name(check))


def find_discrepancies(tables: dict[str, pd.DataFrame], studies: dict, extra: list[pd.DataFrame] = (),
                       evidence: pd.DataFrame | None = None) -> pd.DataFrame:
    """All disagreements in the corpus (:data:`TABLE_COLUMNS`), sorted by study, group, quantity; with
    ``evidence`` (``evidence.csv``) also each selected value beside the differing reports not used.

    ``extra``: rows of checks run elsewhere (the dose checks), each already :func:`checked`.
    """
    for frame in extra:
        if len(frame) and "check" not in frame.columns:
            raise ValueError("find_discrepancies: extra rows must name their check (use checked(rows, function))")
    parts = [
        checked(repeated_values(tables, studies), repeated_values),
        checked(route_count_conflicts(tables.get("interventions"), studies), route_count_conflicts),
        checked(named_route_conflicts(tables.get("interventions"), studies), named_route_conflicts),
        checked(age_followup_conflicts(tables.get("participants"), studies), age_followup_conflicts),
        checked(claim_conflicts(tables.get("outcomes"), studies), claim_conflicts),
        checked(selection_conflicts(evidence), selection_conflicts),
        *extra,
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    out = pd.concat(parts, ignore_index=True)[TABLE_COLUMNS]
    return out.sort_values(["study", "group", "quantity", "timepoint", "record_a", "record_b"],
                           kind="stable").reset_index(drop=True)


def summary_dose_conflicts(doses: pd.DataFrame, studies: dict) -> pd.DataFrame:
    """A summary row's dose per kg ("3.3 × 10 6 /kg/dose") vs the per-kg doses of the group's administrations.

    An administration's per-kg dose is reported, or derived from its total and the patient's weight
    (reported or implied; ``doses.csv`` says which). Figures are compared within the rounding of the
    summary's printed value (half its last digit); the administrations that fall outside it are listed in
    one row per group and summary, with their mean.
    """
    if doses is None or doses.empty:
        return pd.DataFrame(columns=COLUMNS)
    d = doses.copy()
    d["summary"] = d["summary"].astype(str).str.lower().isin(["true", "1"])
    rows = []
    # only a group with both a per-kg summary and a per-kg administration has anything to compare
    per_kg = d["cells_per_kg"].notna()
    both = d.assign(_s=d["summary"] & per_kg, _a=~d["summary"] & per_kg).groupby(["study", "group"])[
        ["_s", "_a"]].transform("any").all(axis=1)
    for (study, group), g in d.loc[both].groupby(["study", "group"], sort=True):
        summ = g.loc[g["summary"] & g["cells_per_kg"].notna()]
        all_admin = g.loc[~g["summary"] & g["cells_per_kg"].notna()]
        if summ.empty or all_admin.empty:
            continue
        for s in summ.drop_duplicates(["cells_per_kg", "route"]).to_dict("records"):
            # like with like: a summary that names a route describes that route's administrations only
            route = str(s.get("route") or "")
            admin = all_admin if route in ("", "nan", "unspecified") else all_admin.loc[all_admin["route"] == route]
            if admin.empty:
                continue
            half = float(s["cells_per_kg_round"]) / 2 if pd.notna(s.get("cells_per_kg_round")) else 0.0
            off = admin.loc[(admin["cells_per_kg"] - s["cells_per_kg"]).abs() > half + 1e-9 * s["cells_per_kg"]]
            if off.empty:
                continue
            first = off.sort_values("line").iloc[0]
            listed = ", ".join(f"seq {int(r.seq)} ({r.route}): {r.cells_per_kg / 1e6:.2f}" for r in off.itertuples())
            rows.append({
                "study": study, "group": group, "quantity": "dose per kg (10^6 cells/kg)", "timepoint": "",
                "value_a": f"{off['cells_per_kg'].mean() / 1e6:.3g} (mean of {len(off)})",
                "source_a": "administrations",
                "record_a": ";".join(f"{r.file}:{int(r.line)}" for r in off.itertuples()),
                "value_b": f"{s['cells_per_kg'] / 1e6:g}", "source_b": "summary",
                "record_b": f"{s['file']}:{int(s['line'])}", "kind": "derived_vs_reported",
                "note": (f"summary '{s['dose_text']}'" + (f" ({route})" if route else "")
                         + f" vs {route + ' ' if route else ''}administrations outside its rounding: {listed} "
                         "(derived per-kg doses use the weight basis in doses.csv)"),
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def range_conflicts(doses: pd.DataFrame, studies: dict) -> pd.DataFrame:
    """A reported range of per-kg doses (a ``range`` summary row) vs the per-kg doses recorded for the
    study's administrations: each end that matches no recorded dose (within the printed rounding, half a
    unit of its last digit), and each recorded dose outside the range."""
    if doses is None or doses.empty or "summary_kind" not in doses:
        return pd.DataFrame(columns=COLUMNS)
    d = doses.copy()
    d["summary"] = d["summary"].astype(str).str.lower().isin(["true", "1"])
    ranges = d.loc[d["summary_kind"].astype(str).eq("range") & d["cells_per_kg_low"].notna()]
    rows = []
    recorded = split_rows(d.loc[d["cells_per_kg"].notna() & ~d["summary_kind"].astype(str).isin(["range", "regimen"])])
    for r in ranges.to_dict("records"):
        own = recorded(r["study"])
        if own.empty:
            continue
        half = 0.05e6  # ends printed to one decimal of 10^6
        for end, value in (("low", r["cells_per_kg_low"]), ("high", r["cells_per_kg_high"])):
            if (own["cells_per_kg"] - value).abs().le(half + 1e-9 * value).any():
                continue
            closest = own.iloc[(own["cells_per_kg"] - value).abs().argsort().iloc[0]]
            rows.append({
                "study": r["study"], "group": r["group"], "quantity": f"dose per kg, reported range {end} end (10^6 cells/kg)",
                "timepoint": "", "value_a": f"{value / 1e6:g}", "source_a": str(r.get("source", "range")),
                "record_a": f"{r['file']}:{int(r['line'])}",
                "value_b": f"{closest['cells_per_kg'] / 1e6:.3g}", "source_b": "closest recorded dose",
                "record_b": f"{closest['file']}:{int(closest['line'])}", "kind": "derived_vs_reported",
                "note": (f"range '{r['dose_text']}': its {end} end matches no recorded per-kg dose; recorded doses "
                         f"span {own['cells_per_kg'].min() / 1e6:.3g}-{own['cells_per_kg'].max() / 1e6:.3g} "
                         "(derived per-kg doses use the weight basis in doses.csv)"),
            })
    return pd.DataFrame(rows, columns=COLUMNS)
