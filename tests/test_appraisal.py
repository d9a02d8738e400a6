"""Bias checklist (issue 7): each derivation rule on small records, overrides, overall rules, corpus build."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evsynth.appraise.checklist import build_checklist, derive_checklist
from evsynth.appraise.overall import overall_judgements
from evsynth.appraise.overrides import apply_overrides
from evsynth.appraise.tools import COLUMNS, load_tools
from evsynth.appraise.writing import write_checklist
from evsynth.common.timepoints import followup

ROOT = Path(__file__).resolve().parents[1]
TOOLS_PATH = ROOT / "resources" / "appraisal" / "tools.yaml"


TOOLS = load_tools(TOOLS_PATH)


@pytest.fixture(scope="module")
def tools():
    return TOOLS


# ---- tiny record builders -------------------------------------------------------------------------

def study(sid="s1", design="case_series", level="individual", **facts):
    return {"id": sid, "design": design, "level": level, "conditions": ["SLE"],
            "appraisal": {k: {"value": v, "source": "text", "quote": "q"} for k, v in facts.items()}}


def table(name, rows, sid="s1"):
    df = pd.DataFrame(rows)
    df.insert(0, "line", range(2, len(df) + 2))
    df.insert(0, "file", f"resources/studies/{sid}/{name}.csv")
    df.insert(0, "study", sid)
    return df


def msc(group="P1", seq=1, timepoint="0 days", dose="1 × 106/kg", route="iv", cell_source="bone_marrow", **kw):
    return {"group": group, "seq": seq, "timepoint": timepoint, "agent": "msc", "route": route,
            "dose_text": dose, "cell_source": cell_source, **kw}


def out(group="P1", measure="sledai_2k", timepoint="3 months", stat="value", value=1.0):
    return {"group": group, "measure": measure, "timepoint": timepoint, "stat": stat, "value": value}


def co(group="P1", therapy="prednisone", relation="concurrent", timepoint=""):
    return {"group": group, "therapy": therapy, "relation": relation, "timepoint": timepoint}


def part(group="P1", n=1, **kw):
    return {"group": group, "n": n, "condition": "SLE", **kw}


def tables(**named):
    return {k: table(k, v) for k, v in named.items()}


def item(cl, tool, item_id):
    row = cl[(cl["tool"] == tool) & (cl["item"] == item_id)]
    assert len(row) == 1, (tool, item_id, cl[["tool", "item"]].values.tolist())
    return row.iloc[0]


def judge(tools, st, tb, tool, item_id, **kw):
    cl = derive_checklist(st, tb, tools, **kw)
    return item(cl, tool, item_id)


# ---- tools.yaml ----------------------------------------------------------------------------------

def test_tools_file_has_every_item_wording_and_design(tools):
    counts = {name: len(t["items"]) for name, t in tools["tools"].items()}
    assert counts == {"murad": 8, "jbi_case_series": 10, "jbi_case_report": 8, "rob2": 5, "robins_i": 7, "none": 1}
    assert set(tools["designs"]) == {"case_report", "case_series", "single_arm_trial", "nonrandomized_controlled",
                                     "rct", "systematic_review", "unspecified"}
    ref = ROOT / "resources" / "sources" / "methods-reference.md"
    text = " ".join(ref.read_text(encoding="utf-8").split())  # wordings are copied from its section 5
    for name in ("murad", "jbi_case_series", "jbi_case_report", "rob2", "robins_i"):
        for it in tools["tools"][name]["items"]:
            assert " ".join(it["question"].split()) in text, (name, it["id"])
    assert tools["tools"]["rob2"]["judgements"] == ["low", "some concerns", "high", "no information"]
    assert tools["tools"]["robins_i"]["judgements"] == ["low", "moderate", "serious", "critical", "no information"]
    assert tools["tools"]["murad"]["judgements"] == ["yes", "no", "unclear", "not applicable"]


def test_load_tools_rejects_unknown_rule(tmp_path, tools):
    bad = yaml.safe_load(TOOLS_PATH.read_text())
    bad["tools"]["murad"]["items"][0]["rule"] = "no_such_rule"
    p = tmp_path / "tools.yaml"
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="no_such_rule"):
        load_tools(p)


# ---- Murad ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("consecutive", "yes"), ("all_eligible", "yes"), ("self_referred", "no"), ("selected", "no"),
    ("unclear", "unclear"), (None, "unclear")])
def test_murad_selection(tools, value, expected):
    st = study(**({"selection": value} if value else {}))
    r = judge(tools, st, {}, "murad", "Q1")
    assert r["judgement"] == expected
    if value:
        assert re.search(r"study\.yaml.*appraisal\.selection", r["evidence"])


def test_exposure_ascertained(tools):
    ok = tables(interventions=[msc("P1"), msc("P2", dose="2 × 106/kg")])
    assert judge(tools, study(), ok, "murad", "Q2")["judgement"] == "yes"
    no_dose = tables(interventions=[msc("P1"), msc("P2", dose=None)])
    r = judge(tools, study(), no_dose, "murad", "Q2")
    assert r["judgement"] == "unclear" and "P2" in r["rationale"]
    assert judge(tools, study(), {}, "murad", "Q2")["judgement"] == "unclear"
    assert judge(tools, study(exposure="patient_report"), ok, "murad", "Q2")["judgement"] == "no"
    assert judge(tools, study(exposure="investigators"), {}, "murad", "Q2")["judgement"] == "yes"


@pytest.mark.parametrize("value, expected", [
    ("validated_instrument_clinician", "yes"), ("patient_report", "no"), ("mixed", "unclear"), ("unclear", "unclear")])
def test_outcome_ascertained_from_fact(tools, value, expected):
    assert judge(tools, study(ascertainment=value), {}, "murad", "Q3")["judgement"] == expected


def test_outcome_ascertained_from_measures_without_fact(tools):
    pr = tables(outcomes=[out(measure="pga_patient")])
    assert judge(tools, study(), pr, "murad", "Q3")["judgement"] == "no"
    clin = tables(outcomes=[out(measure="sledai_2k")])
    assert judge(tools, study(), clin, "murad", "Q3")["judgement"] == "yes"
    both = tables(outcomes=[out(measure="sledai_2k"), out(measure="vas_pain")])
    r = judge(tools, study(), both, "murad", "Q3")
    assert r["judgement"] == "unclear" and "outcomes.csv:2,3" in r["evidence"]


def test_cointervention_makes_alternative_causes_fail(tools):
    tb = tables(cointerventions=[co(relation="stopped_before", therapy="methotrexate"),
                                 co(relation="concurrent", therapy="tocilizumab")])
    r = judge(tools, study(), tb, "murad", "Q4")
    assert r["judgement"] == "no"
    assert "tocilizumab concurrent" in r["rationale"]
    assert r["evidence"] == "resources/studies/s1/cointerventions.csv:3"  # the concurrent row only


@pytest.mark.parametrize("relation", ["stopped_during", "added_after", "stopped_after"])
def test_other_intervening_relations_also_fail(tools, relation):
    tb = tables(cointerventions=[co(relation=relation)])
    assert judge(tools, study(), tb, "murad", "Q4")["judgement"] == "no"


def test_alternative_causes_ruled_out_or_unreported(tools):
    only_before = tables(cointerventions=[co(relation="stopped_before")])
    assert judge(tools, study(), only_before, "murad", "Q4")["judgement"] == "yes"
    assert judge(tools, study(), {}, "murad", "Q4")["judgement"] == "unclear"


def test_rechallenge_with_documented_response(tools):
    tb = tables(
        interventions=[msc(seq=1, timepoint="0 days"), msc(seq=2, timepoint="0-1 weeks"),
                       msc(seq=3, timepoint="9 months")],
        outcomes=[out(timepoint="baseline"), out(timepoint="1 months"), out(timepoint="10 months")])
    r = judge(tools, study(), tb, "murad", "Q5")
    assert r["judgement"] == "yes"
    assert "outcomes.csv:3,4" in r["evidence"] and "interventions.csv:2,3,4" in r["evidence"]


def test_rechallenge_without_response_between_courses_is_unclear(tools):
    tb = tables(interventions=[msc(seq=1, timepoint="0 months"), msc(seq=2, timepoint="3 months")],
                outcomes=[out(timepoint="6 months")])
    assert judge(tools, study(), tb, "murad", "Q5")["judgement"] == "unclear"


def test_single_course_is_no_rechallenge(tools):
    tb = tables(interventions=[msc(seq=1, timepoint="0 days"), msc(seq=2, timepoint="7 days")],
                outcomes=[out(timepoint="12 months")])
    assert judge(tools, study(), tb, "murad", "Q5")["judgement"] == "no"


def test_repeat_count_without_timing_is_unclear(tools):
    tb = tables(interventions=[{**msc(seq=None, timepoint=None), "count": 2}])
    assert judge(tools, study(), tb, "murad", "Q5")["judgement"] == "unclear"


def test_dose_response(tools):
    one = tables(interventions=[msc("P1"), msc("P2")])
    assert judge(tools, study(), one, "murad", "Q6")["judgement"] == "no"
    two = tables(interventions=[msc("msc_low", dose="1 × 106/kg"), msc("msc_high", dose="4 × 106/kg")])
    r = judge(tools, study(level="aggregate"), two, "murad", "Q6")
    assert r["judgement"] == "unclear" and "2 dose levels" in r["rationale"]
    assert judge(tools, study(), tables(interventions=[msc(dose=None)]), "murad", "Q6")["judgement"] == "unclear"


def test_followup_below_minimum_fails(tools):
    r = judge(tools, study(followup="4 weeks"), {}, "murad", "Q7")
    assert r["judgement"] == "no"
    assert "0.9 months" in r["rationale"] and "minimum 6 months" in r["rationale"]
    assert judge(tools, study(followup="2 years"), {}, "murad", "Q7")["judgement"] == "yes"
    # the minimum is configurable
    assert judge(tools, study(followup="2 years"), {}, "murad", "Q7", min_followup_months=36)["judgement"] == "no"


def test_followup_from_participants_then_outcomes(tools):
    tb = tables(participants=[part("P1", followup="2 years"), part("P2", followup="3 months")])
    r = judge(tools, study(), tb, "murad", "Q7")
    assert r["judgement"] == "no" and "participants.csv:3" in r["evidence"]
    tb = tables(outcomes=[out(timepoint="baseline"), out(timepoint="48 weeks"), out(timepoint="post")])
    r = judge(tools, study(), tb, "murad", "Q7")
    assert r["judgement"] == "yes" and "latest outcome timepoint" in r["rationale"]
    assert followup({"s1": study()}, tb, "s1").months == pytest.approx(48 * 7 / (365.25 / 12))
    assert judge(tools, study(), {}, "murad", "Q7")["judgement"] == "unclear"


def full_case_series():
    return tables(
        participants=[part("P1", sex="female", age_at_msc_years=14, disease_duration_years=3),
                      part("P2", sex="male", age_at_msc_years=12, age_onset_years=9)],
        interventions=[msc("P1"), msc("P2")],
        outcomes=[out("P1", timepoint="baseline"), out("P1"), out("P2", timepoint="baseline"), out("P2")],
        adverse_events=[{"group": "all", "event": "serious adverse event", "serious": "yes", "n_patients": 0}],
        cointerventions=[co("all", relation="stopped_before")])


def test_reporting_complete(tools):
    assert judge(tools, study(followup="1 years"), full_case_series(), "murad", "Q8")["judgement"] == "yes"
    tb = full_case_series()
    del tb["adverse_events"]
    r = judge(tools, study(followup="1 years"), tb, "murad", "Q8")
    assert r["judgement"] == "no" and "adverse events" in r["rationale"]


# ---- JBI -----------------------------------------------------------------------------------------

def test_jbi_case_series_rules(tools):
    st = study(followup="1 years", selection="consecutive", inclusion_criteria="reported",
               diagnosis="standard_criteria", setting="reported", statistics="descriptive")
    cl = derive_checklist(st, full_case_series(), tools)
    got = dict(zip(cl.loc[cl.tool == "jbi_case_series", "item"], cl.loc[cl.tool == "jbi_case_series", "judgement"]))
    assert got == {"Q1": "yes", "Q2": "yes", "Q3": "yes", "Q4": "yes", "Q5": "unclear", "Q6": "yes",
                   "Q7": "yes", "Q8": "yes", "Q9": "yes", "Q10": "not applicable"}


def test_jbi_case_series_negative_and_missing(tools):
    st = study(selection="self_referred", inclusion_criteria="not_reported", diagnosis="non_standard",
               setting="not_reported", statistics="inferential")
    tb = tables(participants=[part("P1", sex="female"), part("P2", sex="male", age_at_msc_years=10)])
    cl = derive_checklist(st, tb, tools)
    got = dict(zip(cl.loc[cl.tool == "jbi_case_series", "item"], cl.loc[cl.tool == "jbi_case_series", "judgement"]))
    assert got == {"Q1": "no", "Q2": "no", "Q3": "no", "Q4": "no", "Q5": "no", "Q6": "unclear",
                   "Q7": "unclear", "Q8": "no", "Q9": "no", "Q10": "unclear"}
    empty = derive_checklist(study(), {}, tools)
    jbi = empty[empty.tool == "jbi_case_series"].set_index("item")["judgement"]
    assert jbi["Q6"] == "no" and jbi["Q7"] == "no"
    assert set(jbi[["Q1", "Q2", "Q3", "Q4", "Q5", "Q9", "Q10"]]) == {"unclear"}
    assert derive_checklist(study(selection="all_eligible"), {}, tools).pipe(
        lambda c: item(c, "jbi_case_series", "Q5"))["judgement"] == "yes"


def test_jbi_case_report_rules(tools):
    st = study(design="case_report", diagnosis="standard_criteria")
    tb = {k: v[v["group"].isin(["P1", "all"])] for k, v in full_case_series().items()}  # one patient
    cl = derive_checklist(st, tb, tools)
    got = dict(zip(cl.loc[cl.tool == "jbi_case_report", "item"], cl.loc[cl.tool == "jbi_case_report", "judgement"]))
    # Q8 (takeaway lessons) cannot be derived: "unclear" until a reviewer judges it, never a pass
    assert got == {"Q1": "yes", "Q2": "yes", "Q3": "yes", "Q4": "yes", "Q5": "yes", "Q6": "yes", "Q7": "yes",
                   "Q8": "unclear"}
    assert "appraisal.yaml" in item(cl, "jbi_case_report", "Q8")["rationale"]
    bare = derive_checklist(st, {}, tools)
    got = dict(zip(bare.loc[bare.tool == "jbi_case_report", "item"], bare.loc[bare.tool == "jbi_case_report", "judgement"]))
    assert got == {"Q1": "no", "Q2": "no", "Q3": "no", "Q4": "yes", "Q5": "no", "Q6": "no", "Q7": "no", "Q8": "unclear"}
    partial = tables(interventions=[msc(cell_source="unspecified")])
    assert judge(tools, st, partial, "jbi_case_report", "Q5")["judgement"] == "unclear"
    assert judge(tools, st, partial, "jbi_case_report", "Q2")["judgement"] == "unclear"


def test_single_arm_trial_uses_jbi_and_murad_causality(tools):
    cl = derive_checklist(study(design="single_arm_trial"), {}, tools)
    assert list(cl.loc[cl.tool == "murad", "item"]) == ["Q4", "Q5", "Q6", "Q7"]
    assert list(cl.loc[cl.tool == "jbi_case_series", "item"]) == [f"Q{i}" for i in range(1, 11)]
    assert list(cl["tool"].unique()) == ["murad", "jbi_case_series"]  # tools.yaml order


def test_systematic_review_single_row(tools):
    cl = derive_checklist(study("rev", design="systematic_review", level="aggregate"), {}, tools)
    assert len(cl) == 1
    r = cl.iloc[0]
    assert (r["tool"], r["judgement"], r["source"]) == ("none", "not applicable", "derived")
    assert "Systematic review" in r["rationale"]


def test_unspecified_design_single_row(tools):
    cl = derive_checklist(study("x", design="unspecified", level="aggregate"), {}, tools)
    assert list(zip(cl["tool"], cl["judgement"])) == [("none", "not applicable")]
    assert "design" in cl.iloc[0]["rationale"].lower()


def test_unknown_design_is_an_error(tools):
    with pytest.raises(ValueError, match="design"):
        derive_checklist(study(design="cohort"), {}, tools)


# ---- RoB 2 and ROBINS-I --------------------------------------------------------------------------

def rct_tables(analysed=(30, 30), enrolled=(32, 31)):
    return tables(
        participants=[part("msc", n=enrolled[0]), part("placebo", n=enrolled[1])],
        interventions=[msc("msc"), {"group": "placebo", "seq": 1, "agent": "placebo", "timepoint": "0 days"}],
        outcomes=[out("msc", stat="n", value=enrolled[0]), out("placebo", stat="n", value=enrolled[1]),
                  out("msc", timepoint="12 months", stat="n", value=analysed[0]),
                  out("placebo", timepoint="12 months", stat="n", value=analysed[1])])


@pytest.mark.parametrize("value, expected", [
    ("central", "low"), ("reported_unclear_method", "some concerns"), ("none", "high"), ("unclear", "no information"),
    (None, "no information")])
def test_rob2_randomization(tools, value, expected):
    st = study(design="rct", level="aggregate", **({"randomization": value} if value else {}))
    assert judge(tools, st, {}, "rob2", "D1")["judgement"] == expected


def test_rob2_deviations_and_measurement(tools):
    def j(blinding, item_id, tb=None, **facts):
        st = study(design="rct", level="aggregate", **({"blinding": blinding} if blinding else {}), **facts)
        return judge(tools, st, tb or {}, "rob2", item_id)["judgement"]

    assert j("double_blind", "D2") == "low"
    assert j("double_blind", "D2", tables(cointerventions=[co("msc", relation="added_after")])) == "some concerns"
    assert j("open_label", "D2") == "some concerns"
    assert j(None, "D2") == "no information"
    assert j("double_blind", "D4") == "low"
    assert j("single_blind", "D4") == "some concerns"
    assert j("open_label", "D4", ascertainment="patient_report") == "high"
    assert j("open_label", "D4", ascertainment="validated_instrument_clinician") == "some concerns"
    assert j("unclear", "D4") == "no information"


@pytest.mark.parametrize("analysed, expected", [((32, 31), "low"), ((30, 30), "some concerns"), ((20, 30), "high")])
def test_rob2_missing_outcome_data(tools, analysed, expected):
    r = judge(tools, study(design="rct", level="aggregate"), rct_tables(analysed), "rob2", "D3")
    assert r["judgement"] == expected
    assert "participants.csv" in r["evidence"] and "outcomes.csv" in r["evidence"]


def test_rob2_reported_result_needs_reviewer(tools):
    r = judge(tools, study(design="rct", level="aggregate"), rct_tables(), "rob2", "D5")
    assert r["judgement"] == "no information" and r["source"] == "derived"


def test_robins_i_rules(tools):
    st = study(design="nonrandomized_controlled", level="aggregate", confounding="not_adjusted",
               selection="consecutive", blinding="open_label", ascertainment="validated_instrument_clinician")
    tb = rct_tables((20, 31))
    tb["cointerventions"] = table("cointerventions", [co("msc", relation="concurrent", therapy="DMARDs")])
    cl = derive_checklist(st, tb, tools)
    got = dict(zip(cl["item"], cl["judgement"]))
    assert got == {"D1": "serious", "D2": "low", "D3": "low", "D4": "serious", "D5": "serious",
                   "D6": "moderate", "D7": "no information"}
    bare = derive_checklist(study(design="nonrandomized_controlled", level="aggregate"), {}, tools)
    assert set(bare["judgement"]) == {"no information"}
    sel = {"self_referred": "serious", "selected": "moderate"}
    for v, e in sel.items():
        assert judge(tools, study(design="nonrandomized_controlled", selection=v), {}, "robins_i", "D2")["judgement"] == e
    assert judge(tools, study(design="nonrandomized_controlled", confounding="adjusted"), {},
                 "robins_i", "D1")["judgement"] == "moderate"


# ---- overrides -----------------------------------------------------------------------------------

def test_reviewer_override_differs_lists_both(tools):
    cl = derive_checklist(study(selection="self_referred"), {}, tools)
    ov = {"study": "s1", "judgements": [
        {"tool": "murad", "item": "Q1", "judgement": "unclear", "rationale": "Whole experience not stated.",
         "source": "text", "quote": "our experience"},
        {"tool": "jbi_case_series", "item": "Q4", "judgement": "no", "rationale": "Self-referred."}]}
    res = apply_overrides(cl, ov, tools)
    q1 = item(res, "murad", "Q1")
    assert (q1["judgement"], q1["source"]) == ("unclear", "reviewer")
    assert (q1["derived_judgement"], q1["reviewer_judgement"]) == ("no", "unclear")
    assert q1["rationale"] == "Whole experience not stated."
    assert "self-referred" in q1["derived_rationale"].lower()
    assert "appraisal.yaml" in q1["evidence"] and "study.yaml" in q1["evidence"]
    q4 = item(res, "jbi_case_series", "Q4")  # reviewer agrees: marked reviewer, no both-columns
    assert (q4["judgement"], q4["source"], q4["derived_judgement"], q4["reviewer_judgement"]) == ("no", "reviewer", "", "")
    untouched = item(res, "murad", "Q2")
    assert untouched["source"] == "derived"


def test_override_fills_non_derivable_item(tools):
    st = study(design="rct", level="aggregate")
    cl = derive_checklist(st, {}, tools)
    res = apply_overrides(cl, {"s1": {"judgements": [
        {"tool": "rob2", "item": "D5", "judgement": "some concerns", "rationale": "No registered analysis plan."}]}},
        tools)
    d5 = item(res, "rob2", "D5")
    assert (d5["judgement"], d5["source"], d5["derived_judgement"]) == ("some concerns", "reviewer", "no information")


@pytest.mark.parametrize("entry, match", [
    ({"tool": "murad", "item": "Q1", "judgement": "low", "rationale": "x"}, "not in"),
    ({"tool": "murad", "item": "Q99", "judgement": "yes", "rationale": "x"}, "no checklist item"),
    ({"tool": "rob2", "item": "D1", "judgement": "low", "rationale": "x"}, "no checklist item"),
    ({"tool": "murad", "item": "Q1", "judgement": "yes"}, "rationale"),
])
def test_invalid_overrides_are_errors(tools, entry, match):
    cl = derive_checklist(study(), {}, tools)
    with pytest.raises(ValueError, match=match):
        apply_overrides(cl, {"judgements": [entry]}, tools)


# ---- overall -------------------------------------------------------------------------------------

def cl_of(tool, judgements, sid="s1"):
    return pd.DataFrame([{"study": sid, "tool": tool, "item": f"D{i}", "judgement": j, "source": "derived"}
                         for i, j in enumerate(judgements, 1)])


@pytest.mark.parametrize("tool, js, overall, high", [
    ("rob2", ["low"] * 5, "low", False),
    ("rob2", ["low", "low", "low", "low", "no information"], "some concerns", False),
    ("rob2", ["low", "some concerns", "high", "low", "low"], "high", True),
    ("robins_i", ["low"] * 7, "low", False),
    ("robins_i", ["low", "moderate", "low", "low", "low", "low", "low"], "moderate", False),
    ("robins_i", ["low", "moderate", "no information", "low", "low", "low", "low"], "no information", False),
    ("robins_i", ["serious", "moderate", "no information", "low", "low", "low", "low"], "serious", True),
    ("robins_i", ["serious", "critical", "low", "low", "low", "low", "low"], "critical", True),
    ("murad", ["yes"] * 7 + ["not applicable"], "low", False),
    ("murad", ["yes"] * 6 + ["no", "not applicable"], "some concerns", False),  # an item judged no: never low
    ("murad", ["yes"] * 4 + ["no", "unclear", "unclear", "no"], "some concerns", False),
    # four high-risk items of eight at exactly 50% yes: high, as JBI rates such a study (wong2021's case)
    ("murad", ["yes"] * 4 + ["no"] * 4, "high", True),
    ("jbi_case_series", ["yes"] * 7 + ["no"] * 3, "high", True),  # 70% yes, but three items judged no
    ("jbi_case_series", ["yes"] * 3 + ["unclear"] * 4, "high", True),
    ("none", ["not applicable"], "not applicable", False),
])
def test_overall_rules(tool, js, overall, high):
    res = overall_judgements(cl_of(tool, js), TOOLS["settings"])
    assert list(res.columns[:4]) == ["study", "tool", "overall", "high_risk"]
    assert (res.iloc[0]["overall"], bool(res.iloc[0]["high_risk"])) == (overall, high)


def test_more_high_risk_items_never_rank_better():
    """Issue 13 item 8: over every Murad checklist of eight items, a study with more items judged no is never
    rated better than one with fewer (and as many yes); the rationale names the count of items judged no."""
    from itertools import product

    rank = {"low": 0, "some concerns": 1, "high": 2}
    checklists = list(product(["yes", "no", "unclear"], repeat=8))
    # one call over all 6,561 checklists (a study each), as the workflow calls it over a corpus
    sid = {f"s{i:04d}": js for i, js in enumerate(checklists)}
    checklist = pd.DataFrame([{"study": s, "tool": "murad", "item": f"D{i}", "judgement": j, "source": "derived"}
                              for s, js in sid.items() for i, j in enumerate(js, 1)])  # cl_of's rows, in one frame
    res = overall_judgements(checklist, TOOLS["settings"])
    assert sorted(res["study"]) == sorted(sid) and set(res["tool"]) == {"murad"}
    rated = {}
    for row in res.itertuples(index=False):
        js = sid[row.study]
        rated[(js.count("yes"), js.count("no"))] = (rank[row.overall], row.rationale)
    for (yes, no), (r, why) in rated.items():
        assert f"{no} judged no" in why
        if (yes, no + 1) in rated:
            assert rated[(yes, no + 1)][0] >= r, (yes, no)
        if no >= TOOLS["settings"]["overall_no_items_high"]:
            assert r == rank["high"], (yes, no)


def test_reviewer_overall_wins(tools):
    st = {"s1": study(design="rct", level="aggregate", randomization="central", blinding="double_blind")}
    ov = {"s1": {"judgements": [{"tool": "rob2", "item": "overall", "judgement": "high",
                                 "rationale": "Selective reporting suspected."}]}}
    cl = build_checklist(st, rct_tables((32, 31)), tools, ov, 6.0)
    o = item(cl, "rob2", "overall")
    assert (o["judgement"], o["source"], o["derived_judgement"], o["reviewer_judgement"]) == \
        ("high", "reviewer", "some concerns", "high")
    res = overall_judgements(cl, TOOLS["settings"])
    assert (res.iloc[0]["overall"], bool(res.iloc[0]["high_risk"]), res.iloc[0]["source"]) == ("high", True, "reviewer")


# ---- corpus build --------------------------------------------------------------------------------

def test_build_checklist_covers_every_study_in_order(tools):
    studies = {"b_rev": study("b_rev", design="systematic_review", level="aggregate"),
               "a_cs": study("a_cs", selection="consecutive", followup="1 years"),
               "c_rct": study("c_rct", design="rct", level="aggregate")}
    corpus = {"cointerventions": pd.concat([table("cointerventions", [co()], "a_cs"),
                                            table("cointerventions", [co("msc", relation="stopped_before")], "c_rct")]),
              "interventions": table("interventions", [msc("msc")], "c_rct")}
    cl = build_checklist(studies, corpus, tools, {}, 6.0)
    assert list(cl.columns) == COLUMNS
    assert set(cl["study"]) == set(studies)
    assert list(cl["study"].drop_duplicates()) == ["a_cs", "b_rev", "c_rct"]
    a = cl[cl.study == "a_cs"]
    assert list(a["tool"].drop_duplicates()) == ["murad", "jbi_case_series"]
    assert list(a.loc[a.tool == "murad", "item"]) == [f"Q{i}" for i in range(1, 9)] + ["overall"]
    # corpus-wide tables are filtered by study: a_cs's concurrent co-intervention, not c_rct's
    assert item(a, "murad", "Q4")["judgement"] == "no"
    c = cl[cl.study == "c_rct"]
    assert list(c["item"]) == ["D1", "D2", "D3", "D4", "D5", "overall"]
    b = cl[cl.study == "b_rev"]
    assert list(b["item"]) == ["none", "overall"] and set(b["judgement"]) == {"not applicable"}
    again = build_checklist(dict(reversed(list(studies.items()))), corpus, tools, {}, 6.0)
    pd.testing.assert_frame_equal(cl, again)


def test_markdown_and_csv(tmp_path, tools):
    cl = build_checklist({"s1": study(selection="self_referred")}, {}, tools, {}, 6.0)
    write_checklist(cl, tmp_path / "t.csv", tmp_path / "t.md", tools)
    back = pd.read_csv(tmp_path / "t.csv", dtype=str, keep_default_na=False)
    assert list(back.columns) == COLUMNS and len(back) == len(cl)
    md = (tmp_path / "t.md").read_text()
    assert "## Murad et al. 2018 (`murad`)" in md and "| s1 | Q1 | selection | no | derived |" in md


def test_wong2021_example_override_quotes_are_verbatim():
    """The example reviewer file cites the source verbatim (whitespace-normalized)."""
    path = ROOT / "resources" / "studies" / "wong2021" / "appraisal.yaml"
    src = ROOT / "resources" / "sources" / "wong2021-case-series.txt"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    text = " ".join(src.read_text(encoding="utf-8").split())
    assert doc.get("example") is True
    for entry in doc["judgements"]:
        if entry.get("quote"):
            assert " ".join(entry["quote"].split()) in text, entry["quote"]
            assert len(entry["quote"].split()) <= 40


# ---- plots ---------------------------------------------------------------------------------------

def test_plots_write_png_and_svg_with_robvis_colours(tmp_path, tools):
    from evsynth.appraise import plots as P

    studies = {"a": study("a", design="rct", level="aggregate", randomization="central", blinding="double_blind"),
               "b": study("b", design="rct", level="aggregate", randomization="none")}
    cl = build_checklist(studies, rct_tables(), tools, {}, 6.0)
    files = P.traffic_light(cl, "rob2", tmp_path / "tl.png") + P.summary_bars(cl, "rob2", tmp_path / "sum")
    assert [f.name for f in files] == ["tl.png", "tl.svg", "sum.png", "sum.svg"]
    assert all(f.stat().st_size > 1000 for f in files)
    svg = (tmp_path / "tl.svg").read_text().lower()
    assert "#02c100" in svg and "#bf0000" in svg and "#4ea1f7" in svg  # low, high, no information
    cb = P.traffic_light(cl, "rob2", tmp_path / "tl_cb", colourblind=True)[1].read_text().lower()
    assert "#fed98e" in cb and "#d95f0e" in cb and "#02c100" not in cb
    with pytest.raises(ValueError, match="no checklist rows"):
        P.summary_bars(cl, "robins_i", tmp_path / "x")


def test_traffic_light_draws_one_circle_per_judged_cell_in_its_colour(tmp_path):
    """Every (study, item) judgement is one circle of its category's colour (one collection per colour), and a
    cell without a judgement stays blank."""
    from evsynth.appraise import plots as P

    judgements = {"a": {"Q1": "yes", "Q2": "no", "overall": "low"}, "b": {"Q1": "unclear", "overall": "high"},
                  "c": {"Q1": "yes", "Q2": "yes", "overall": "low"}}
    cl = pd.DataFrame([{"study": s, "tool": "murad", "item": it, "question": f"{it}?", "judgement": j}
                       for s, items in judgements.items() for it, j in items.items()])
    svg = P.traffic_light(cl, "murad", tmp_path / "tl")[1].read_text()
    fills = re.findall(r'<use xlink:href="#m[0-9a-f]+" x="[\d.]+" y="[\d.]+" style="fill: (#[0-9a-f]+)', svg)
    pal = {k: v.lower() for k, v in P.PALETTES["cochrane"].items()}
    # the cells, and one marker per legend entry (low, high, no information)
    assert sorted(fills) == sorted([pal["low"]] * (5 + 1) + [pal["high"]] * (2 + 1) + [pal["no_information"]] * 2)
    assert svg.count("<g id=\"PathCollection_") == 3


def test_a_tall_traffic_light_png_stays_within_the_size_limit(tmp_path, monkeypatch):
    """A traffic light of hundreds of studies would exceed what Agg draws (2^16 pixels a side) at 300 dpi: its
    PNG gets the resolution that fits PNG_MAX_PIXELS (lowered here so that 40 studies are too many); a
    small one keeps 300 dpi."""
    from PIL import Image

    from evsynth.appraise import plots as P
    from evsynth.common import figures

    monkeypatch.setattr(figures, "PNG_MAX_PIXELS", 3000)
    cl = pd.DataFrame({"study": [f"s{i:03d}" for i in range(40)], "tool": "murad", "item": "overall",
                       "question": "", "judgement": "low"})
    png = P.traffic_light(cl, "murad", tmp_path / "tall")[0]
    height = Image.open(png).size[1]
    assert (1.3 + 0.42 * 40) * P.PNG_DPI > 3000 and 2000 < height <= 3000
    assert figures.png_dpi((5.0, 6.0), P.PNG_DPI) == P.PNG_DPI


def test_plot_item_order_is_natural():
    from evsynth.appraise import plots as P

    rows = pd.DataFrame({"item": ["Q4", "overall", "Q10", "Q1", "Q2"]})
    assert P._items(rows) == ["Q1", "Q2", "Q4", "Q10", "overall"]
