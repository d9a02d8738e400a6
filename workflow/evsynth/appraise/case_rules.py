"""Derivation rules of the case-report and case-series items (Murad et al. 2018, JBI checklists).

Each rule is registered under its tools.yaml ``rule`` name (:func:`evsynth.appraise.context.derivation_rule`)
and answers yes / no / unclear / not applicable with a rationale and the record rows it rests on. What each
rule decides is listed in the :mod:`evsynth.appraise` package docstring.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from evsynth.appraise.context import (
    INTERVENING, StudyContext, column, days_after_msc, derivation_rule, fmt_months, present, rows_evidence, text_of,
)


@derivation_rule("murad_selection")
def murad_selection(ctx: StudyContext):
    v, ev = ctx.fact("selection")
    if v in ("consecutive", "all_eligible"):
        return "yes", f"Patients were included {v.replace('_', ' ')}: the report represents the centre's experience.", ev
    if v == "self_referred":
        return ("no", "Patients came to MSC treatment by their own (family's) decision (self-referred); other patients with a "
                "similar presentation may not have been reported.", ev)
    if v == "selected":
        return "no", "Patients were selected for the report; others with a similar presentation may be missing.", ev
    return "unclear", f"How patients came to be treated and reported is {'unclear' if v else 'not recorded'}.", ev


def _known(x: Any) -> bool:
    return present(x) and text_of(x) != "unspecified"


def groups_described(ctx: StudyContext, cols: list[str]) -> tuple[list[str], list[str], pd.DataFrame]:
    """Groups with at least one MSC row giving every column in ``cols`` (not 'unspecified'), groups
    without, and the MSC rows. Text and table rows of one group are alternatives, so one full row suffices."""
    msc = ctx.msc_rows()
    ok, lacking = [], []
    groups = sorted({text_of(g) for g in column(msc, "group") if present(g)}) if not msc.empty else []
    for g in groups:
        r = msc[column(msc, "group").map(text_of) == g]
        full = pd.Series(True, index=r.index)
        for c in cols:
            full &= column(r, c).map(_known)
        (ok if full.any() else lacking).append(g)
    return ok, lacking, msc


@derivation_rule("exposure_ascertained")
def exposure_ascertained(ctx: StudyContext):
    v, ev = ctx.fact("exposure")
    if v == "investigators":
        return "yes", "MSC were given or verified by the investigators (appraisal.exposure).", ev
    if v == "patient_report":
        return "no", "MSC exposure is known only from the patient's or family's report.", ev
    if v == "unclear":
        return "unclear", "How MSC exposure was ascertained is unclear (appraisal.exposure).", ev
    ok, lacking, rows = groups_described(ctx, ["route", "dose_text"])
    ev = ev + rows_evidence(rows)
    if rows.empty:
        return "unclear", "No MSC administration is recorded.", ev
    if not lacking:
        return "yes", f"Route and dose of MSC recorded for every treated group ({len(ok)}).", ev
    return ("unclear", f"No MSC row with both route and dose for {', '.join(lacking)}.", ev)


def _patient_reported(ctx: StudyContext) -> set[str]:
    return set(ctx.settings["patient_reported_measures"] or [])


def ascertainment(ctx: StudyContext) -> tuple[str | None, str, list[str]]:
    """The ascertainment term: the study.yaml fact, else classified from the outcome measures."""
    v, ev = ctx.fact("ascertainment")
    if v:
        return v, "appraisal.ascertainment", ev
    out = ctx.table("outcomes")
    if out.empty or "measure" not in out:
        return None, "no outcomes recorded", []
    measures = {text_of(m) for m in out["measure"] if present(m)}
    pr = measures & _patient_reported(ctx)
    ev = rows_evidence(out)
    if pr == measures:
        return "patient_report", f"all outcome measures are patient-reported ({', '.join(sorted(pr))})", ev
    if not pr:
        return "validated_instrument_clinician", "no outcome measure is patient-reported", ev
    return "mixed", f"patient-reported ({', '.join(sorted(pr))}) and other measures", ev


@derivation_rule("outcome_ascertained")
def outcome_ascertained(ctx: StudyContext):
    v, basis, ev = ascertainment(ctx)
    if v == "validated_instrument_clinician":
        return "yes", f"Outcomes measured with validated instruments by clinicians ({basis}).", ev
    if v == "patient_report":
        return "no", f"Outcomes rest on patient or parent report only ({basis}).", ev
    if v == "mixed":
        return ("unclear", f"Some outcomes by validated instrument by a clinician, others by patient report "
                f"only ({basis}).", ev)
    return "unclear", f"How outcomes were measured is unclear ({basis}).", ev


def intervening_cointerventions(ctx: StudyContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    co = ctx.table("cointerventions")
    if co.empty or "relation" not in co:
        return co, co
    bad = co["relation"].map(text_of).isin(INTERVENING)
    return co[bad], co


def describe_cointerventions(rows: pd.DataFrame) -> str:
    parts = []
    for _, r in rows.iterrows():
        g = text_of(r.get("group"))
        parts.append(f"{text_of(r.get('therapy'))} {text_of(r.get('relation')).replace('_', ' ')}" + (f" ({g})" if g else ""))
    return "; ".join(dict.fromkeys(parts))


@derivation_rule("alternative_causes")
def alternative_causes(ctx: StudyContext):
    bad, co = intervening_cointerventions(ctx)
    if not bad.empty:
        return ("no", "Other treatment given during or after the MSC course could explain the change: "
                f"{describe_cointerventions(bad)}.", rows_evidence(bad))
    if not co.empty:
        return ("yes", "Prior therapy was stopped before MSC and no co-intervention during or after the course "
                "is recorded.", rows_evidence(co))
    return "unclear", "Co-interventions are not reported, so other causes are not ruled out.", []


def _courses(ctx: StudyContext, rows: pd.DataFrame) -> tuple[list[float] | None, pd.DataFrame]:
    """Start day of each MSC course for one group's rows, or None when the timing is not recorded."""
    if rows.empty:
        return [], rows
    seq = column(rows, "seq").map(present)
    use = rows[seq] if seq.any() else rows
    timed = column(use, "timepoint").map(lambda t: days_after_msc(t) is not None)
    if seq.any() and timed.any():
        use = use[timed]  # untimed administrations of a timed schedule belong to a course already counted
    starts_at = [days_after_msc(t) for t in column(use, "timepoint")]
    counts = [float(c) if present(c) else 1.0 for c in column(use, "count")]
    if any(d is None for d in starts_at):
        if all(c <= 1 for c in counts) and len(use) == 1:
            return [0.0], use
        return None, use
    if any(c > 1 for c in counts) and not seq.any():
        return None, use
    gap = float(ctx.settings["course_gap_days"])
    starts: list[float] = []
    last = None
    for d in sorted(set(starts_at)):
        if last is None or d - last > gap:
            starts.append(d)
        last = d
    return starts, use


