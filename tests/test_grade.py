"""GRADE rating rules, each on small synthetic cases (evsynth.answer.grade)."""

from __future__ import annotations


import pandas as pd
import pytest

from evsynth.answer.grade import (
    GradeError, final_level, grade_table, load_overrides, rate_imprecision, rate_inconsistency,
    rate_indirectness, rate_publication_bias, rate_risk_of_bias, starting_level, statement,
)

NAN = float("nan")


# ---- start -----------------------------------------------------------------------------------

def test_randomized_comparison_starts_high():
    assert starting_level(["rct"], comparative=True)[0] == "high"


def test_single_arm_estimate_starts_low_even_from_an_rct_arm():
    level, reason = starting_level(["rct", "single_arm_trial"], comparative=False)
    assert level == "low" and "single-arm" in reason


def test_comparison_with_nonrandomized_designs_starts_low():
    level, reason = starting_level(["rct", "nonrandomized_controlled"], comparative=True)
    assert level == "low" and "nonrandomized_controlled" in reason


# ---- risk of bias ----------------------------------------------------------------------------

def test_all_studies_high_risk_is_very_serious():
    r = rate_risk_of_bias(["high", "high"], [50, 50])
    assert r.down == 2 and "2 of 2" in r.reason


def test_high_risk_share_of_weight_rates_down_once():
    r = rate_risk_of_bias(["high", "low"], [70, 30], serious_share=0.5)
    assert r.down == 1 and "70%" in r.reason


def test_small_high_risk_share_with_a_low_risk_study_is_not_serious():
    r = rate_risk_of_bias(["high", "low", "low"], [10, 45, 45])
    assert r.down == 0


def test_no_study_at_low_risk_rates_down_once():
    r = rate_risk_of_bias(["some concerns", "some concerns"])
    assert r.down == 1 and "no study at low risk" in r.reason


def test_robins_serious_counts_as_high():
    assert rate_risk_of_bias(["serious"]).down == 2


# ---- inconsistency ---------------------------------------------------------------------------

def test_single_study_inconsistency_not_assessable():
    r = rate_inconsistency(1, 0.0, [-1.0], 0.0)
    assert not r.assessable and r.down == 0 and r.text.startswith("not assessable")


def test_high_i2_rates_down_once():
    r = rate_inconsistency(3, 60.0, [-1, -2, -3], 0.0)
    assert r.down == 1 and "I^2 = 60%" in r.reason


def test_very_high_i2_with_opposite_directions_rates_down_twice():
    r = rate_inconsistency(3, 90.0, [-1, 2, -3], 0.0)
    assert r.down == 2 and "both sides" in r.reason


def test_opposite_directions_alone_rate_down_once():
    r = rate_inconsistency(2, 10.0, [-1, 0.5], 0.0)
    assert r.down == 1


def test_prediction_interval_crossing_the_null_rates_down_once():
    r = rate_inconsistency(3, 20.0, [-1, -2, -3], 0.0, ci=(-3, -1), pi=(-5, 1))
    assert r.down == 1 and "prediction interval" in r.reason


def test_consistent_studies_not_serious():
    r = rate_inconsistency(3, 10.0, [-1, -2, -3], 0.0, ci=(-3, -1), pi=(-4, -0.5))
    assert r.down == 0


def test_proportions_have_no_null_so_only_i2_counts():
    assert rate_inconsistency(3, 40.0, [0.1, 0.5, 0.9], None).down == 0
    assert rate_inconsistency(3, 86.0, [0.1, 0.5, 0.9], None).down == 1


# ---- indirectness ----------------------------------------------------------------------------

def test_adult_evidence_for_pediatric_question_rates_down_once():
    r = rate_indirectness(["adult"], "pediatric")
    assert r.down == 1 and "adult evidence for a pediatric question" in r.reason


def test_surrogate_outcome_rates_down():
    assert rate_indirectness(["pediatric"], "pediatric", surrogate=True).down == 1


