"""Summary of findings (evsynth.answer.sof) on small synthetic pooled tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evsynth.answer.sof import SOF_COLUMNS, effect_text, summary_of_findings, worst_judgement

NAN = np.nan


def _pooled_row(analysis, measure, subgroup, k, n, est, lb, ub, i2=0.0, message="", studies=""):
    return dict(analysis=analysis, measure=measure, subgroup=subgroup, variant="main", k=k, n=n, estimate_bt=est,
                ci_lb_bt=lb, ci_ub_bt=ub, pi_lb_bt=lb, pi_ub_bt=ub, i2=i2, message=message, studies=studies)


def _study(analysis, study, population, design, yi, n, events1=NAN, weight=NAN, measure="sledai", n1=NAN, n2=NAN,
           events2=NAN):
    return dict(analysis=analysis, study=study, group="msc", measure=measure, population=population, design=design,
                yi=yi, n=n, events1=events1, weight=weight, n1=n1, n2=n2, events2=events2)


@pytest.fixture
def corpus():
    pooled = pd.DataFrame([
        _pooled_row("act", "MC", "all", 3, 40, -8.0, -10.0, -6.0, i2=20.0),
        _pooled_row("act", "MC", "population=adult", 2, 37, -8.5, -11.0, -6.0),
        _pooled_row("act", "MC", "population=pediatric", 1, 3, -7.0, -9.0, -5.0, message="k = 1"),
        _pooled_row("rem", "PLO", "all", 2, 30, 0.4, 0.2, 0.6),
        _pooled_row("rem_rct", "OR", "all", 1, 18, 0.6, 0.05, 7.4, studies="trial (msc vs placebo)"),
    ])
    rows = pd.DataFrame([
        _study("act", "trial", "adult", "rct", -8.0, 12, weight=60),
        _study("act", "series", "adult", "single_arm_trial", -9.0, 25, weight=30),
        _study("act", "kids", "pediatric", "case_series", -7.0, 3, weight=10),
        _study("rem", "trial", "adult", "rct", 1.1, 12, events1=9, weight=50, measure="remission"),
        _study("rem", "series", "adult", "single_arm_trial", -0.9, 18, events1=3, weight=50, measure="remission"),
        _study("rem_rct", "trial", "adult", "rct", -0.5, 18, events1=9, measure="remission", n1=12, n2=6, events2=5),
    ])
    bias = pd.DataFrame({"study": ["trial", "series", "series", "kids"], "tool": ["rob2", "murad", "jbi", "murad"],
                         "overall": ["some concerns", "some concerns", "high", "high"]})
    studies = pd.DataFrame({"study": ["trial", "series", "kids"], "conditions": ["SLE", "SLE", "SLE;JIA"]})
    outcomes = pd.DataFrame([
        dict(study="trial", group="placebo", measure="sledai", metric="change", stat="mean", value_h=-5.0,
             timepoint="6 months"),
        dict(study="trial", group="placebo", measure="sledai", metric="change", stat="sd", value_h=8.0,
             timepoint="6 months"),
        dict(study="trial", group="placebo", measure="remission", metric="level", stat="events", value_h=5.0,
             timepoint="6 months"),
    ])
    interventions = pd.DataFrame({"study": ["trial", "trial"], "group": ["msc", "placebo"], "agent": ["msc", "placebo"]})
    participants = pd.DataFrame({"study": ["trial", "trial"], "group": ["msc", "placebo"], "n": [12.0, 6.0]})
    settings = {"target_population": "pediatric", "beside": ["adult"], "intervention": "MSC therapy", "outcomes": [
        {"outcome": "disease activity", "analysis": "act", "ci_width": 4, "unit": "points"},
        {"outcome": "remission", "analysis": "rem", "controlled": ["rem_rct"], "ci_width": 0.2},
    ]}
    return pooled, rows, bias, studies, outcomes, interventions, participants, settings


def _sof(corpus, overrides=None, **kw):
    pooled, rows, bias, studies, outcomes, interventions, participants, settings = corpus
    settings = {**settings, **kw}
    return summary_of_findings(pooled, rows, bias, studies, outcomes, interventions, participants, settings,
                               overrides, {"act": {"records": {"conditions": ["SLE"]}}})


def test_one_row_per_outcome_and_population_target_first(corpus):
    t = _sof(corpus)
    assert list(t.columns) == SOF_COLUMNS
    assert list(zip(t["outcome"], t["population"])) == [
        ("disease activity", "pediatric"), ("disease activity", "adult"), ("remission", "pediatric"),
        ("remission", "adult")]
    assert list(t["role"]) == ["asked about", "beside", "asked about", "beside"]


def test_the_scale_names_the_measure_as_the_registry_does(corpus):
    t = _sof(corpus)
    assert set(t.loc[t["outcome"].eq("disease activity"), "scale"]) == {"mean change from baseline (points)"}
    assert set(t.loc[t["outcome"].eq("remission"), "scale"]) == {"proportion of MSC-treated patients"}


def test_population_rows_use_their_subgroup_fit(corpus):
    t = _sof(corpus).set_index(["outcome", "population"])
    assert t.loc[("disease activity", "pediatric"), "estimate"] == -7.0
    assert t.loc[("disease activity", "adult"), "estimate"] == -8.5
    assert t.loc[("disease activity", "adult"), "effect_text"] == "-8.5 points (95% CI -11 to -6)"
    assert t.loc[("disease activity", "adult"), "designs"] == "1 rct, 1 single_arm_trial"


def test_single_population_analysis_uses_the_main_fit_and_no_target_evidence_says_so(corpus):
    t = _sof(corpus).set_index(["outcome", "population"])
    assert t.loc[("remission", "adult"), "estimate"] == 0.4
    assert t.loc[("remission", "adult"), "effect_text"].startswith("12/30 patients; 40.0% (95% CI 20.0% to 60.0%)")
    kids = t.loc[("remission", "pediatric")]
    assert kids["k"] == 0 and kids["certainty"] == "no evidence" and "no pediatric study" in kids["notes"]


def test_controlled_contrast_and_placebo_change_beside_the_single_arm_estimate(corpus):
    t = _sof(corpus).set_index(["outcome", "population"])
    adult = t.loc[("remission", "adult")]
    assert adult["controlled_contrast"].startswith("OR 0.6 (95% CI 0.05 to 7.4); 1 RCT, 18 patients")
    assert adult["comparator_change"] == "trial placebo: 5/6 remission at 6 months"
    act = t.loc[("disease activity", "adult")]
    assert act["comparator_change"] == "trial placebo: change -5 (SD 8), n = 6, sledai at 6 months"


def test_comparative_rows_of_the_same_analysis_are_picked_up(corpus):
    pooled, rows, *rest = corpus
    pooled = pd.concat([pooled, pd.DataFrame([_pooled_row("act", "MD", "all", 1, 18, -3.0, -9.0, 3.0,
                                                          studies="trial (msc vs placebo)")])])
    rows = pd.concat([rows, pd.DataFrame([_study("act", "trial", "adult", "rct", -3.0, 18, n1=12, n2=6)])])
    t = _sof((pooled, rows, *rest)).set_index(["outcome", "population"])
    assert t.loc[("disease activity", "adult"), "controlled_contrast"].startswith("MD -3 (95% CI -9 to 3); 1 RCT")
    assert t.loc[("disease activity", "pediatric"), "controlled_contrast"] in ("", None) or \
        pd.isna(t.loc[("disease activity", "pediatric"), "controlled_contrast"])


def test_grade_reads_worst_bias_judgement_conditions_of_the_analysis_and_population(corpus):
    t = _sof(corpus).set_index(["outcome", "population"])
    kids = t.loc[("disease activity", "pediatric")]
    assert kids["risk_of_bias"].startswith("very serious (-2)")
    assert kids["indirectness"].startswith("not serious")  # JIA is outside the analysis' SLE filter
    adult = t.loc[("disease activity", "adult")]
    assert adult["indirectness"].startswith("serious (-1): adult evidence for a pediatric question")
    assert adult["certainty"] == "very low"
    assert adult["statement"].startswith("The evidence is very uncertain about the effect of MSC therapy on "
                                         "disease activity in adults")


def test_worst_judgement_across_tools():
    bias = pd.DataFrame({"study": ["a", "a", "b"], "tool": ["murad", "jbi", "rob2"],
                         "overall": ["some concerns", "high", "low"]})
    assert worst_judgement(bias).to_dict() == {"a": "high", "b": "low"}


def test_unknown_analysis_is_a_clear_error(corpus):
    pooled, rows, bias, studies, outcomes, interventions, participants, settings = corpus
    bad = {**settings, "outcomes": [{"outcome": "x", "analysis": "nope"}]}
    with pytest.raises(ValueError, match="outcome 'x' names analysis 'nope'"):
        summary_of_findings(pooled, rows, bias, studies, outcomes, interventions, participants, bad)


def test_effect_text_formats():
    assert effect_text("PLO", 0.123, 0.047, 0.285, 0.035, 0.348) == "12.3% (95% CI 4.7% to 28.5%); PI 3.5% to 34.8%"
    assert effect_text("OR", 3.5625, 0.664, 19.11) == "OR 3.56 (95% CI 0.664 to 19.1)"
    assert effect_text("MC", math.nan, 0, 1) == ""


def test_contrast_rows_marked_by_role_are_shown_beside_not_counted(corpus):
    pooled, rows, *rest = corpus
    pooled = pd.concat([pooled, pd.DataFrame([_pooled_row("act", "MD", "all", 1, 18, -3.0, -9.0, 3.0,
                                                          studies="trial (msc vs placebo)")])])
    rows = rows.assign(role="main")
    rows = pd.concat([rows, pd.DataFrame([{**_study("act", "trial", "adult", "rct", -3.0, 18, n1=12, n2=6),
                                           "role": "controlled contrast"}])])
    t = _sof((pooled, rows, *rest)).set_index(["outcome", "population"])
    adult = t.loc[("disease activity", "adult")]
    assert adult["k"] == 2 and adult["controlled_contrast"].startswith("MD -3 (95% CI -9 to 3); 1 RCT")
