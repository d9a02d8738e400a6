"""Descriptive summaries (issue 6): per-patient outcomes of the case reports and counts by study feature.

Nothing here estimates an effect. The tables describe what the studies report: how many studies and patients,
which doses, how long they were followed, and how many patients improved, had a serious adverse event or
died, each proportion with its exact (Clopper-Pearson) 95% interval.

Three public functions, all pure (frames in, frame out):

* :func:`clopper_pearson` - exact binomial interval, vectorized.
* :func:`pediatric_case_outcomes` - one row per patient x measure of the individual-level studies.
* :func:`descriptive_summaries` - long table, one row per (dimension, level) plus an ``all`` row.

Inputs are the pipeline's intermediates: ``tables`` (validated records: participants, interventions,
outcomes, adverse_events, cointerventions, each with ``study``, ``file`` and ``line``), ``studies``
(parsed study.yaml by id), ``outcomes_h`` (harmonized outcomes), ``doses`` (one row per administration or
summary row), ``cumulative`` (one row per study x group) and ``responders`` (threshold flags).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.special import betaincinv

from evsynth.common.io import rows_by_study, split_rows
from evsynth.common.timepoints import DEFAULT_RANGE_BOUND, followup
from evsynth.common.vocabulary import PRIMARY_SOURCE_KINDS
from evsynth.describe.harms import patients_with_event
from evsynth.harmonize.tables import selected_doses

__all__ = [
    "clopper_pearson",
    "pediatric_case_outcomes",
    "descriptive_summaries",
    "analysis_units",
    "study_sizes",
    "PRIMARY_KINDS",
    "CONFOUNDING_RELATIONS",
    "CASE_COLUMNS",
    "SUMMARY_COLUMNS",
]

#: Source kinds whose sizes count as the primary report of a study (not secondary, registry or figure).
PRIMARY_KINDS = PRIMARY_SOURCE_KINDS
#: Co-intervention relations that confound a before/after comparison: co-treatment given, started or
#: stopped around the MSC course. ``stopped_after`` (stopped once MSC had been given) is listed in the text
#: but does not, by itself, confound the comparison.
CONFOUNDING_RELATIONS = ("concurrent", "added_after", "stopped_before", "stopped_during")
SPECIAL_GROUPS = ("all", "pooled")
_EMPTY = {"", "nan", "none", "unspecified"}

CASE_COLUMNS = [
    "study", "patient", "condition", "measure", "domain", "direction", "unit",
    "before", "before_source", "before_other",
    "after", "after_timepoint", "after_time_months", "after_source", "after_other",
    "before_h", "after_h", "unit_h", "change", "percent_change", "change_h", "improved",
    "responder", "responder_improvement", "responder_flare",
    "cum_dose_per_kg", "cum_dose_per_kg_low", "cum_dose_per_kg_high", "dose_per_kg_min", "dose_per_kg_max",
    "administrations", "administrations_by_route",
    "followup_months", "followup_basis",
    "cointerventions", "confounded", "confounding_note",
]

SUMMARY_COLUMNS = [
    "dimension", "level", "studies", "study_ids", "units", "patients", "msc_patients",
    "dose_per_kg_median", "dose_per_kg_min", "dose_per_kg_max", "dose_per_kg_units",
    "cum_dose_per_kg_median", "cum_dose_per_kg_min", "cum_dose_per_kg_max",
    "administrations_median", "administrations_min", "administrations_max",
    "followup_median", "followup_min", "followup_max", "followup_basis",
    "improved_events", "improved_n", "improved_pct", "improved_ci_low", "improved_ci_high",
    "improved_definitions", "sae_events", "sae_n", "sae_pct", "sae_ci_low", "sae_ci_high",
    "sae_unknown_events", "sae_unknown_n", "sae_unknown_pct", "sae_unknown_ci_low", "sae_unknown_ci_high",
    "death_events", "death_n", "death_pct", "death_ci_low", "death_ci_high",
    "notes",
]


# =============================================================================================
# Exact binomial interval


def clopper_pearson(events, n, level: float = 0.95):
    """Clopper-Pearson ("exact", beta) interval for ``events`` out of ``n``; vectorized.

    ``lb = Beta(alpha/2; x, n - x + 1)``, ``ub = Beta(1 - alpha/2; x + 1, n - x)``, with ``lb = 0`` when
    x = 0 and ``ub = 1`` when x = n (so 0/3 gives [0, 0.7076] and 3/3 gives [0.2924, 1]). Matches
    ``statsmodels.stats.proportion.proportion_confint(method="beta")``. Missing, negative or
    inconsistent inputs (n <= 0, x > n) give NaN. Scalars in, floats out; arrays in, arrays out.
    """
    x = np.asarray(events, dtype=float)
    m = np.asarray(n, dtype=float)
    x, m = np.broadcast_arrays(x, m)
    alpha = 1.0 - level
    ok = np.isfinite(x) & np.isfinite(m) & (m > 0) & (x >= 0) & (x <= m)
    xs, ms = np.where(ok, x, 0.0), np.where(ok, m, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        lb = np.where(xs > 0, betaincinv(np.maximum(xs, 1e-12), ms - xs + 1, alpha / 2), 0.0)
        ub = np.where(xs < ms, betaincinv(xs + 1, np.maximum(ms - xs, 1e-12), 1 - alpha / 2), 1.0)
    lb, ub = np.where(ok, lb, np.nan), np.where(ok, ub, np.nan)
    if lb.ndim == 0:
        return float(lb), float(ub)
    return lb, ub


# =============================================================================================
# Small helpers


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip().lower() in ("", "nan", "none")


def _source_kinds(frame: pd.DataFrame, studies: dict) -> pd.Series:
    """The ``kind`` of each row's source (from study.yaml ``sources``); '' when unknown."""
    def kind(study, source):
        src = ((studies.get(study) or {}).get("sources") or {}).get(source)
        return src.get("kind", "") if isinstance(src, dict) else ""
    pairs = pd.Series(list(zip(frame["study"], frame["source"])), index=frame.index, dtype=object)
    uniq = {p: kind(*p) for p in set(pairs)}
    return pairs.map(uniq).astype(object)


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:g}"
    return str(v)