def test_condition_mix_counts_for_benefit_not_harm():
    assert rate_indirectness(["pediatric"], "pediatric", conditions=["SLE", "RA"], benefit=True).down == 1
    assert rate_indirectness(["pediatric"], "pediatric", conditions=["SLE", "RA"], benefit=False).down == 0


def test_indirectness_capped_at_two():
    r = rate_indirectness(["adult"], "pediatric", surrogate=True, conditions=["SLE", "RA"])
    assert r.down == 2 and r.reason.count(";") == 2


def test_direct_evidence_not_serious():
    assert rate_indirectness(["pediatric"], "pediatric", conditions=["SLE"]).down == 0


# ---- imprecision -----------------------------------------------------------------------------

def test_wide_ci_rates_down():
    r = rate_imprecision(-10, 2, total=500, ois=400, ois_unit="patients", width_threshold=5)
    assert r.down == 1 and "CI width 12 > 5" in r.reason


def test_below_optimal_information_size_rates_down():
    r = rate_imprecision(-3, -2, total=30, ois=400, ois_unit="patients", width_threshold=5)
    assert r.down == 1 and "30 patients < optimal information size 400" in r.reason


def test_wide_and_small_rates_down_twice():
    assert rate_imprecision(0.01, 0.8, total=5, ois=300, ois_unit="events", width_threshold=0.2).down == 2


def test_comparative_ci_including_the_null_rates_down():
    r = rate_imprecision(0.05, 7.4, total=400, ois=300, ois_unit="events", null=1.0)
    assert r.down == 1 and "includes no effect" in r.reason


def test_ratio_width_is_judged_in_log_units():
    # 0.5 to 2: log width 1.386 > 1.0; raw width would be 1.5
    r = rate_imprecision(0.5, 2.0, total=1000, ois=300, ois_unit="events", width_threshold=1.0, log_scale=True)
    assert r.down == 1 and "log units" in r.reason


def test_precise_and_large_not_serious():
    r = rate_imprecision(-3, -2, total=500, ois=400, ois_unit="patients", width_threshold=5)
    assert r.down == 0


# ---- publication bias ------------------------------------------------------------------------

def test_publication_bias_not_assessable_below_ten_studies():
    r = rate_publication_bias(3)
    assert not r.assessable and r.down == 0 and "k = 3 < 10" in r.text


def test_small_study_test_rates_down_when_significant():
    assert rate_publication_bias(12, 0.03).down == 1
    assert rate_publication_bias(12, 0.40).down == 0


# ---- final level and statements ----------------------------------------------------------------

def test_final_level_floors_at_very_low():
    assert final_level("high", [1, 0, 0, 1, 0]) == "low"
    assert final_level("low", [2, 1, 1, 2, 0]) == "very low"
    assert final_level("high", [0, 0, 0, 0, 0]) == "high"


def test_statements_use_grade_standard_wording():
    i, o, p = "MSC therapy", "disease activity", "children"
    assert statement("very low", i, o, p, True, -2, 0, (-3, -1)) == \
        "The evidence is very uncertain about the effect of MSC therapy on disease activity in children."
    assert statement("low", i, o, p, True, -2, 0, (-3, -1)) == "MSC therapy may reduce disease activity in children."
    assert statement("moderate", i, o, p, True, 2, 0, (1, 3)) == \
        "MSC therapy likely increases disease activity in children."
    assert statement("high", i, o, p, True, -2, 0, (-3, -1)) == "MSC therapy reduces disease activity in children."
    assert statement("low", i, o, p, True, 0.6, 1, (0.05, 7.4)) == \
        "MSC therapy may result in little to no difference in disease activity in children."
    assert "not an effect" in statement("low", i, o, p, False, 0.1)


# ---- the table and a reviewer's overrides ----------------------------------------------------------

