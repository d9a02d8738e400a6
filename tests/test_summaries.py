"""Descriptive summaries (issue 6): hand-computed expectations on small synthetic records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from evsynth.describe.summaries import (
    CASE_COLUMNS,
    SUMMARY_COLUMNS,
    analysis_units,
    clopper_pearson,
    descriptive_summaries,
    pediatric_case_outcomes,
    study_sizes,
)

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# Clopper-Pearson


def test_clopper_pearson_hand_values():
    lo, hi = clopper_pearson(0, 3)
    assert lo == 0.0 and hi == pytest.approx(0.7076, abs=1e-4)
    lo, hi = clopper_pearson(3, 3)
    assert lo == pytest.approx(0.2924, abs=1e-4) and hi == 1.0
    # 0/n upper bound has the closed form 1 - (alpha/2)^(1/n)
    assert clopper_pearson(0, 40)[1] == pytest.approx(1 - 0.025 ** (1 / 40), rel=1e-10)


def test_clopper_pearson_matches_statsmodels_vectorized():
    events = np.array([0, 1, 3, 5, 9, 12, 37, 0])
    n = np.array([1, 4, 3, 20, 12, 12, 40, 87])
    lo, hi = clopper_pearson(events, n)
    slo, shi = proportion_confint(events, n, alpha=0.05, method="beta")
    np.testing.assert_allclose(lo, np.nan_to_num(slo, nan=0.0), atol=1e-12)
    np.testing.assert_allclose(hi, np.nan_to_num(shi, nan=1.0), atol=1e-12)
    lo90, hi90 = clopper_pearson(events, n, level=0.90)
    s90 = proportion_confint(events, n, alpha=0.10, method="beta")
    np.testing.assert_allclose(hi90, np.nan_to_num(s90[1], nan=1.0), atol=1e-12)


def test_clopper_pearson_invalid_inputs_are_nan():
    lo, hi = clopper_pearson([np.nan, 2, 1], [5, 0, np.nan])
    assert np.isnan(lo).all() and np.isnan(hi).all()
    assert all(np.isnan(clopper_pearson(4, 3)))


# ---------------------------------------------------------------------------------------------
# Synthetic records

STUDIES = {
    "case2020": {"design": "case_series", "population": "pediatric", "level": "individual",
                 "conditions": ["SLE", "JIA"],
                 "sources": {"text": {"kind": "text"}, "tab": {"kind": "table"}, "abs": {"kind": "abstract"}}},
    "trial2015": {"design": "single_arm_trial", "population": "adult", "level": "aggregate", "conditions": ["SLE"],
                  "sources": {"A": {"kind": "abstract"}, "S": {"kind": "secondary"}},
                  "appraisal": {"followup": {"value": "12 months"}}},
    "rct2017": {"design": "rct", "population": "adult", "level": "aggregate", "conditions": ["SLE"],
                "sources": {"D": {"kind": "abstract"}, "T": {"kind": "table"}}},
    "review2020": {"design": "systematic_review", "population": "unspecified", "level": "aggregate",
                   "conditions": ["SLE"], "sources": {"R": {"kind": "abstract"}}},
}


def _frame(columns, rows):
    return pd.DataFrame(rows, columns=columns)


def _tables():
    part = _frame(["study", "line", "group", "n", "condition", "followup", "source"], [
        ("case2020", 2, "all", 2, None, None, "abs"),
        ("case2020", 3, "P1", 1, "SLE", "2 years", "text"),
        ("case2020", 4, "P1", 1, "SLE", None, "tab"),
        ("case2020", 5, "P2", 1, "JIA", None, "tab"),
        ("trial2015", 2, "all", 40, "SLE", None, "A"),
        ("trial2015", 3, "all", 39, "SLE", None, "S"),
        ("rct2017", 2, "all", 18, "SLE", "6 months", "D"),
        ("rct2017", 3, "msc", 12, "SLE", None, "D"),
        ("rct2017", 4, "placebo", 6, "SLE", None, "D"),
        ("review2020", 2, "pooled", 500, "SLE", None, "R"),
    ])
    iv = _frame(["study", "line", "group", "seq", "count", "agent", "cell_source", "donor", "route", "source"], [
        ("case2020", 2, "P1", 1, None, "msc", "adipose", "autologous", "iv", "text"),
        ("case2020", 3, "P1", 2, None, "msc", "adipose", "autologous", "intranasal", "text"),
        ("case2020", 4, "P2", 1, None, "msc", "umbilical_cord", "allogeneic", "iv", "text"),
        ("trial2015", 2, "all", 1, None, "msc", "umbilical_cord", "allogeneic", "iv", "A"),
        ("trial2015", 3, "all", 2, None, "msc", "umbilical_cord", "allogeneic", None, "A"),
        ("rct2017", 2, "msc", 1, None, "msc", "umbilical_cord", "allogeneic", "iv", "D"),
        ("rct2017", 3, "placebo", 1, None, "placebo", None, None, "iv", "D"),
        ("review2020", 2, "pooled", None, None, "msc", "bone_marrow", "allogeneic", "iv", "R"),
    ])
    ae = _frame(["study", "line", "group", "event", "serious", "n_patients", "n_events", "n_at_risk", "timepoint",
                 "source", "distinct_patients"], [
        ("case2020", 2, "P1", "any other serious adverse effect", "yes", 0, None, None, None, "text", None),
        ("case2020", 3, "P1", "fatigue", "no", None, None, None, "post", "text", None),
        ("case2020", 4, "all", "any serious adverse event", "yes", 0, None, 2, None, "abs", None),
        ("case2020", 5, "P2", "macrophage activation syndrome", "unknown", 1, None, None, "7 weeks", "text", None),
        ("trial2015", 2, "all", "serious adverse event", "yes", 0, None, None, "0-12 months", "A", None),
        ("rct2017", 2, "msc", "pneumonia (one patient)", "yes", 1, None, None, None, "D", "yes"),
        ("rct2017", 3, "msc", "death from severe pneumonia", "yes", 1, None, None, None, "D", "yes"),
        ("rct2017", 4, "placebo", "stroke", "yes", 1, None, None, None, "D", None),
    ])
    co = _frame(["study", "line", "group", "therapy", "relation", "timepoint", "source"], [
        ("case2020", 2, "P1", "prednisone", "stopped_after", "post", "text"),
        ("case2020", 3, "P2", "tocilizumab", "concurrent", "0-2 months", "text"),
        ("case2020", 4, "P2", "methotrexate", "stopped_during", "2 months", "text"),
    ])
    out = _frame(["study", "line", "group", "measure", "timepoint", "metric", "stat", "value", "unit", "source"], [])
    return {"participants": part, "interventions": iv, "outcomes": out, "adverse_events": ae, "cointerventions": co}


_OH_COLS = ["study", "line", "group", "measure", "domain", "direction", "timepoint", "time_months", "metric", "stat",
            "value", "unit", "value_h", "unit_h", "source"]


def _outcomes_h():
    rows = [
        # P1 SLEDAI-2K: text 10 -> 2 (6 months); table 12 (disagrees) -> 2 (post)
        ("case2020", "2", "P1", "sledai_2k", "disease_activity", "lower_better", "baseline", 0.0, "level", "value", 10, "score", 10, "score", "text"),
        ("case2020", "3", "P1", "sledai_2k", "disease_activity", "lower_better", "1 months", 1.0, "level", "value", 4, "score", 4, "score", "text"),
        ("case2020", "4", "P1", "sledai_2k", "disease_activity", "lower_better", "6 months", 6.0, "level", "value", 2, "score", 2, "score", "text"),
        ("case2020", "10", "P1", "sledai_2k", "disease_activity", "lower_better", "baseline", 0.0, "level", "value", 12, "score", 12, "score", "tab"),
        ("case2020", "11", "P1", "sledai_2k", "disease_activity", "lower_better", "post", np.nan, "level", "value", 3, "score", 3, "score", "tab"),
        # P1 patient global 0 -> 0: percent change undefined, not improved
        ("case2020", "5", "P1", "pga_patient", "global_assessment", "lower_better", "baseline", 0.0, "level", "value", 0, "0-10", 0, "percent_of_scale", "text"),
        ("case2020", "6", "P1", "pga_patient", "global_assessment", "lower_better", "3 months", 3.0, "level", "value", 0, "0-10", 0, "percent_of_scale", "text"),
        # P2 only in the table: JADAS 11 -> 6 (post); no follow-up reported
        ("case2020", "12", "P2", "jadas_unspecified", "disease_activity", "lower_better", "baseline", 0.0, "level", "value", 11, "score", 11, "score", "tab"),
        ("case2020", "13", "P2", "jadas_unspecified", "disease_activity", "lower_better", "post", np.nan, "level", "value", 6, "score", 6, "score", "tab"),
        # trial2015: survival 37/40 at 12 months (deaths derived 3); complete remission 10/40 and remission 15/40
        ("trial2015", "2", "all", "survival", "safety", "higher_better", "12 months", 12.0, "level", "events", 37, "patients", 37, "patients", "A"),
        ("trial2015", "3", "all", "survival", "safety", "higher_better", "12 months", 12.0, "level", "n", 40, "patients", 40, "patients", "A"),
        ("trial2015", "4", "all", "complete_remission", "response", "higher_better", "12 months", 12.0, "level", "events", 10, "patients", 10, "patients", "A"),
        ("trial2015", "5", "all", "complete_remission", "response", "higher_better", "12 months", 12.0, "level", "n", 40, "patients", 40, "patients", "A"),
        ("trial2015", "6", "all", "remission", "response", "higher_better", "12 months", 12.0, "level", "events", 15, "patients", 15, "patients", "A"),
        ("trial2015", "7", "all", "remission", "response", "higher_better", "12 months", 12.0, "level", "n", 40, "patients", 40, "patients", "A"),
        ("trial2015", "8", "all", "remission", "response", "higher_better", "3 months", 3.0, "level", "events", 30, "patients", 30, "patients", "A"),
        ("trial2015", "9", "all", "remission", "response", "higher_better", "3 months", 3.0, "level", "n", 40, "patients", 40, "patients", "A"),
        # rct2017: remission 9/12 vs placebo 5/6 at 6 months; one death in the MSC arm (n from the arm)
        ("rct2017", "2", "msc", "remission", "response", "higher_better", "6 months", 6.0, "level", "events", 9, "patients", 9, "patients", "D"),
        ("rct2017", "3", "msc", "remission", "response", "higher_better", "6 months", 6.0, "level", "n", 12, "patients", 12, "patients", "D"),
        ("rct2017", "4", "placebo", "remission", "response", "higher_better", "6 months", 6.0, "level", "events", 5, "patients", 5, "patients", "D"),
        ("rct2017", "5", "placebo", "remission", "response", "higher_better", "6 months", 6.0, "level", "n", 6, "patients", 6, "patients", "D"),
        ("rct2017", "6", "msc", "death", "safety", "lower_better", "6 months", 6.0, "level", "events", 1, "patients", 1, "patients", "T"),
        ("review2020", "2", "pooled", "remission", "response", "higher_better", "post", np.nan, "level", "events", 300, "patients", 300, "patients", "R"),
        ("review2020", "3", "pooled", "remission", "response", "higher_better", "post", np.nan, "level", "n", 500, "patients", 500, "patients", "R"),
    ]
    return _frame(_OH_COLS, rows)


def _doses():
    return _frame(["study", "group", "seq", "summary", "cells_per_kg"], [
        ("case2020", "P1", 1, False, 1e6), ("case2020", "P1", 2, False, 3e6),
        ("case2020", "P2", 1, False, 2e6),
        ("trial2015", "all", 1, False, 1e6), ("trial2015", "all", 2, False, 1e6),
        ("rct2017", "msc", None, True, np.nan),
    ])


def _cumulative():
    return _frame(["study", "group", "n_administrations", "cum_cells_per_kg", "cum_cells_per_kg_low",
                   "cum_cells_per_kg_high", "routes"], [
        ("case2020", "P1", 2.0, 4e6, 4e6, 4e6, "intranasal:1;iv:1"),
        ("case2020", "P2", 1.0, 2e6, 2e6, 2e6, "iv:1"),
        ("trial2015", "all", 2.0, 2e6, 2e6, 2e6, ":1;iv:1"),
        ("rct2017", "msc", 2.0, np.nan, np.nan, np.nan, "iv:2"),
    ])


def _responders():
    return _frame(["study", "group", "measure", "threshold", "timepoint", "met"], [
        ("case2020", "P1", "sledai_2k", "improvement", "1 months", True),
        ("case2020", "P1", "sledai_2k", "flare", "1 months", False),
        ("case2020", "P1", "sledai_2k", "improvement", "6 months", True),
        ("case2020", "P1", "sledai_2k", "flare", "6 months", False),
    ])


def _cases():
    return pediatric_case_outcomes(_tables(), STUDIES, _outcomes_h(), _doses(), _cumulative(), _responders())


# ---------------------------------------------------------------------------------------------
# Per-patient outcomes


def test_case_rows_one_per_patient_and_measure():
    cases = _cases()
    assert list(cases.columns[: len(CASE_COLUMNS)]) == CASE_COLUMNS
    assert list(zip(cases["patient"], cases["measure"])) == [
        ("P1", "sledai_2k"), ("P1", "pga_patient"), ("P2", "jadas_unspecified")]
    assert set(cases["study"]) == {"case2020"}


def test_text_and_table_disagree_first_source_kept_other_listed():
    r = _cases().set_index(["patient", "measure"]).loc[("P1", "sledai_2k")]
    assert r["before"] == 10 and r["before_source"] == "text" and r["before_other"] == "12 [tab]"
    # latest timed value of the first source; the table's 'post' value differs and is listed with its time
    assert r["after"] == 2 and r["after_timepoint"] == "6 months" and r["after_time_months"] == 6.0
    assert r["after_other"] == "3 [tab, post]"
    assert r["change"] == -8 and r["percent_change"] == pytest.approx(-80.0)
    assert bool(r["improved"]) is True
    assert bool(r["responder_improvement"]) is True and bool(r["responder_flare"]) is False
    assert r["responder"] == "improvement: met; flare: not met"
    assert r["cum_dose_per_kg"] == 4e6 and r["dose_per_kg_min"] == 1e6 and r["dose_per_kg_max"] == 3e6
    assert r["administrations"] == 2 and r["administrations_by_route"] == "intranasal ×1, iv ×1"
    assert r["followup_months"] == 24.0 and "2 years" in r["followup_basis"]
    assert r["condition"] == "SLE"


def test_zero_baseline_and_no_change():
    r = _cases().set_index(["patient", "measure"]).loc[("P1", "pga_patient")]
    assert r["change"] == 0 and np.isnan(r["percent_change"])
    assert bool(r["improved"]) is False
    assert pd.isna(r["responder_improvement"]) and r["responder"] == ""
    assert r["before_h"] == 0 and r["unit_h"] == "percent_of_scale" and r["unit"] == "0-10"


def test_confounding_from_cointerventions():
    cases = _cases().drop_duplicates("patient").set_index("patient")
    # stopped after the MSC course: listed, not confounding
    assert not cases.loc["P1", "confounded"]
    assert cases.loc["P1", "cointerventions"] == "prednisone: stopped_after (post)"
    assert cases.loc["P2", "confounded"]
    assert cases.loc["P2", "confounding_note"] == (
        "concurrent: tocilizumab (0-2 months); stopped_during: methotrexate (2 months)")
    assert cases.loc["P2", "cointerventions"].startswith("tocilizumab: concurrent (0-2 months); ")
    # P2 has no reported follow-up and only untimed outcomes: the study's follow-up is not borrowed
    assert np.isnan(cases.loc["P2", "followup_months"]) and cases.loc["P2", "followup_basis"] == "not reported"


def test_no_individual_studies_gives_empty_frame():
    studies = {k: v for k, v in STUDIES.items() if k != "case2020"}
    out = pediatric_case_outcomes(_tables(), studies, _outcomes_h(), _doses(), _cumulative(), _responders())
    assert out.empty and list(out.columns) == CASE_COLUMNS


# ---------------------------------------------------------------------------------------------
# Sizes and units


def test_study_sizes_primary_rule():
    arms, sizes = study_sizes(_tables()["participants"], STUDIES)
    n = sizes.set_index("study")["n"]
    assert n["trial2015"] == 40  # abstract (primary) over the secondary 39
    assert n["rct2017"] == 18  # the 'all' row, not 18 + 12 + 6
    assert n["case2020"] == 2
    assert n["review2020"] == 500


def test_units_are_patients_and_msc_arms():
    u = analysis_units(_tables(), STUDIES, _outcomes_h(), _doses(), _cumulative())
    assert list(zip(u["study"], u["group"])) == [
        ("case2020", "P1"), ("case2020", "P2"), ("rct2017", "msc"), ("trial2015", "all")]
    t = u.set_index(["study", "group"])
    assert t.loc[("trial2015", "all"), "route"] == ["iv"]  # an unreported route is not a level beside iv
    assert t.loc[("case2020", "P1"), "route"] == ["intranasal", "iv"]
    assert t.loc[("rct2017", "msc"), "n"] == 12


# ---------------------------------------------------------------------------------------------
# Summaries


def _summary():
    return descriptive_summaries(_tables(), STUDIES, _outcomes_h(), _doses(), _cumulative())


def test_summary_all_row():
    s = _summary()
    assert list(s.columns) == SUMMARY_COLUMNS
    a = s.iloc[0]
    assert (a["dimension"], a["level"]) == ("all", "all")
    assert a["studies"] == 3 and a["study_ids"] == "case2020;rct2017;trial2015"  # review excluded
    assert a["patients"] == 2 + 18 + 40 and a["msc_patients"] == 1 + 1 + 12 + 40
    # per-unit median per-administration dose: P1 2e6, P2 2e6, trial 1e6; rct not derivable
    assert a["dose_per_kg_median"] == 2e6 and a["dose_per_kg_min"] == 1e6 and a["dose_per_kg_units"] == 3
    assert a["administrations_min"] == 1 and a["administrations_max"] == 2
    # follow-up: P1 24 (reported), P2 none, rct 6 (study 'all' row), trial 12 (study.yaml)
    assert a["followup_median"] == 12 and a["followup_max"] == 24


def test_improved_events_patients_and_arms():
    a = _summary().iloc[0]
    # P1 and P2 improved on disease activity (2/2); rct msc arm 9/12 (placebo arm not counted);
    # trial: latest timepoint 12 months, broadest measure remission 15/40 (not 30/40 at 3 months)
    assert a["improved_events"] == 2 + 9 + 15 and a["improved_n"] == 2 + 12 + 40
    lo, hi = proportion_confint(26, 54, method="beta")
    assert a["improved_ci_low"] == pytest.approx(100 * lo) and a["improved_ci_high"] == pytest.approx(100 * hi)


def test_improved_says_which_definitions_it_sums():
    s = _summary().set_index(["dimension", "level"])
    a = s.loc[("all", "all")]
    assert a["improved_definitions"] == ("MIXED DEFINITIONS - disease activity improved (patient): 2 units (2/2); "
                                         "remission: 2 units (24/52)")
    # one definition: no warning
    assert s.loc[("population", "adult"), "improved_definitions"] == "remission: 2 units (24/52)"


def test_conditions_of_the_question_only():
    studies = STUDIES
    asked = descriptive_summaries(_tables(), studies, _outcomes_h(), _doses(), _cumulative(),
                                  conditions=["SLE", "RA"])
    assert asked.iloc[0]["study_ids"] == "case2020;rct2017;trial2015"
    only_jia = descriptive_summaries(_tables(), studies, _outcomes_h(), _doses(), _cumulative(), conditions=["JIA"])
    assert only_jia.iloc[0]["study_ids"] == "case2020"  # a study counts when any of its conditions is asked about


def test_zero_event_sae_proportion_exact_ci():
    s = _summary().set_index(["dimension", "level"])
    t = s.loc[("population", "adult")]
    # trial2015 reports no SAE in 40 (a reported zero counts), rct2017 MSC arm: 2 rows of distinct patients over 12
    assert t["sae_events"] == 2 and t["sae_n"] == 52
    p = s.loc[("population", "pediatric")]
    # P1's own zero, P2 from the study-wide 'none': 0 of 2
    assert p["sae_events"] == 0 and p["sae_n"] == 2 and p["sae_pct"] == 0
    assert p["sae_ci_low"] == 0 and p["sae_ci_high"] == pytest.approx(100 * (1 - 0.025 ** 0.5))
    sl = s.loc[("condition", "SLE")]
    assert "2 rows of distinct patients added" in sl["notes"]
    # where a zero comes from: P2 has no SAE row of its own, its 0 is the study-wide report of none; P1's is its own
    notes = dict(unit.split(": ", 1) for unit in p["notes"].split(" || "))
    assert "SAE: 'any' row; study-wide report of none" in notes["case2020/P2"]
    assert "study-wide" not in notes.get("case2020/P1", "")


def test_unknown_seriousness_counted_apart_never_dropped():
    s = _summary().set_index(["dimension", "level"])
    p = s.loc[("population", "pediatric")]
    # P2's macrophage activation syndrome (seriousness unknown): not a serious event, but shown
    # (P1 reports no event of unknown seriousness, so only P2 is in that denominator)
    assert p["sae_events"] == 0 and p["sae_unknown_events"] == 1 and p["sae_unknown_n"] == 1
    assert "macrophage activation syndrome" in p["notes"]


def test_deaths_derived_from_survival_and_said_so():
    s = _summary().set_index(["dimension", "level"])
    a = s.loc[("all", "all")]
    # trial2015: 40 - 37 = 3 (derived); rct2017 msc: 1 of the arm's 12
    assert a["death_events"] == 4 and a["death_n"] == 52
    assert "deaths derived = n - survivors = 40 - 37 at 12 months [A]" in a["notes"]
    lo, hi = clopper_pearson(4, 52)
    assert a["death_ci_low"] == pytest.approx(100 * lo)


def test_dimension_levels_and_order():
    s = _summary()
    dims = list(dict.fromkeys(s["dimension"]))
    assert dims == ["all", "population", "condition", "cell_source", "donor", "route"]
    route = s.loc[s["dimension"] == "route"].set_index("level")
    assert list(route.index) == ["intranasal", "iv"]
    # a study counts once per route it used; P1 counts under both routes
    assert route.loc["iv", "studies"] == 3 and route.loc["intranasal", "study_ids"] == "case2020"
    assert route.loc["intranasal", "patients"] == 1
    cond = s.loc[s["dimension"] == "condition"].set_index("level")
    assert cond.loc["JIA", "patients"] == 1 and cond.loc["SLE", "patients"] == 1 + 18 + 40


def test_include_reviews_on_request_and_unknown_dimension():
    s = descriptive_summaries(_tables(), STUDIES, _outcomes_h(), _doses(), _cumulative(), exclude_designs=())
    assert "review2020" in s.iloc[0]["study_ids"]
    with pytest.raises(ValueError, match="unknown dimension"):
        descriptive_summaries(_tables(), STUDIES, _outcomes_h(), _doses(), _cumulative(), by=["colour"])


def test_deterministic():
    pd.testing.assert_frame_equal(_summary(), _summary())


# ---------------------------------------------------------------------------------------------
# Smoke test on the pipeline's intermediates


def _real_inputs():
    res = ROOT / "results"
    need = [res / "records" / "studies.json", res / "harmonized" / "outcomes.parquet",
            res / "tables" / "doses.csv", res / "tables" / "doses_cumulative.csv", res / "tables" / "responders.csv"]
    if not all(p.exists() for p in need):
        pytest.skip("results/ intermediates not built (run snakemake first)")
    from evsynth.common.io import load_saved_records

    names = ["participants", "interventions", "outcomes", "adverse_events", "cointerventions"]
    rec = load_saved_records([str(res / "records" / f"{t}.parquet") for t in names], str(need[0]))
    return (rec.tables, rec.studies, pd.read_parquet(need[1]), pd.read_csv(need[2]), pd.read_csv(need[3]),
            pd.read_csv(need[4]))


def test_smoke_real_intermediates():
    tables, studies, oh, doses, cum, resp = _real_inputs()
    cases = pediatric_case_outcomes(tables, studies, oh, doses, cum, resp)
    individual = {s for s, m in studies.items() if m.get("level") == "individual"}
    assert set(cases["study"]) <= individual
    assert not cases.duplicated(["study", "patient", "measure"]).any()
    s = descriptive_summaries(tables, studies, oh, doses, cum)
    assert s.iloc[0]["dimension"] == "all"
    reviews = {k for k, m in studies.items() if m.get("design") == "systematic_review"}
    assert not reviews & set(s.iloc[0]["study_ids"].split(";"))
    for p in ("improved", "sae", "death"):
        ok = s[f"{p}_n"].notna()
        assert (s.loc[ok, f"{p}_events"] <= s.loc[ok, f"{p}_n"]).all()
        assert (s.loc[ok, f"{p}_ci_low"] <= s.loc[ok, f"{p}_pct"] + 1e-9).all()
        assert (s.loc[ok, f"{p}_pct"] <= s.loc[ok, f"{p}_ci_high"] + 1e-9).all()
    pd.testing.assert_frame_equal(s, descriptive_summaries(tables, studies, oh, doses, cum))


def test_split_rows_gives_what_selecting_from_the_whole_table_gives():
    """The per-study and per-arm loops of the describe and appraise stages read rows split once
    (common.io.split_rows): the rows, order, index, columns and dtypes of ``frame.loc[frame[by] == key]``,
    an empty slice for a key without rows, and no row whose key is missing."""
    from evsynth.common.io import rows_by_study, split_rows

    frame = pd.DataFrame({"study": ["b", "a", "b", None, "a", "b"], "group": ["x", "y", "x", "x", "x", "y"],
                          "n": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0], "line": [2, 3, 4, 5, 6, 7]},
                         index=[10, 11, 12, 13, 14, 15])
    by_study, by_arm = split_rows(frame), split_rows(frame, ["study", "group"])
    for key in ("a", "b", "c"):
        pd.testing.assert_frame_equal(by_study(key), frame.loc[frame["study"] == key])
    for key in (("b", "x"), ("a", "y"), ("a", "z"), (None, "x")):
        expected = frame.loc[(frame["study"] == key[0]) & (frame["group"] == key[1])]
        pd.testing.assert_frame_equal(by_arm(key), expected)
    assert by_study("b")["line"].tolist() == [2, 4, 7] and by_arm(("b", "x")).index.tolist() == [10, 12]
    own = rows_by_study({"rows": frame, "settings": pd.DataFrame({"k": [1]})})("a")
    assert own["rows"]["line"].tolist() == [3, 6] and own["settings"]["k"].tolist() == [1]
    pd.testing.assert_frame_equal(split_rows(frame.iloc[:0])("a"), frame.iloc[:0])