def _sorted_join(values: Iterable, sep: str = ";") -> str:
    return sep.join(sorted({str(v) for v in values if not _blank(v)}))


def _is_msc(agent: pd.Series) -> pd.Series:
    return agent.astype(str).str.startswith("msc")


def _patient_key(group: str):
    g = str(group)
    digits = "".join(ch for ch in g if ch.isdigit())
    return (int(digits) if digits else 0, g)


def _empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


# =============================================================================================
# Sizes


def study_sizes(participants: pd.DataFrame, studies: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Arm sizes and study sizes from the primary report.

    Rule: among ``participants`` rows with ``n``, keep those whose source is of kind text, table or
    abstract (:data:`PRIMARY_KINDS`); a study with no such row falls back to all its rows. Per arm, the
    earliest row (lowest ``line``) gives its size. The study's size is its ``all`` row when there is one
    (subgroup rows such as ``children``/``adults`` are subsets of it and are not added), otherwise the sum
    of its arms (``pooled`` rows of reviews are ignored unless nothing else exists). Individual-level
    studies without an ``all`` row count their patients. Arms that only a non-primary source sizes are
    kept in ``arms`` with ``primary`` False.

    Returns ``(arms, sizes)``: arms = study, group, n, source, primary; sizes = study, n, rule.
    """
    p = participants.loc[participants["n"].notna(), ["study", "group", "n", "source", "line"]].copy()
    p["primary"] = _source_kinds(p, studies).isin(PRIMARY_KINDS).to_numpy() if len(p) else []
    has_primary = p.groupby("study")["primary"].transform("any") if len(p) else p["primary"]
    p["use"] = p["primary"] | ~has_primary.astype(bool)
    p = p.sort_values(["study", "group", "use", "line"], ascending=[True, True, False, True], kind="stable")
    arms = p.drop_duplicates(["study", "group"])[["study", "group", "n", "source", "use"]]
    arms = arms.rename(columns={"use": "primary"}).reset_index(drop=True)
    rows = []
    primary_arms, people = split_rows(arms.loc[arms["primary"]]), split_rows(participants)
    for sid in sorted(studies):
        a = primary_arms(sid)
        if (a["group"] == "all").any():
            rows.append((sid, float(a.loc[a["group"] == "all", "n"].iloc[0]), "primary 'all' row"))
        elif (~a["group"].isin(SPECIAL_GROUPS)).any():
            rows.append((sid, float(a.loc[~a["group"].isin(SPECIAL_GROUPS), "n"].sum()), "sum of primary arm rows"))
        elif len(a):
            rows.append((sid, float(a["n"].iloc[0]), f"primary '{a['group'].iloc[0]}' row"))
        elif (studies[sid] or {}).get("level") == "individual":
            own = people(sid)
            pts = own.loc[~own["group"].isin(SPECIAL_GROUPS), "group"]
            rows.append((sid, float(pts.nunique()) if len(pts) else np.nan, "patients counted"))
        else:
            rows.append((sid, np.nan, "not reported"))
    sizes = pd.DataFrame(rows, columns=["study", "n", "rule"])
    return arms, sizes


# =============================================================================================
# Per-patient outcomes


def _rank_sources(o: pd.DataFrame) -> pd.DataFrame:
    """Per (study, group, measure, source): has a baseline, has a post value, first line."""
    g = o.groupby(["study", "group", "measure", "source"], sort=False)
    r = g.agg(has_base=("is_base", "any"), has_post=("is_post", "any"), first_line=("line_num", "min")).reset_index()
    r["both"] = r["has_base"] & r["has_post"]
    r = r.sort_values(["study", "group", "measure", "both", "first_line"], ascending=[True, True, True, False, True],
                      kind="stable")
    r["rank"] = r.groupby(["study", "group", "measure"]).cumcount()
    return r[["study", "group", "measure", "source", "rank"]]


def _pick(o: pd.DataFrame, mask: pd.Series, latest: bool) -> pd.DataFrame:
    """One row per (study, group, measure, source): the baseline, or the latest post-baseline value
    (timed values before ``post``, which has no stated time), lowest line on ties."""
    sub = o.loc[mask].copy()
    sub["_timed"] = sub["time_months"].notna()
    keys = ["study", "group", "measure", "source"]
    if latest:
        sub = sub.sort_values(keys + ["_timed", "time_months", "line_num"],
                              ascending=[True] * 4 + [False, False, True], kind="stable")
    else:
        sub = sub.sort_values(keys + ["line_num"], kind="stable")
    return sub.drop_duplicates(keys)


def _first_and_others(picked: pd.DataFrame, ranks: pd.DataFrame, with_time: bool) -> pd.DataFrame:
    """The first-ranked source's value, and the other sources' values where they differ."""
    keys3 = ["study", "group", "measure"]
    x = picked.merge(ranks, on=keys3 + ["source"], how="left").sort_values(keys3 + ["rank"], kind="stable")
    first = x.drop_duplicates(keys3).set_index(keys3)
    x = x.join(first["value"].rename("first_value"), on=keys3)
    diff = x.loc[x["value"].ne(x["first_value"]) & x["value"].notna()]
    if diff.empty:  # every source agrees (or there is one source)
        return first.assign(other=np.nan)
    if with_time:
        label = diff["value"].map(_fmt) + " [" + diff["source"].astype(str) + ", " + diff["timepoint"].astype(str) + "]"
    else:
        label = diff["value"].map(_fmt) + " [" + diff["source"].astype(str) + "]"
    others = label.groupby([diff[k] for k in keys3]).agg("; ".join).rename("other")
    return first.join(others)


def _cointervention_text(co: pd.DataFrame, study: str, patient: str) -> tuple[str, bool, str]:
    c = co.loc[(co["study"] == study) & co["group"].isin([patient, "all"])].sort_values("line", kind="stable")
    parts, notes = [], []
    for r in c.itertuples():
        when = f" ({r.timepoint})" if not _blank(r.timepoint) else ""
        scope = " [all patients]" if r.group == "all" else ""
        parts.append(f"{r.therapy}: {r.relation}{when}{scope}")
        if r.relation in CONFOUNDING_RELATIONS:
            notes.append(f"{r.relation}: {r.therapy}{when}{scope}")
    return "; ".join(parts), bool(notes), "; ".join(notes)


def pediatric_case_outcomes(tables: dict[str, pd.DataFrame], studies: dict, outcomes_h: pd.DataFrame,
                            doses: pd.DataFrame, cumulative: pd.DataFrame, responders: pd.DataFrame,
                            followup_bound: str = DEFAULT_RANGE_BOUND) -> pd.DataFrame:
    """One row per patient x measure of every individual-level study (study.yaml ``level: individual``).

    Rows: outcomes with ``stat`` ``value`` and metric ``level`` (a titre given only as a min/max range has no
    ``value`` and is left out of before/after). Rules:

    * **Sources.** Each source reporting the measure for the patient is ranked: sources giving both a
      baseline and a post-baseline value first, then by first line in outcomes.csv (text before table in
      the worked example). ``before``/``after`` come from the first-ranked source that has them; other
      sources whose value *differs* are listed in ``before_other``/``after_other`` as ``value [source]``
      (``value [source, timepoint]`` for after). Agreeing sources are not repeated; no row is duplicated.
    * **After** is the latest post-baseline value of that source: the largest ``time_months``; a ``post``
      value (time not stated) is used only when the source has no timed value.
    * ``change = after - before`` (native unit), ``percent_change = 100 change / before`` (NaN when before
      is 0), ``change_h`` in the harmonized unit. ``improved``: lower_better -> change < 0, higher_better
      -> change > 0, direction none or a missing value -> empty.
    * ``responder_<threshold>`` and ``responder``: from ``responders`` (thresholds in responders.yaml, e.g.
      SLEDAI-2K improvement = decrease > 3) at the after timepoint; empty where no threshold exists.
    * Doses: ``cum_dose_per_kg`` (+ low/high) from ``cumulative``; ``dose_per_kg_min/max`` over the
      patient's selected administration rows in ``doses`` (:func:`evsynth.harmonize.tables.selected_doses`;
      summary rows only when no administration row exists).
      ``administrations`` and ``administrations_by_route`` from ``cumulative``.
    * Follow-up: the patient's reported ``followup`` (primary sources first), else the latest timed
      post-baseline outcome of the patient (never the study's follow-up, which may not apply to every
      patient); ``followup_basis`` says which.
    * ``cointerventions``: every co-intervention of the patient and every study-wide (``all``) one, as
      ``therapy: relation (timepoint)``. ``confounded`` is True when any has a relation in
      :data:`CONFOUNDING_RELATIONS` (concurrent, added_after, stopped_before, stopped_during: co-treatment
      given, started or stopped around the MSC course); ``confounding_note`` lists them.
    """
    doses = selected_doses(doses)  # the administrations the synthesis uses, each once
    individual = sorted(s for s, m in studies.items() if (m or {}).get("level") == "individual")
    o = outcomes_h.loc[outcomes_h["study"].isin(individual) & (outcomes_h["stat"] == "value")
                       & (outcomes_h["metric"].fillna("level").replace("", "level") == "level")
                       & ~outcomes_h["group"].isin(SPECIAL_GROUPS)].copy()
    if o.empty:
        return _empty_frame(CASE_COLUMNS)
    o["line_num"] = pd.to_numeric(o["line"], errors="coerce")
    o["is_base"] = o["timepoint"].astype(str).eq("baseline")
    o["is_post"] = ~o["is_base"] & o["value"].notna()
    ranks = _rank_sources(o)
    before = _first_and_others(_pick(o, o["is_base"] & o["value"].notna(), latest=False), ranks, with_time=False)
    after = _first_and_others(_pick(o, o["is_post"], latest=True), ranks, with_time=True)
    keys3 = ["study", "group", "measure"]
    base = o.sort_values(keys3 + ["line_num"], kind="stable").drop_duplicates(keys3).set_index(keys3)
    out = base[["domain", "direction", "unit", "unit_h"]].copy()
    out = out.join(before[["value", "value_h", "source", "other"]].rename(columns={
        "value": "before", "value_h": "before_h", "source": "before_source", "other": "before_other"}))
    out = out.join(after[["value", "value_h", "source", "other", "timepoint", "time_months"]].rename(columns={
        "value": "after", "value_h": "after_h", "source": "after_source", "other": "after_other",
        "timepoint": "after_timepoint", "time_months": "after_time_months"}))
    out = out.reset_index().rename(columns={"group": "patient"})
    out["change"] = out["after"] - out["before"]
    out["change_h"] = out["after_h"] - out["before_h"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["percent_change"] = np.where(out["before"].ne(0), 100 * out["change"] / out["before"], np.nan)
    imp = pd.Series(pd.NA, index=out.index, dtype="boolean")
    known = out["change"].notna()
    imp[known & out["direction"].eq("lower_better")] = out.loc[known & out["direction"].eq("lower_better"), "change"] < 0
    imp[known & out["direction"].eq("higher_better")] = out.loc[known & out["direction"].eq("higher_better"), "change"] > 0
    out["improved"] = imp

    # responders at the after timepoint
    out["responder"] = ""
    for name in ("improvement", "flare"):
        out[f"responder_{name}"] = pd.Series(pd.NA, index=out.index, dtype="boolean")
    if responders is not None and len(responders):
        r = responders.loc[responders["study"].isin(individual)].copy()
        r["timepoint"] = r["timepoint"].astype(str)
        r = r.drop_duplicates(["study", "group", "measure", "timepoint", "threshold"])
        hits = split_rows(r, ["study", "group", "measure", "timepoint"])
        for i, row in out.iterrows():
            hit = hits((row["study"], row["patient"], row["measure"], str(row["after_timepoint"])))
            if hit.empty:
                continue
            texts = []
            for h in hit.itertuples():
                met = bool(h.met) if not _blank(h.met) else None
                if f"responder_{h.threshold}" not in out.columns:
                    out[f"responder_{h.threshold}"] = pd.Series(pd.NA, index=out.index, dtype="boolean")
                out.loc[i, f"responder_{h.threshold}"] = met
                texts.append(f"{h.threshold}: {'met' if met else 'not met' if met is not None else 'unknown'}")
            out.loc[i, "responder"] = "; ".join(texts)

    # per-patient columns
    part = tables["participants"]
    co = tables.get("cointerventions", _empty_frame(["study", "group", "therapy", "relation", "timepoint", "line"]))
    cum = cumulative.set_index(["study", "group"]) if len(cumulative) else None
    per_patient = {}
    # each table split once by study (and patient), not filtered whole for every patient
    part_of, doses_of, co_of = split_rows(part, ["study", "group"]), split_rows(doses, ["study", "group"]), split_rows(co)
    own_tables = rows_by_study(tables)
    for study, patient in sorted(set(zip(out["study"], out["patient"])), key=lambda k: (k[0], _patient_key(k[1]))):
        p = part_of((study, patient))
        p = p.assign(_prim=_source_kinds(p, studies).isin(PRIMARY_KINDS)).sort_values(["_prim", "line"],
                                                                                      ascending=[False, True])
        cond = p["condition"].map(lambda v: not _blank(v))
        d = doses_of((study, patient))
        d = d.loc[~d["summary"].astype(bool)] if (~d["summary"].astype(bool)).any() else d
        c = cum.loc[(study, patient)] if cum is not None and (study, patient) in cum.index else None
        routes = "" if c is None or _blank(c["routes"]) else ", ".join(
            f"{k or 'unspecified'} ×{v}" for k, v in (x.rsplit(":", 1) for x in str(c["routes"]).split(";")))
        fu = followup(studies, own_tables(study), study, patient, patient=True, bound=followup_bound)
        text, confounded, note = _cointervention_text(co_of(study), study, patient)
        per_patient[(study, patient)] = {
            "condition": p.loc[cond, "condition"].iloc[0] if cond.any() else "",
            "cum_dose_per_kg": np.nan if c is None else c["cum_cells_per_kg"],
            "cum_dose_per_kg_low": np.nan if c is None else c["cum_cells_per_kg_low"],
            "cum_dose_per_kg_high": np.nan if c is None else c["cum_cells_per_kg_high"],
            "dose_per_kg_min": d["cells_per_kg"].min() if len(d) else np.nan,
            "dose_per_kg_max": d["cells_per_kg"].max() if len(d) else np.nan,
            "administrations": np.nan if c is None else float(c["n_administrations"]),
            "administrations_by_route": routes,
            "followup_months": fu.months, "followup_basis": fu.basis,
            "cointerventions": text, "confounded": confounded, "confounding_note": note,
        }
    extra = pd.DataFrame([per_patient[(s, p)] for s, p in zip(out["study"], out["patient"])], index=out.index)
    out = pd.concat([out, extra], axis=1)
    out["_pk"] = out["patient"].map(_patient_key)
    out = out.sort_values(["study", "_pk", "domain", "measure"], kind="stable").drop(columns="_pk")
    for col in ("before_other", "after_other", "before_source", "after_source", "after_timepoint"):
        out[col] = out[col].fillna("")
    cols = CASE_COLUMNS + sorted(c for c in out.columns if c.startswith("responder_") and c not in CASE_COLUMNS)
    return out[cols].reset_index(drop=True)


# =============================================================================================
# Analysis units: patients of individual-level studies, MSC arms of aggregate ones


def _levels(values: Iterable) -> list[str]:
    """Distinct reported values; 'unspecified' only when nothing specific is reported."""
    vals = {str(v) for v in values if not _blank(v)}
    specific = sorted(v for v in vals if v.lower() not in _EMPTY)
    return specific or ["unspecified"]


def _binary_rows(outcomes_h: pd.DataFrame, mask: pd.Series, unit_n: pd.Series) -> pd.DataFrame:
    """events / n / percent rows -> one row per (study, group, measure, timepoint, source) with events and n.

    Events missing but percent and n known: events = round(percent x n / 100) (derived, noted). n missing:
    the arm's size (noted)."""
    o = outcomes_h.loc[mask & outcomes_h["stat"].isin(["events", "n", "percent"])]
    keys = ["study", "group", "measure", "timepoint", "source"]
    if o.empty:
        return pd.DataFrame(columns=keys + ["time_months", "events", "n", "note", "line"])
    w = o.pivot_table(index=keys, columns="stat", values="value", aggfunc="first", dropna=False)
    w = w.reindex(columns=["events", "n", "percent"]).dropna(how="all").reset_index()
    meta = o.assign(_l=pd.to_numeric(o["line"], errors="coerce")).groupby(keys)[["time_months", "_l"]].min()
    w = w.join(meta, on=keys).rename(columns={"_l": "line"})
    note = pd.Series("", index=w.index, dtype=object)
    arm_n = pd.Series([unit_n.get((s, g), np.nan) for s, g in zip(w["study"], w["group"])], index=w.index, dtype=float)
    no_n = w["n"].isna() & arm_n.notna()
    w.loc[no_n, "n"] = arm_n[no_n]
    note[no_n] = "n = arm size"
    derive = w["events"].isna() & w["percent"].notna() & w["n"].notna()
    w.loc[derive, "events"] = np.round(w.loc[derive, "percent"] * w.loc[derive, "n"] / 100)
    note[derive] = (note[derive] + "; ").str.lstrip("; ") + "events derived = round(percent x n / 100)"
    w["note"] = note.str.strip("; ")
    return w