@derivation_rule("rechallenge")
def rechallenge(ctx: StudyContext):
    msc = ctx.msc_rows()
    if msc.empty:
        return "unclear", "No MSC administration is recorded.", []
    out = ctx.table("outcomes")
    gap = ctx.settings["course_gap_days"]
    repeated, undetermined, evidence = [], [], []
    for g in ctx.groups():
        starts, used = _courses(ctx, ctx.rows_for(msc, g))
        if starts is None:
            undetermined.append(g)
            evidence += rows_evidence(used)
            continue
        if len(starts) < 2:
            continue
        evidence += rows_evidence(used)
        o = ctx.rows_for(out, g) if not out.empty else out
        t = [days_after_msc(x) for x in column(o, "timepoint")]
        between = o[[d is not None and starts[0] < d <= starts[1] for d in t]] if len(o) else o
        after = o[[d is not None and d > starts[1] for d in t]] if len(o) else o
        if not between.empty and not after.empty:
            return ("yes", f"Group {g}: {len(starts)} MSC courses (gap > {gap} days) with outcomes recorded "
                    "after the first and after a repeat course.", rows_evidence(used, between, after))
        repeated.append(g)
    if repeated:
        return ("unclear", f"Repeated MSC courses ({', '.join(repeated)}) but no outcome timed both between "
                "courses and after the repeat.", sorted(set(evidence)))
    if undetermined:
        return ("unclear", f"Timing of MSC administrations not recorded for {', '.join(undetermined)}.",
                sorted(set(evidence)))
    return ("no", f"A single MSC course in every group (administrations within {gap} days); no rechallenge.",
            rows_evidence(msc))


