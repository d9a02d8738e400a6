"""What the forest plot prints per study: citation labels, each arm's data, exact proportions, timepoint, risk
of bias, subgroup diamonds and the test between them, favours labels, one number of decimals, a GLMM footer."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evsynth.report.forest import forest_plot
from evsynth.report.forest_rows import axis_label, favours_labels, forest_rows, overall_risk_of_bias, study_label

METAS = {"wong2021": {"citation": "Wong SC, Medrano LC. Uncharted waters. Pediatric Rheumatology 2021;19."},
         "wang2013b": {"citation": "Wang L, Wang L, Cong X. Stem Cells Dev 2013."},
         "deng2017": {"citation": "Deng D, Zhang P. Ann Rheum Dis 2017."},
         "he2020": {"citation": "He X, Yang Y. Arthritis Research 2020."}}


def _sae() -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """The serious-adverse-event analysis as pooling writes it: wong2021 0/3 (pediatric), deng2017 1/12,
    wang2013b 0/172 (adult); the GLMM's pooled rows, a subgroup per population and the test between them."""
    ev, n = np.array([1.0, 0.0, 0.0]), np.array([12.0, 172.0, 3.0])
    from evsynth.describe.summaries import clopper_pearson

    lo, hi = clopper_pearson(ev, n, level=0.95)
    studies = pd.DataFrame({"study": ["deng2017", "wang2013b", "wong2021"], "group": ["msc", "all", "all"],
                            "events1": ev, "n": n, "yi": np.log((ev + 0.5) / (n - ev + 0.5)), "ci_lb": -6.0,
                            "ci_ub": 1.0, "weight": np.nan, "prop": ev / n, "prop_ci_lb": lo, "prop_ci_ub": hi,
                            "timepoint": ["6 months", "post", ""], "imputed": [False, False, False],
                            "population": ["adult", "adult", "pediatric"]})
    main = {"estimate": -5.5, "estimate_bt": 0.004, "ci_lb_bt": 0.00006, "ci_ub_bt": 0.216, "pi_lb_bt": 0.00001,
            "pi_ub_bt": 0.577, "model": "binomial-normal GLMM", "method": "ML", "test": "z", "k": 3, "tau2": 4.19,
            "i2": np.nan, "q": np.nan}
    pooled = pd.DataFrame([
        {**main, "subgroup": "all", "variant": "main"},
        {**main, "subgroup": "population=adult", "variant": "main", "k": 2, "estimate_bt": 0.0043,
         "ci_lb_bt": 0.0001, "ci_ub_bt": 0.25},
        {"subgroup": "population=pediatric", "variant": "main", "k": 1, "model": "single study",
         "estimate_bt": 0.0, "ci_lb_bt": 0.0, "ci_ub_bt": 0.708},
        {"subgroup": "population: test", "variant": "main", "k": 3, "q": 0.588, "pval": 0.443,
         "message": "test for subgroup differences (separate tau^2 per subgroup), df=1; computed on the "
                    "normal-normal logit model (0.5 added to zero cells)"},
    ])
    return studies, main, pooled


BIAS = pd.DataFrame({"study": ["wong2021", "wong2021", "deng2017", "wang2013b", "ijh2013"],
                     "tool": ["jbi_case_series", "murad", "rob2", "robins_i", "none"],
                     "overall": ["some concerns", "high", "some concerns", "serious", "not applicable"]})


def test_labels_come_from_citations_not_ids():
    assert study_label("wong2021", METAS["wong2021"]) == "Wong 2021"
    assert study_label("wang2013b", METAS["wang2013b"]) == "Wang 2013b"
    assert study_label("x", {}) == "x"  # nothing to build a label from: the id, not a guess


def test_worst_overall_judgement_is_the_circle():
    rob = overall_risk_of_bias(BIAS)
    assert rob["wong2021"] == ("high", "some concerns (JBI), high (Murad)")  # the worse of two tools
    assert rob["wang2013b"][0] == "high" and rob["deng2017"][0] == "some_concerns"  # ROBINS-I serious is red
    assert "ijh2013" not in rob  # a review is not appraised: no circle


def test_sae_rows_show_zero_of_three_for_wong2021_with_exact_interval():
    studies, main, pooled = _sae()
    fi = forest_rows(studies, main, "PLO", METAS, overall_risk_of_bias(BIAS), direction="lower_better",
                     pooled_rows=pooled, subgroups=["population"])
    r = fi.rows.set_index("study").loc["wong2021"]
    assert r["label"] == "Wong 2021" and r["arm1"] == "0/3" and r["rob"] == "high"
    assert r["time"] == "not stated"
    assert fi.rows.set_index("study").loc["wang2013b", "time"] == "not stated (after MSC)"
    assert (r["yi"], r["ci_lb"]) == (0.0, 0.0) and r["ci_ub"] == pytest.approx(0.7076, abs=1e-4)  # not 0.125
    assert fi.transform is None and fi.null is None and fi.favours is None  # one group: no side favours
    assert fi.pooled["estimate"] == 0.004 and "GLMM" in fi.pooled["method"] and fi.pooled["glmm"]
    assert list(fi.subgroups["levels"]) == ["adult", "pediatric"]
    assert fi.subgroups["test"].startswith("Test for subgroup differences (population): Q = 0.59, df = 1, p = 0.44")
    assert fi.columns[0] == ("Events/N", "arm1") and ("Time", "time") in fi.columns