def _latest(frame: pd.DataFrame, by: list[str], prefer: list[tuple[str, bool]] = ()) -> pd.DataFrame:
    """The latest timed row per ``by`` (``post`` rows only when nothing is timed), then ``prefer``."""
    f = frame.assign(_timed=frame["time_months"].notna())
    cols = by + ["_timed", "time_months"] + [c for c, _ in prefer] + ["line"]
    asc = [True] * len(by) + [False, False] + [a for _, a in prefer] + [True]
    return f.sort_values(cols, ascending=asc, kind="stable").drop_duplicates(by).drop(columns="_timed")


def analysis_units(tables: dict[str, pd.DataFrame], studies: dict, outcomes_h: pd.DataFrame, doses: pd.DataFrame,
                   cumulative: pd.DataFrame, exclude_designs: Sequence[str] = ("systematic_review",),
                   measures: dict | None = None, followup_bound: str = DEFAULT_RANGE_BOUND) -> pd.DataFrame:
    """One row per analysis unit: a patient of an individual-level study, an MSC-treated arm of an aggregate one.

    MSC arms are the groups with an ``msc*`` agent in interventions.csv; an arm sized only by a non-primary
    source is dropped when the study has primary-sized MSC arms (e.g. a review's pooled ``msc`` arm beside
    the trial's dose cohorts). Control arms are not units: proportions describe MSC-treated patients.
    Columns: study, group, level, population, condition, cell_source, donor, route (lists of levels;
    'unspecified' only when nothing specific is reported), n, study_n, dose_per_kg (median per-kg dose of
    the unit's administrations), cum_dose_per_kg, administrations, followup_months and followup_basis (by
    :func:`evsynth.common.timepoints.followup`), improved_events/_n,
    sae_events/_n, death_events/_n and notes (what was derived, and how).
    """
    part, iv = tables["participants"], tables["interventions"]
    ae = tables.get("adverse_events")
    keep = sorted(s for s, m in studies.items() if (m or {}).get("design") not in tuple(exclude_designs))
    arms, sizes = study_sizes(part, studies)
    study_n = sizes.set_index("study")["n"]
    arm_n = arms.loc[arms["primary"]].set_index(["study", "group"])["n"]

    msc_iv = iv.loc[_is_msc(iv["agent"]) & iv["study"].isin(keep)]
    part_of, msc_of, other_arms_of = split_rows(part), split_rows(msc_iv), split_rows(arms.loc[~arms["primary"]])
    units = []
    for sid in keep:
        meta = studies[sid] or {}
        if meta.get("level") == "individual":
            groups = set(part_of(sid)["group"]) | set(msc_of(sid)["group"])
            groups = sorted(groups - set(SPECIAL_GROUPS), key=_patient_key)
            units += [(sid, g, "patient", 1.0) for g in groups]
            continue
        groups = sorted(set(msc_of(sid)["group"]))
        prim = [g for g in groups if (sid, g) in arm_n.index]
        if prim:
            sized_elsewhere = set(other_arms_of(sid)["group"])
            groups = [g for g in groups if g in prim or g not in sized_elsewhere]
        for g in groups:
            n = study_n.get(sid, np.nan) if g == "all" else arm_n.get((sid, g), np.nan)
            units.append((sid, g, "arm", float(n)))
    u = pd.DataFrame(units, columns=["study", "group", "unit", "n"])
    if u.empty:
        return u
    u["study_n"] = u["study"].map(study_n).astype(float)
    u["population"] = u["study"].map(lambda s: [studies[s].get("population") or "unspecified"])
    kinds = _source_kinds(part, studies) if len(part) else pd.Series(dtype=object)
    pc = part.assign(_prim=kinds.isin(PRIMARY_KINDS)).sort_values(["_prim", "line"], ascending=[False, True])
    pc = pc.loc[pc["condition"].map(lambda v: not _blank(v))].drop_duplicates(["study", "group"])
    cond = pc.set_index(["study", "group"])["condition"]
    u["condition"] = [[cond[(s, g)]] if (s, g) in cond.index else _levels(studies[s].get("conditions") or [])
                      for s, g in zip(u["study"], u["group"])]
    for col in ("cell_source", "donor", "route"):
        by_group = msc_iv.groupby(["study", "group"])[col].agg(list)
        by_study = msc_iv.groupby("study")[col].agg(list)
        u[col] = [_levels(by_group.get((s, g), by_study.get(s, []) if g == "all" else []))
                  for s, g in zip(u["study"], u["group"])]

    # doses: the administrations the synthesis uses, each once (another report of one is not another dose)
    d = selected_doses(doses).copy()
    d["_admin"] = ~d["summary"].astype(bool)
    has_admin = d.groupby(["study", "group"])["_admin"].transform("any")
    d = d.loc[d["_admin"] | ~has_admin]
    per_kg = d.groupby(["study", "group"])["cells_per_kg"].median()
    cum = cumulative.set_index(["study", "group"])
    idx = pd.MultiIndex.from_frame(u[["study", "group"]])
    u["dose_per_kg"] = per_kg.reindex(idx).to_numpy()
    u["cum_dose_per_kg"] = cum["cum_cells_per_kg"].reindex(idx).to_numpy() if len(cum) else np.nan
    u["administrations"] = cum["n_administrations"].reindex(idx).to_numpy() if len(cum) else np.nan
    own_tables = rows_by_study(tables)
    fus = [followup(studies, own_tables(s), s, g, patient=(k == "patient"), bound=followup_bound)
           for s, g, k in zip(u["study"], u["group"], u["unit"])]
    u["followup_months"] = [f.months for f in fus]
    u["followup_basis"] = [f.basis for f in fus]

    notes: dict[int, list[str]] = {i: [] for i in u.index}
    unit_n = dict(zip(zip(u["study"], u["group"]), u["n"]))
    ukey = pd.Series(u.index, index=pd.MultiIndex.from_frame(u[["study", "group"]]))

    # improved
    u["improved_events"], u["improved_n"], u["improved_definition"] = np.nan, np.nan, ""
    pts = u.loc[u["unit"] == "patient"]
    if len(pts):
        cases = pediatric_case_outcomes(tables, studies, outcomes_h, doses, cumulative, pd.DataFrame(), followup_bound)
        cases = cases.loc[cases["improved"].notna()]
        cases_of = split_rows(cases, ["study", "patient"])
        for (s, g), i in ukey.items():
            if u.at[i, "unit"] != "patient":
                continue
            c = cases_of((s, g))
            for domain in ("disease_activity", "global_assessment"):
                cd = c.loc[c["domain"] == domain]
                if len(cd):
                    u.at[i, "improved_events"] = float(cd["improved"].astype(bool).all())
                    u.at[i, "improved_n"] = 1.0
                    u.at[i, "improved_definition"] = f"{domain.replace('_', ' ')} improved (patient)"
                    notes[i].append(f"improved on {domain}: " + ", ".join(cd["measure"]))
                    break
    mask = outcomes_h["domain"].eq("response") & outcomes_h["metric"].fillna("level").replace("", "level").eq("level")
    if measures:
        binary = [m for m, spec in measures.items() if (spec or {}).get("kind") == "binary"]
        mask &= outcomes_h["measure"].isin(binary)
    resp = _binary_rows(outcomes_h, mask & outcomes_h["study"].isin(keep), unit_n)
    resp = resp.loc[resp["events"].notna() & resp["n"].notna() & resp["n"].gt(0)]
    resp = resp.loc[[(s, g) in unit_n for s, g in zip(resp["study"], resp["group"])]]
    if len(resp):
        resp = resp.assign(_neg_ev=-resp["events"])
        best = _latest(resp, ["study", "group"], prefer=[("_neg_ev", True), ("measure", True)])
        for r in best.itertuples():
            i = ukey[(r.study, r.group)]
            if u.at[i, "unit"] != "arm":
                continue
            u.at[i, "improved_events"], u.at[i, "improved_n"] = r.events, r.n
            u.at[i, "improved_definition"] = str(r.measure)
            notes[i].append(f"improved = {r.measure} {r.events:g}/{r.n:g} at {r.timepoint} [{r.source}]"
                            + (f" ({r.note})" if r.note else ""))

    # serious adverse events, and events whose seriousness the source does not state (counted apart)
    for prefix, level_ in (("sae", "yes"), ("sae_unknown", "unknown")):
        u[f"{prefix}_events"], u[f"{prefix}_n"] = np.nan, np.nan
        if ae is None or not len(ae):
            continue
        s_ae = ae.loc[ae["serious"].astype(str).eq(level_) & ae["study"].isin(keep)].copy()
        own_of = split_rows(s_ae, ["study", "group"])
        zero_all_of = split_rows(s_ae.loc[(s_ae["group"] == "all") & s_ae["n_patients"].eq(0)])
        for i in u.index:
            s, g, unit = u.at[i, "study"], u.at[i, "group"], u.at[i, "unit"]
            own = own_of((s, g))
            zero_all = zero_all_of(s)
            study_wide = not len(own)  # the study's report of none for all its patients stands in for this unit
            rows = zero_all if study_wide else own
            if rows.empty:
                continue
            rows = rows.copy()
            for col in ("n_patients", "n_events", "n_at_risk"):
                rows[col] = pd.to_numeric(rows[col], errors="coerce").astype(float)
            from_events = rows["n_patients"].isna() & rows["n_events"].isin([0, 1])
            rows.loc[from_events, "n_patients"] = rows.loc[from_events, "n_events"]
            if unit == "patient":
                rows["n_patients"] = rows["n_patients"].fillna(1.0).clip(upper=1.0)
            ev, how = patients_with_event(rows)
            if not np.isfinite(ev):
                continue
            at_risk = rows["n_at_risk"].max() if unit == "arm" and rows["n_at_risk"].notna().any() else u.at[i, "n"]
            if unit == "patient":
                at_risk, ev = 1.0, min(ev, 1.0)
            if not np.isfinite(at_risk):
                continue
            u.at[i, f"{prefix}_events"], u.at[i, f"{prefix}_n"] = min(ev, at_risk), at_risk
            src = "study-wide report of none" if study_wide else ""
            label = "; ".join(x for x in (how, src) if x)
            if level_ == "unknown" and ev > 0:
                label = "; ".join(x for x in ("events of unknown seriousness: " + ", ".join(
                    f"'{e}'" for e, k in zip(rows["event"], rows["n_patients"]) if k and k > 0), label) if x)
            if label:
                notes[i].append(f"{'SAE' if level_ == 'yes' else 'unknown seriousness'}: {label}")

    # deaths
    u["death_events"], u["death_n"] = np.nan, np.nan
    dm = outcomes_h["measure"].isin(["death", "survival"]) & outcomes_h["study"].isin(keep)
    dd = _binary_rows(outcomes_h, dm, {})
    if len(dd):
        w = dd.pivot_table(index=["study", "group", "timepoint", "source"], columns="measure",
                           values=["events", "n"], aggfunc="first")
        w.columns = [f"{m}_{v}" for v, m in w.columns]
        w = w.reindex(columns=["death_events", "death_n", "survival_events", "survival_n"]).reset_index()
        meta = dd.groupby(["study", "group", "timepoint", "source"])[["time_months", "line"]].min()
        w = w.join(meta, on=["study", "group", "timepoint", "source"])
        w["n"] = w["death_n"].fillna(w["survival_n"])
        w["events"] = w["death_events"]
        derived = w["events"].isna() & w["survival_events"].notna() & w["survival_n"].notna()
        w.loc[derived, "events"] = w.loc[derived, "survival_n"] - w.loc[derived, "survival_events"]
        w["derived"] = derived
        w = w.loc[w["events"].notna()]
        w = w.loc[[(s, g) in unit_n for s, g in zip(w["study"], w["group"])]]
        if len(w):
            best = _latest(w, ["study", "group"], prefer=[("derived", True)])
            for r in best.itertuples():
                i = ukey[(r.study, r.group)]
                n = r.n if np.isfinite(r.n) else u.at[i, "n"]
                if not np.isfinite(n):
                    continue
                u.at[i, "death_events"], u.at[i, "death_n"] = r.events, n
                if r.derived:
                    notes[i].append(f"deaths derived = n - survivors = {r.survival_n:g} - {r.survival_events:g} "
                                    f"at {r.timepoint} [{r.source}]")
                else:
                    notes[i].append(f"deaths {r.events:g}/{n:g} at {r.timepoint} [{r.source}]"
                                    + ("" if np.isfinite(r.death_n) else
                                       (" (n from survival row)" if np.isfinite(r.survival_n) else " (n = arm size)")))
    if ae is not None and len(ae):
        da = ae.loc[ae["event"].astype(str).str.lower().str.contains("death") & ae["n_patients"].notna()]
        for r in da.itertuples():
            if (r.study, r.group) not in unit_n:
                continue
            i = ukey[(r.study, r.group)]
            if np.isfinite(u.at[i, "death_events"]):
                continue
            n = r.n_at_risk if np.isfinite(r.n_at_risk) else u.at[i, "n"]
            if np.isfinite(n):
                u.at[i, "death_events"], u.at[i, "death_n"] = float(r.n_patients), float(n)
                notes[i].append(f"deaths from adverse event '{r.event}' [{r.source}]")
    u["notes"] = [" | ".join(notes[i]) for i in u.index]
    return u.reset_index(drop=True)