@derivation_rule("dose_response")
def dose_response(ctx: StudyContext):
    msc = ctx.msc_rows()
    with_dose = msc[column(msc, "dose_text").map(present)] if not msc.empty else msc
    if with_dose.empty:
        return "unclear", "No MSC dose is recorded.", rows_evidence(msc)
    levels = {}
    for g in ctx.groups():
        r = ctx.rows_for(with_dose, g)
        if not r.empty:
            levels[g] = tuple(sorted({text_of(d) for d in r["dose_text"]}))
    distinct = sorted(set(levels.values()))
    ev = rows_evidence(with_dose)
    if len(distinct) <= 1:
        dose = "; ".join(distinct[0]) if distinct else ""
        return "no", f"One dose level ({dose}); no dose–response can be observed.", ev
    return ("unclear", f"{len(distinct)} dose levels across {len(levels)} groups; whether the response rises "
            "with dose is a reviewer judgement (resources/studies/<id>/appraisal.yaml).", ev)


@derivation_rule("followup_long_enough")
def followup_long_enough(ctx: StudyContext):
    fu, ev = ctx.followup()
    need = ctx.min_followup_months
    if not fu.known:
        return "unclear", f"Follow-up length not recorded (minimum {fmt_months(need)} months).", ev
    if fu.months >= need:
        return ("yes", f"Follow-up {fmt_months(fu.months)} months ({fu.basis}) >= minimum {fmt_months(need)} months.",
                ev)
    return "no", f"Follow-up {fmt_months(fu.months)} months ({fu.basis}) < minimum {fmt_months(need)} months.", ev


_AGE_COLS = ["age_at_msc_years", "age_mean_years", "age_median_years", "age_min_years", "age_max_years",
             "age_followup_years", "age_onset_years"]


def _group_has(df: pd.DataFrame, group: str, cols: list[str], ctx: StudyContext) -> tuple[bool, pd.DataFrame]:
    rows = ctx.rows_for(df, group)
    if rows.empty:
        return False, rows
    mask = pd.Series(False, index=rows.index)
    for c in cols:
        if c in rows:
            mask |= rows[c].map(present)
    return bool(mask.any()), rows[mask]


def _demographics(ctx: StudyContext) -> tuple[int, int, list[str]]:
    part = ctx.table("participants")
    groups = [g for g in ctx.groups()]
    if part.empty:
        return 0, len(groups), []
    ok, ev = 0, []
    for g in groups:
        a, ra = _group_has(part, g, _AGE_COLS, ctx)
        s, rs = _group_has(part, g, ["sex", "n_female", "n_male"], ctx)
        if a and s:
            ok += 1
        ev += rows_evidence(ra, rs)
    return ok, len(groups), sorted(set(ev))


@derivation_rule("demographics_reported")
def demographics_reported(ctx: StudyContext):
    ok, n, ev = _demographics(ctx)
    if n and ok == n:
        return "yes", f"Age and sex recorded for every participant group ({n}).", ev
    if ok:
        return "unclear", f"Age and sex recorded for {ok} of {n} participant groups.", ev
    return "no", "Age and sex are not both recorded for any participant group.", ev