def _evidence(**kw) -> pd.DataFrame:
    row = dict(outcome="deaths", population="adult", population_label="adults", target="pediatric", k=3,
               designs="single_arm_trial;rct", comparative=False, null=NAN, log_scale=False, estimate=0.12,
               ci_lb=0.05, ci_ub=0.28, pi_lb=0.04, pi_ub=0.35, i2=10.0, study_estimates="0.08;0.15;0.07",
               bias_judgements="high;high;some concerns", bias_weights="70;22;8", populations="adult",
               conditions="SLE", surrogate=False, benefit=False, total=17, ois_unit="events",
               ci_width_threshold=0.1, small_study_p=NAN, intervention="MSC therapy")
    row.update(kw)
    return pd.DataFrame([row])


def test_grade_table_rates_each_domain_and_the_final_level():
    out = grade_table(_evidence()).iloc[0]
    assert out["start"].startswith("low")
    assert out["risk_of_bias"].startswith("serious (-1)")
    assert out["indirectness"].startswith("serious (-1): adult evidence")
    assert out["imprecision"].startswith("very serious (-2)")
    assert out["publication_bias"].startswith("not assessable")
    assert out["certainty"] == "very low"
    assert out["statement"].startswith("The evidence is very uncertain about the effect of MSC therapy on deaths")
    assert out["overrides"] == ""


def test_no_studies_gives_no_evidence():
    out = grade_table(_evidence(k=0)).iloc[0]
    assert out["certainty"] == "no evidence" and out["risk_of_bias"] == ""


def test_override_replaces_a_domain_and_is_shown(tmp_path):
    path = tmp_path / "overrides.yaml"
    path.write_text("- {outcome: deaths, population: adult, domain: imprecision, rating: 0, "
                    "reason: deaths are counted fully, reviewer: AB}\n", encoding="utf-8")
    out = grade_table(_evidence(), overrides=load_overrides(path)).iloc[0]
    assert out["imprecision"] == "not serious: reviewer override: deaths are counted fully (AB)"
    assert "imprecision: deaths are counted fully (AB)" in out["overrides"]
    assert out["certainty"] == "very low"  # low - 1 (bias) - 1 (indirectness)


def test_override_of_the_final_level_may_rate_up(tmp_path):
    path = tmp_path / "overrides.yaml"
    path.write_text("- {outcome: deaths, population: adult, domain: certainty, rating: low, reason: large effect}\n")
    out = grade_table(_evidence(), overrides=load_overrides(path)).iloc[0]
    assert out["certainty"] == "low" and out["statement"].startswith("In adults given MSC therapy")


@pytest.mark.parametrize("text, message", [
    ("- {outcome: deaths, population: adult, domain: mood, rating: 0, reason: x}\n", "domain: 'mood'"),
    ("- {outcome: deaths, population: adult, domain: imprecision, rating: -3, reason: x}\n", "rating: '-3'"),
    ("- {outcome: deaths, population: adult, domain: certainty, rating: great, reason: x}\n", "rating: 'great'"),
    ("- {outcome: deaths, population: adult, domain: imprecision, rating: 0}\n", "'reason' is required"),
    ("- {outcome: deaths, population: adult, domain: imprecision, rating: 0, reason: x, colour: red}\n",
     "unknown key"),
    ("{outcome: deaths}\n", "expected a list"),
])
def test_bad_override_file_names_entry_and_problem(tmp_path, text, message):
    path = tmp_path / "overrides.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GradeError, match="entry 1|expected a list") as err:
        load_overrides(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_override_matching_no_row_is_an_error(tmp_path):
    path = tmp_path / "overrides.yaml"
    path.write_text("- {outcome: remission, population: adult, domain: imprecision, rating: 0, reason: x}\n")
    with pytest.raises(GradeError, match="no summary-of-findings row for outcome 'remission'"):
        grade_table(_evidence(), overrides=load_overrides(path))


def test_absent_or_empty_override_file_means_none(tmp_path):
    assert load_overrides(tmp_path / "missing.yaml") == []
    (tmp_path / "empty.yaml").write_text("[]\n")
    assert load_overrides(tmp_path / "empty.yaml") == []
    assert load_overrides(None) == []