# =============================================================================================
# Long summary table


def _prop(frame: pd.DataFrame, prefix: str, out: dict) -> None:
    """Summed events and n over units with both; the CI is added for all rows at once afterwards."""
    ok = frame[f"{prefix}_events"].notna() & frame[f"{prefix}_n"].notna()
    ev, n = frame.loc[ok, f"{prefix}_events"].sum(), frame.loc[ok, f"{prefix}_n"].sum()
    good = bool(ok.any()) and n > 0
    out[f"{prefix}_events"] = float(ev) if good else np.nan
    out[f"{prefix}_n"] = float(n) if good else np.nan


def _stats(values: pd.Series, name: str, out: dict) -> None:
    v = values.dropna()
    out[f"{name}_median"] = float(v.median()) if len(v) else np.nan
    out[f"{name}_min"] = float(v.min()) if len(v) else np.nan
    out[f"{name}_max"] = float(v.max()) if len(v) else np.nan


def _definitions(frame: pd.DataFrame) -> str:
    """What 'improved' means in a row, definition by definition: 'acr20: 2 units (14/30); remission: ...'.

    A proportion 'improved' that sums several outcome definitions says so here, with each one's count.
    """
    used = frame.loc[frame["improved_events"].notna() & frame["improved_n"].notna()]
    if used.empty:
        return ""
    parts = []
    for definition, g in used.groupby("improved_definition", sort=True):
        units = len(g)
        parts.append(f"{definition}: {units} unit{'s' if units != 1 else ''} "
                     f"({g['improved_events'].sum():g}/{g['improved_n'].sum():g})")
    mixed = "MIXED DEFINITIONS - " if len(parts) > 1 else ""
    return mixed + "; ".join(parts)


