"""Derivation rules of the RoB 2 and ROBINS-I domains (randomized and non-randomized controlled studies).

Each rule is registered under its tools.yaml ``rule`` name and answers in its tool's scale (low / some
concerns / high / no information; ROBINS-I low / moderate / serious / critical / no information).
"""

from __future__ import annotations

import pandas as pd

from evsynth.appraise.case_rules import (
    ascertainment, describe_cointerventions, groups_described, intervening_cointerventions, outcome_split,
)
from evsynth.appraise.context import StudyContext, column, derivation_rule, present, rows_evidence, text_of
from evsynth.common.timepoints import timepoint_months


@derivation_rule("rob2_randomization")
def rob2_randomization(ctx: StudyContext):
    v, ev = ctx.fact("randomization")
    m = {"central": ("low", "Central randomization reported."),
         "reported_unclear_method": ("some concerns", "Randomized, but the method (sequence, concealment) is not described."),
         "none": ("high", "Allocation was not randomized.")}
    if v in m:
        return (*m[v], ev)
    return "no information", "Randomization is not characterised (appraisal.randomization).", ev


@derivation_rule("rob2_deviations")
def rob2_deviations(ctx: StudyContext):
    v, ev = ctx.fact("blinding")
    bad, _ = intervening_cointerventions(ctx)
    if v == "double_blind":
        if bad.empty:
            return "low", "Double-blind; no co-intervention during or after MSC recorded.", ev
        return ("some concerns", f"Double-blind, but co-interventions were given: {describe_cointerventions(bad)}.",
                ev + rows_evidence(bad))
    if v in ("single_blind", "open_label"):
        extra = f" Co-interventions: {describe_cointerventions(bad)}." if not bad.empty else ""
        return ("some concerns", f"{v.replace('_', '-')} design: participants or carers aware of assignment.{extra}",
                ev + rows_evidence(bad))
    return "no information", "Blinding is not characterised (appraisal.blinding).", ev


def _missing_share(ctx: StudyContext) -> tuple[float | None, str, list[str]]:
    """Smallest share of participants with outcome data at the latest timepoint, over groups."""
    part, out = ctx.table("participants"), ctx.table("outcomes")
    if part.empty or out.empty:
        return None, "participants or outcomes not recorded", []
    if ctx.study.get("level") == "individual":
        pats = sorted({text_of(g) for g in column(part, "group") if present(g) and text_of(g) not in ("all", "pooled")})
        if not pats:
            return None, "no patient rows", []
        _, post = outcome_split(ctx)
        have = {text_of(g) for g in column(post, "group")}
        share = sum(p in have for p in pats) / len(pats)
        return share, f"{sum(p in have for p in pats)} of {len(pats)} patients have a post-MSC outcome", rows_evidence(post)
    shares, ev, why = [], [], []
    ns = out[column(out, "stat").map(text_of) == "n"]
    for g in sorted({text_of(x) for x in column(part, "group") if present(x)} - {"all", "pooled"}):
        p = part[column(part, "group").map(text_of) == g]
        n_rand = pd.to_numeric(column(p, "n"), errors="coerce").max()
        o = ns[column(ns, "group").map(text_of) == g]
        if not present(n_rand) or o.empty:
            continue
        months = o["timepoint"].map(lambda t: timepoint_months(t, "lower")).fillna(-1)
        latest = o[months == months.max()]
        n_out = pd.to_numeric(latest["value"], errors="coerce").min()
        if not present(n_out) or n_rand <= 0:
            continue
        shares.append(n_out / n_rand)
        why.append(f"{g} {int(n_out)}/{int(n_rand)}")
        ev += rows_evidence(p, latest)
    if not shares:
        return None, "no analysed n per arm recorded", []
    return min(shares), "analysed/enrolled at the latest timepoint: " + ", ".join(why), sorted(set(ev))


@derivation_rule("missing_outcome_data")
def missing_outcome_data(ctx: StudyContext):
    share, why, ev = _missing_share(ctx)
    rob2 = ctx.tool == "rob2"
    if share is None:
        return "no information", f"Completeness of outcome data not computable ({why}).", ev
    lo = float(ctx.settings["missing_data_low"])
    mid = float(ctx.settings["missing_data_concerns"])
    pct = f"{100 * share:.0f}%"
    if share >= lo:
        return "low", f"Outcome data for {pct} ({why}).", ev
    if share >= mid:
        return ("some concerns" if rob2 else "moderate"), f"Outcome data for {pct} ({why}); below {lo:.0%}.", ev
    return ("high" if rob2 else "serious"), f"Outcome data for {pct} ({why}); below {mid:.0%}.", ev


