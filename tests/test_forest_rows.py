"""What the forest plot prints per study: citation labels, the study's own data, exact proportions."""

import numpy as np
import pandas as pd
import pytest

from evsynth.report.forest_rows import axis_label, forest_rows, study_label

METAS = {"wong2021": {"citation": "Wong SC, Medrano LC. Uncharted waters. Pediatric Rheumatology 2021;19."},
         "wang2013b": {"citation": "Wang L, Wang L, Cong X. Stem Cells Dev 2013."},
         "he2020": {"citation": "He X, Yang Y. Arthritis Research 2020."}}


def test_labels_come_from_citations_not_ids():
    assert study_label("wong2021", METAS["wong2021"]) == "Wong 2021"
    assert study_label("wang2013b", METAS["wang2013b"]) == "Wang 2013b"
    assert study_label("x", {}) == "x"  # nothing to build a label from: the id, not a guess


def test_zero_of_three_is_shown_as_observed_with_exact_interval():
    studies = pd.DataFrame({"study": ["wong2021"], "group": ["all"], "events1": [0.0], "n": [3.0],
                            "yi": [np.log(0.5 / 3.5)], "ci_lb": [-5.0], "ci_ub": [1.0], "weight": [np.nan],
                            "prop": [0.0], "prop_ci_lb": [0.0], "prop_ci_ub": [0.7076], "timepoint": [""],
                            "imputed": [False]})
    main = {"estimate": -5.5, "estimate_bt": 0.004, "ci_lb_bt": 0.0001, "ci_ub_bt": 0.2, "pi_lb_bt": 0.0,
            "pi_ub_bt": 0.6, "model": "binomial-normal GLMM"}
    rows, pooled, transform, null = forest_rows(studies, main, "PLO", METAS, {"wong2021": "high (JBI)"})
    r = rows.iloc[0]
    assert r["label"].startswith("Wong 2021: 0/3 · time not stated; RoB high (JBI)")
    assert (r["yi"], r["ci_lb"], r["ci_ub"]) == (0.0, 0.0, 0.7076)  # not the corrected 0.125
    assert transform is None and null is None
    assert pooled["estimate"] == 0.004 and "GLMM" in pooled["method"]


def test_combined_arms_and_means_are_named():
    studies = pd.DataFrame({"study": ["he2020"], "group": ["msc+msc_ifn"], "mean1": [-1.78], "sd1": [1.0731],
                            "n": [60.0], "yi": [-1.78], "ci_lb": [-2.05], "ci_ub": [-1.51], "weight": [93.5],
                            "timepoint": ["3 months"], "imputed": [False]})
    rows, _, transform, null = forest_rows(studies, {"estimate": -1.77}, "MC", METAS)
    assert rows.iloc[0]["label"] == "He 2020 (2 arms): -1.78 (SD 1.07) · 3 months"
    assert transform is None and null == 0.0


def test_comparisons_show_both_arms():
    studies = pd.DataFrame({"study": ["wong2021"], "group": ["msc vs placebo"], "events1": [9.0], "n1": [12.0],
                            "events2": [5.0], "n2": [6.0], "n": [18.0], "yi": [-0.51], "ci_lb": [-3.0],
                            "ci_ub": [2.0], "timepoint": ["6 months"], "imputed": [False]})
    rows, _, transform, null = forest_rows(studies, {}, "OR", METAS)
    assert rows.iloc[0]["label"].startswith("Wong 2021: 9/12 vs 5/6 · 6 months")
    assert transform == "exp" and null == 0.0


@pytest.mark.parametrize(("effect", "direction", "needle"), [
    ("MC", "lower_better", "< 0: lower after MSC"), ("OR", "", "> 1: more patients"), ("PLO", "", "exact 95% CI")])
def test_axis_says_scale_unit_and_direction(effect, direction, needle):
    assert needle in axis_label(effect, "g/24h", direction)
    assert "(g/24h)" in axis_label("MC", "g/24h", "lower_better")