def _summarise(frame: pd.DataFrame, dimension: str, level: str) -> dict:
    out: dict = {"dimension": dimension, "level": level}
    study_ids = sorted(set(frame["study"]))
    out["studies"] = len(study_ids)
    out["study_ids"] = ";".join(study_ids)
    out["units"] = len(frame)
    agg = frame.loc[frame["unit"] == "arm"].drop_duplicates("study")["study_n"].sum(min_count=1)
    ind = float((frame["unit"] == "patient").sum())
    out["patients"] = float(np.nansum([agg, ind])) if (np.isfinite(agg) or ind) else np.nan
    out["msc_patients"] = float(frame["n"].sum(min_count=1))
    _stats(frame["dose_per_kg"], "dose_per_kg", out)
    out["dose_per_kg_units"] = int(frame["dose_per_kg"].notna().sum())
    _stats(frame["cum_dose_per_kg"], "cum_dose_per_kg", out)
    _stats(frame["administrations"], "administrations", out)
    _stats(frame["followup_months"], "followup", out)
    out["followup_basis"] = " || ".join(f"{s}/{g}: {b}" for s, g, m, b in zip(
        frame["study"], frame["group"], frame["followup_months"], frame["followup_basis"]) if np.isfinite(m))
    for prefix in ("improved", "sae", "sae_unknown", "death"):
        _prop(frame, prefix, out)
    out["improved_definitions"] = _definitions(frame)
    notes = [f"{s}/{g}: {t}" for s, g, t in zip(frame["study"], frame["group"], frame["notes"]) if t]
    out["notes"] = " || ".join(notes)
    return out