def outcome_split(ctx: StudyContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = ctx.table("outcomes")
    if out.empty or "timepoint" not in out:
        return out, out
    tp = out["timepoint"].map(text_of).str.lower()
    return out[tp == "baseline"], out[(tp != "baseline") & (tp != "")]


@derivation_rule("clinical_info_reported")
def clinical_info_reported(ctx: StudyContext):
    part = ctx.table("participants")
    groups = ctx.groups()
    base, _ = outcome_split(ctx)
    cond_ok = hist_ok = 0
    ev = []
    for g in groups:
        c, rc = _group_has(part, g, ["condition"], ctx) if not part.empty else (False, part)
        h, rh = _group_has(part, g, ["disease_duration_years", "age_onset_years"], ctx) if not part.empty else (False, part)
        cond_ok += c or bool(ctx.study.get("conditions"))
        hist_ok += h
        ev += rows_evidence(rc, rh)
    n = len(groups)
    has = {"condition": n and cond_ok == n, "history (disease duration or age at onset)": n and hist_ok == n,
           "baseline outcomes": not base.empty}
    ev = sorted(set(ev + rows_evidence(base)))
    missing = [k for k, v in has.items() if not v]
    if not missing:
        return "yes", "Condition, disease history and baseline status recorded for every participant group.", ev
    if len(missing) < len(has):
        return "unclear", f"Clinical information incomplete: {', '.join(missing)} not recorded for every group.", ev
    return "no", "No condition, disease history or baseline status recorded.", ev


@derivation_rule("outcomes_reported")
def outcomes_reported(ctx: StudyContext):
    _, post = outcome_split(ctx)
    if not post.empty:
        return "yes", f"{len(post)} outcome rows after MSC are recorded.", rows_evidence(post)
    return "no", "No outcome after MSC is recorded.", []


@derivation_rule("baseline_condition")
def baseline_condition(ctx: StudyContext):
    base, _ = outcome_split(ctx)
    if not base.empty:
        return "yes", f"{len(base)} baseline outcome rows describe the condition before MSC.", rows_evidence(base)
    return "no", "No baseline status is recorded.", []


def _fact_map(ctx: StudyContext, key: str, mapping: dict[str, tuple[str, str]], default: str):
    v, ev = ctx.fact(key)
    if v in mapping:
        j, why = mapping[v]
        return j, why, ev
    return "unclear", default if v is None else f"appraisal.{key} is '{v}': {default}", ev


@derivation_rule("inclusion_criteria")
def inclusion_criteria(ctx: StudyContext):
    return _fact_map(ctx, "inclusion_criteria", {
        "reported": ("yes", "Inclusion criteria are stated."),
        "not_reported": ("no", "No inclusion criteria are stated."),
    }, "Whether inclusion criteria are stated is not recorded (appraisal.inclusion_criteria).")


_DIAGNOSIS = {
    "standard_criteria": ("yes", "The condition was diagnosed by named classification criteria for all participants."),
    "non_standard": ("no", "The condition was identified by non-standard methods."),
}


@derivation_rule("condition_standard")
def condition_standard(ctx: StudyContext):
    return _fact_map(ctx, "diagnosis", _DIAGNOSIS,
                     "How the condition was diagnosed is not stated for all participants (appraisal.diagnosis).")


@derivation_rule("condition_valid")
def condition_valid(ctx: StudyContext):
    return condition_standard(ctx)


@derivation_rule("diagnosis_described")
def diagnosis_described(ctx: StudyContext):
    return condition_standard(ctx)


@derivation_rule("consecutive_inclusion")
def consecutive_inclusion(ctx: StudyContext):
    return _fact_map(ctx, "selection", {
        "consecutive": ("yes", "Participants were included consecutively."),
        "all_eligible": ("yes", "All eligible participants were included."),
        "self_referred": ("no", "Participants came by their own decision (self-referred), not consecutively."),
        "selected": ("no", "Participants were selected, not included consecutively."),
    }, "How participants were included is unclear.")


@derivation_rule("complete_inclusion")
def complete_inclusion(ctx: StudyContext):
    return _fact_map(ctx, "selection", {
        "all_eligible": ("yes", "All eligible participants were included."),
        "self_referred": ("no", "Participants came by their own decision (self-referred); completeness not shown."),
        "selected": ("no", "Participants were selected; inclusion was not complete."),
    }, "Whether all eligible participants were included is not stated.")


@derivation_rule("setting_reported")
def setting_reported(ctx: StudyContext):
    return _fact_map(ctx, "setting", {
        "reported": ("yes", "The presenting site/clinic is described."),
        "not_reported": ("no", "The presenting site/clinic is not described."),
    }, "Whether the setting is described is not recorded (appraisal.setting).")


@derivation_rule("statistics_appropriate")
def statistics_appropriate(ctx: StudyContext):
    v, ev = ctx.fact("statistics")
    if v == "descriptive":
        return "not applicable", "Descriptive report without statistical analysis.", ev
    if v == "inferential":
        return ("unclear", "Statistical tests are reported; their appropriateness is a reviewer judgement "
                "(appraisal.yaml).", ev)
    return "unclear", "The statistical analysis is not characterised (appraisal.statistics).", ev


@derivation_rule("history_timeline")
def history_timeline(ctx: StudyContext):
    part = ctx.table("participants")
    hist = part[part[[c for c in ("age_onset_years", "disease_duration_years") if c in part]].apply(
        lambda r: any(present(x) for x in r), axis=1)] if not part.empty and any(
        c in part for c in ("age_onset_years", "disease_duration_years")) else part.iloc[0:0]
    co = ctx.table("cointerventions")
    prior = co[co["relation"].map(text_of) == "stopped_before"] if not co.empty and "relation" in co else co
    msc = ctx.msc_rows()
    timed = msc[column(msc, "timepoint").map(lambda t: days_after_msc(t) is not None)] if not msc.empty else msc
    has = {"disease history": not hist.empty, "prior therapy": not prior.empty,
           "timed MSC administrations": not timed.empty}
    ev = rows_evidence(hist, prior, timed)
    missing = [k for k, v in has.items() if not v]
    if not missing:
        return "yes", "Disease history, prior therapy and timed MSC administrations are recorded.", ev
    if len(missing) < len(has):
        return "unclear", f"Timeline incomplete: {', '.join(missing)} not recorded.", ev
    return "no", "No disease history, prior therapy or timing recorded.", ev


@derivation_rule("intervention_described")
def intervention_described(ctx: StudyContext):
    ok, lacking, msc = groups_described(ctx, ["route", "dose_text", "cell_source"])
    if msc.empty:
        return "no", "No MSC administration is recorded.", []
    if not lacking:
        return "yes", "Route, dose and cell source of MSC are recorded for every treated group.", rows_evidence(msc)
    return "unclear", f"Route, dose or cell source not recorded for {', '.join(lacking)}.", rows_evidence(msc)


@derivation_rule("adverse_events_reported")
def adverse_events_reported(ctx: StudyContext):
    ae = ctx.table("adverse_events")
    if not ae.empty:
        return "yes", f"{len(ae)} adverse-event rows (a reported absence counts as reported).", rows_evidence(ae)
    return "no", "No adverse-event reporting is recorded.", []


@derivation_rule("reporting_complete")
def reporting_complete(ctx: StudyContext):
    ok_demo, n, ev_demo = _demographics(ctx)
    _, lack_dose, msc = groups_described(ctx, ["route", "dose_text"])
    _, lack_src, _ = groups_described(ctx, ["cell_source"])
    base, post = outcome_split(ctx)
    fu, ev_fu = ctx.followup()
    part = ctx.table("participants")
    has = {
        "demographics": n > 0 and ok_demo == n,
        "condition": bool(ctx.study.get("conditions")) or (not part.empty and column(part, "condition").map(present).any()),
        "MSC route and dose": not msc.empty and not lack_dose,
        "cell source": not msc.empty and not lack_src,
        "baseline outcomes": not base.empty,
        "post-MSC outcomes": not post.empty,
        "adverse events": not ctx.table("adverse_events").empty,
        "follow-up length": fu.known,
    }
    ev = sorted(set(ev_demo + rows_evidence(msc) + ev_fu))
    missing = [k for k, v in has.items() if not v]
    if not missing:
        return "yes", "Demographics, condition, MSC route/dose/source, outcomes before and after, adverse events and follow-up are recorded.", ev
    return "no", f"Not recorded: {', '.join(missing)}.", ev