def test_sae_plot_prints_counts_three_decimals_subgroups_and_no_na_heterogeneity(tmp_path):
    studies, main, pooled = _sae()
    fi = forest_rows(studies, main, "PLO", METAS, overall_risk_of_bias(BIAS), pooled_rows=pooled,
                     subgroups=["population"])
    (svg,) = forest_plot(fi.rows, fi.pooled, [tmp_path / "sae.svg"], title="SAE", effect_label="Proportion",
                         transform=fi.transform, null_value=fi.null, columns=fi.columns, subgroups=fi.subgroups,
                         favours=fi.favours, decimals=fi.decimals)
    text = svg.read_text()
    assert "0/3" in text and "0.125" not in text and "0.143" not in text  # observed, not continuity-corrected
    assert "0.000 [0.000, 0.708]" in text  # wong2021 observed, exact interval, three decimals
    assert "0.083 [0.002, 0.385]" in text  # deng2017: the same three decimals, not 0.08 beside 0.0021
    assert "0.004 [&lt;0.001, 0.216]" in text  # a pooled lower bound of 0.00006 is not printed as 0
    assert "Subtotal, adult (k = 2)" in text and "one study: not pooled" in text
    assert "Test for subgroup differences (population)" in text
    assert "I² = NA" not in text and "NA%" not in text
    assert "I² and Q are not defined for the GLMM" in text
    assert "×" in text and "RoB" in text  # robvis symbol of the high-risk circle


def test_combined_arms_and_means_are_named():
    studies = pd.DataFrame({"study": ["he2020"], "group": ["msc+msc_ifn"], "mean1": [-1.78], "sd1": [1.0731],
                            "n": [60.0], "yi": [-1.78], "ci_lb": [-2.05], "ci_ub": [-1.51], "weight": [93.5],
                            "timepoint": ["3 months"], "imputed": [False]})
    fi = forest_rows(studies, {"estimate": -1.77}, "MC", METAS, direction="lower_better")
    r = fi.rows.iloc[0]
    assert (r["label"], r["arm1"], r["time"]) == ("He 2020 (2 arms)", "-1.78 (1.07), 60", "3 months")
    assert fi.transform is None and fi.null == 0.0
    assert fi.favours == ("improved after MSC", "worsened after MSC")


def test_comparisons_show_both_arms():
    studies = pd.DataFrame({"study": ["wong2021"], "group": ["msc vs placebo"], "events1": [9.0], "n1": [12.0],
                            "events2": [5.0], "n2": [6.0], "n": [18.0], "yi": [-0.51], "ci_lb": [-3.0],
                            "ci_ub": [2.0], "timepoint": ["6 months"], "imputed": [False]})
    fi = forest_rows(studies, {}, "OR", METAS, direction="higher_better")
    r = fi.rows.iloc[0]
    assert (r["arm1"], r["arm2"]) == ("9/12", "5/6")
    assert [h for h, _ in fi.columns][:2] == ["MSC\nevents/N", "Placebo\nevents/N"]
    assert fi.transform == "exp" and fi.null == 0.0
    assert fi.favours == ("favours placebo", "favours MSC")  # remission: more is better, right of 1


@pytest.mark.parametrize(("effect", "direction", "expected"), [
    ("MD", "lower_better", ("favours MSC", "favours placebo")), ("OR", "lower_better", ("favours MSC", "favours placebo")),
    ("MC", "higher_better", ("worsened after MSC", "improved after MSC")), ("PLO", "lower_better", None),
    ("MD", "none", None)])
def test_favours_follow_the_outcomes_direction(effect, direction, expected):
    assert favours_labels(effect, direction) == expected


@pytest.mark.parametrize(("effect", "direction", "needle"), [
    ("MC", "lower_better", "< 0: lower after MSC"), ("OR", "", "> 1: more patients"), ("PLO", "", "exact 95% CI")])
def test_axis_says_scale_unit_and_direction(effect, direction, needle):
    assert needle in axis_label(effect, "g/24h", direction)
    assert "(g/24h)" in axis_label("MC", "g/24h", "lower_better")


def test_every_place_that_names_an_effect_takes_the_registry_s_words():
    """The forest plot's axis and captions (page and Snakemake report), the specification curve's axis, the funnel's
    axis and the summary of findings name each measure as the registry does (evsynth.common.measures), so they
    cannot drift apart again (they said 'MSC vs comparator' in one place, 'MSC vs placebo' in four)."""
    from evsynth.common.measures import MEASURES, measure
    from evsynth.report.forest_rows import scale_shown
    from evsynth.report.specification_curve import pooled_label

    for code, m in MEASURES.items():
        assert axis_label(code).startswith(m.words[:1].upper() + m.words[1:]), code
        assert scale_shown(code).startswith(m.words), code
        assert pooled_label(code).startswith(f"Pooled {m.label.lower()}"), code
        assert ("placebo" in m.words) == m.paired and "comparator" not in m.words, code
    assert measure("OR").words == "odds ratio, MSC vs placebo"
    assert measure("MD").words == "mean difference, MSC minus placebo"
    assert measure("PFT").words == "proportion of MSC-treated patients" and pooled_label("PLO") == "Pooled proportion"
    caption = (Path(__file__).resolve().parents[1] / "workflow" / "report" / "forest.rst").read_text(encoding="utf-8")
    assert "Scale shown: {{ snakemake.params.scale }}." in caption and "placebo" not in caption