def descriptive_summaries(tables: dict[str, pd.DataFrame], studies: dict, outcomes_h: pd.DataFrame,
                          doses: pd.DataFrame, cumulative: pd.DataFrame,
                          by: Sequence[str] = ("population", "condition", "cell_source", "donor", "route"),
                          exclude_designs: Sequence[str] = ("systematic_review",),
                          measures: dict | None = None, conditions: Sequence[str] | None = None,
                          followup_bound: str = DEFAULT_RANGE_BOUND) -> pd.DataFrame:
    """Counts, doses, follow-up and proportions by study feature; long format.

    ``conditions``: only studies with at least one of these conditions are described (the review's
    question, e.g. the rheumatic diseases; GVHD dosing references stay out unless listed); None: all.

    One row per (dimension, level) for each dimension in ``by`` (levels sorted), after one ``all``/``all``
    row. Studies whose design is in ``exclude_designs`` are left out (reviews would count their included
    trials twice). The unit of description is a patient of an individual-level study or an MSC-treated arm
    of an aggregate one (:func:`analysis_units`); a unit - hence a study - appears once under each distinct
    value it used (a study giving IV and intra-articular cells counts under both routes; 'unspecified' only
    when no specific value is reported), so levels of one dimension may add up to more than ``all``.

    Columns and rules:

    * ``studies``, ``study_ids``; ``units`` (patients + arms).
    * ``patients``: the sum of study sizes, each from its primary report (:func:`study_sizes`: the earliest
      ``participants`` row per arm from a text, table or abstract source; the ``all`` row when present, else
      the sum of the arms). Individual-level studies add the patients in the level. Control arms are
      included here (they are part of the study), ``msc_patients`` is the sum of the MSC units' sizes.
    * ``dose_per_kg_*``: median/min/max over units of the unit's median per-kg dose per administration
      (cells/kg, from ``doses``; units without a derivable per-kg dose are left out, ``dose_per_kg_units``
      counts those with one; only the selected rows of ``doses``, one per administration:
      :func:`evsynth.harmonize.tables.selected_doses`); ``cum_dose_per_kg_*`` the same for the cumulative
      dose; ``administrations_*`` over units (per patient or per arm); ``followup_*`` months over units and ``followup_basis`` (per unit,
      ``study/group: basis``), by :func:`evsynth.common.timepoints.followup`.
    * ``improved``: a patient improved when every disease-activity measure with a before and an after value
      improved (if none, the global assessments; direction from measures.yaml); an arm contributes the
      events/n of a binary measure of the ``response`` domain at its latest timed timepoint (``post`` only
      when none is timed), the measure with most events (the broadest response definition) when several
      are given. Events are summed over units, with a Clopper-Pearson 95% CI. ``improved_definitions``
      names each definition summed (and starts with 'MIXED DEFINITIONS' when there are several).
    * ``sae``: patients with at least one serious adverse event (``adverse_events`` rows with ``serious`` yes)
      over those at risk (``n_at_risk``, else the unit's size). A reported 0 counts as 0 events; a
      study-wide report of none applies to every unit. Patients with an event per arm:
      :func:`evsynth.describe.harms.patients_with_event` (an 'any' row, else rows of distinct patients added,
      else the largest row, a lower bound).
    * ``sae_unknown``: the same for events whose seriousness the source does not state (``serious``
      unknown): counted apart from ``sae``, never dropped (e.g. an evolving macrophage activation syndrome).
    * ``death``: measure ``death`` (events; n from its n row, else the survival n at the same time, else the
      unit's size), else derived as n - survivors from ``survival`` events/n (noted as derived), else
      adverse events whose name contains 'death'. Latest timepoint.
    * Percentages and CI bounds are in percent. ``notes`` says, per unit, what was derived and from where.
    """
    if conditions is not None:
        wanted = set(conditions)
        studies = {s: m for s, m in studies.items() if wanted & set((m or {}).get("conditions") or [])}
    u = analysis_units(tables, studies, outcomes_h, doses, cumulative, exclude_designs, measures, followup_bound)
    rows = [_summarise(u, "all", "all")] if len(u) else []
    for dim in by:
        if dim not in u.columns:
            raise ValueError(f"unknown dimension {dim!r}; use one of population, condition, cell_source, donor, route")
        e = u.explode(dim)
        for level in sorted(set(e[dim].astype(str))):
            rows.append(_summarise(e.loc[e[dim].astype(str) == level], dim, level))
    if not rows:
        return _empty_frame(SUMMARY_COLUMNS)
    table = pd.DataFrame(rows)
    for prefix in ("improved", "sae", "sae_unknown", "death"):
        ev, n = table[f"{prefix}_events"].to_numpy(float), table[f"{prefix}_n"].to_numpy(float)
        lo, hi = clopper_pearson(ev, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            table[f"{prefix}_pct"] = 100 * ev / n
        table[f"{prefix}_ci_low"], table[f"{prefix}_ci_high"] = 100 * lo, 100 * hi
    return table[SUMMARY_COLUMNS]