@derivation_rule("rob2_measurement")
def rob2_measurement(ctx: StudyContext):
    b, evb = ctx.fact("blinding")
    a, basis, eva = ascertainment(ctx)
    if b == "double_blind":
        return "low", "Double-blind: outcome assessors unaware of assignment.", evb
    if b == "single_blind":
        return "some concerns", "Single-blind: whether outcome assessors were blinded is not recorded.", evb
    if b in ("open_label", "not_applicable"):
        if a in ("patient_report", "mixed"):
            return "high", f"Open-label with patient-reported outcomes ({basis}).", evb + eva
        return "some concerns", f"Open-label; outcome ascertainment: {a or 'not recorded'} ({basis}).", evb + eva
    return "no information", "Blinding is not characterised (appraisal.blinding).", evb


@derivation_rule("robins_confounding")
def robins_confounding(ctx: StudyContext):
    v, ev = ctx.fact("confounding")
    if v == "adjusted":
        return "moderate", "Confounders adjusted for (appraisal.confounding).", ev
    if v == "not_adjusted":
        return "serious", "No adjustment for confounding.", ev
    return "no information", "Control of confounding is not characterised (appraisal.confounding).", ev


@derivation_rule("robins_selection")
def robins_selection(ctx: StudyContext):
    v, ev = ctx.fact("selection")
    m = {"consecutive": ("low", "Consecutive inclusion."), "all_eligible": ("low", "All eligible participants included."),
         "selected": ("moderate", "Participants selected."),
         "self_referred": ("serious", "Participants self-referred to treatment.")}
    if v in m:
        return (*m[v], ev)
    return "no information", "Selection of participants not characterised (appraisal.selection).", ev


@derivation_rule("robins_classification")
def robins_classification(ctx: StudyContext):
    ok, lacking, rows = groups_described(ctx, ["agent", "route", "dose_text"])
    if rows.empty:
        return "no information", "No MSC administration recorded.", []
    if not lacking:
        return "low", "Agent, route and dose recorded for every MSC arm.", rows_evidence(rows)
    if ok:
        return "moderate", f"No MSC row with route and dose for {', '.join(lacking)}.", rows_evidence(rows)
    return "no information", "No MSC arm has route and dose recorded.", rows_evidence(rows)


@derivation_rule("robins_deviations")
def robins_deviations(ctx: StudyContext):
    bad, co = intervening_cointerventions(ctx)
    if not bad.empty:
        return "serious", f"Co-interventions during or after MSC: {describe_cointerventions(bad)}.", rows_evidence(bad)
    if not co.empty:
        return "low", "Only therapies stopped before MSC are recorded.", rows_evidence(co)
    return "no information", "Co-interventions are not reported.", []


@derivation_rule("robins_measurement")
def robins_measurement(ctx: StudyContext):
    b, evb = ctx.fact("blinding")
    a, basis, eva = ascertainment(ctx)
    if b in ("double_blind", "single_blind"):
        return "low", f"{b.replace('_', '-')} outcome assessment.", evb
    if b in ("open_label", "not_applicable"):
        if a == "validated_instrument_clinician":
            return "moderate", f"Open assessment with validated clinician instruments ({basis}).", evb + eva
        if a in ("patient_report", "mixed"):
            return "serious", f"Open assessment with patient-reported outcomes ({basis}).", evb + eva
    return "no information", "Outcome measurement not characterised (appraisal.blinding/ascertainment).", evb


@derivation_rule("not_appraised")
def not_appraised(ctx: StudyContext):
    if ctx.study.get("design") != "systematic_review":
        return ("not applicable", f"Design '{ctx.study.get('design')}': the sources read do not report the design, "
                "so no risk-of-bias tool can be chosen; the study is not appraised.", [])
    inc = ctx.study.get("includes") or []
    extra = f" Its included studies held here ({', '.join(inc)}) are appraised on their own." if inc else ""
    return ("not applicable", "Systematic review: study-level risk-of-bias tools do not apply; results are "
            f"recorded as published.{extra}", [])
