"""The declared pooling rules (config/README.md), each on small synthetic records.

GLMM for single proportions, one row per study however many MSC arms, small individual-level series
described not pooled, outcome definitions never silently mixed, the randomized contrast beside the
single-arm change, small-study methods only where k >= 10.
"""

import math

import numpy as np
import pandas as pd
import pytest

from evsynth.describe.summaries import clopper_pearson
from evsynth.pool.analysis import run_analysis
from evsynth.pool.datasets import Corpus, analysis_dataset
from evsynth.stats.glmm import pool_proportions_glmm
from evsynth.stats import rma

SPEC = {"method": "REML", "test": "knha", "level": 95, "records": {}, "timepoint": {"max_months": 24},
        "sensitivity": [], "subgroups": []}


class Builder:
    """Synthetic study records: studies, arms, outcome rows and adverse events."""

    def __init__(self):
        self.studies, self.iv, self.part, self.rows, self.ae = {}, [], [], [], []

    def study(self, sid, design="single_arm_trial", population="adult", level="aggregate", arms=(("all", 10),)):
        self.studies[sid] = {"design": design, "population": population, "conditions": ["SLE"], "level": level,
                             "citation": f"{sid.capitalize()} et al."}
        for group, n in arms:
            agent = "placebo" if group == "placebo" else "msc"
            self.iv.append({"study": sid, "group": group, "agent": agent, "cell_source": "bone_marrow",
                            "route": "iv", "donor": "allogeneic", "line": len(self.iv) + 2, "file": "f"})
            self.part.append({"study": sid, "group": group, "n": float(n), "line": len(self.part) + 2, "subtype": ""})
        return self

    def value(self, sid, group, measure, stat, value, metric="change", tp="6 months", months=6.0):
        self.rows.append({"study": sid, "group": group, "measure": measure, "timepoint": tp, "time_months": months,
                          "metric": metric, "stat": stat, "value": value, "value_h": value, "unit": "score",
                          "file": f"{sid}/outcomes.csv", "line": len(self.rows) + 2, "imputed": False,
                          "imputation": "", "unit_h": "score", "domain": "", "direction": "", "flag": "", "rule": "",
                          "comparator": "", "source": "t", "quote": "", "note": ""})
        return self

    def change(self, sid, group, mean, sd, n, measure="sledai"):
        for stat, v in (("mean", mean), ("sd", sd), ("n", n)):
            self.value(sid, group, measure, stat, v)
        return self

    def events(self, sid, group, events, n, measure="remission"):
        self.value(sid, group, measure, "events", events, metric="level")
        return self.value(sid, group, measure, "n", n, metric="level")

    def patient(self, sid, pid, before, after, measure="sledai"):
        self.value(sid, pid, measure, "value", before, metric="level", tp="baseline", months=0.0)
        return self.value(sid, pid, measure, "value", after, metric="level")

    def serious(self, sid, group, events, at_risk):
        self.ae.append({"study": sid, "group": group, "event": "serious adverse event", "serious": "yes",
                        "n_patients": float(events), "n_at_risk": float(at_risk), "timepoint": "", "line": 2,
                        "file": "f"})
        return self

    def corpus(self):
        tables = {"interventions": pd.DataFrame(self.iv), "participants": pd.DataFrame(self.part),
                  "cointerventions": pd.DataFrame(columns=["study", "therapy", "relation"]),
                  "adverse_events": pd.DataFrame(self.ae, columns=["study", "group", "event", "serious", "n_patients",
                                                                   "n_at_risk", "timepoint", "line", "file"])}
        return Corpus(self.studies, tables, pd.DataFrame(self.rows))


def _spec(**kw):
    return {**SPEC, **kw}


# -- single proportions: the binomial-normal GLMM by default ---------------------------------------------------


def _proportions():
    b = Builder()
    for sid, e, n in (("a2020", 0, 3), ("b2020", 1, 12), ("c2021", 0, 40), ("d2022", 4, 25)):
        b.study(sid, arms=(("all", n),)).events(sid, "all", e, n)
    return b.corpus()


def test_zero_event_proportions_pool_with_the_glmm_and_the_normal_model_is_a_variant():
    spec = _spec(effect="PLO", outcome={"measures": ["remission"]}, sensitivity=["proportion_model"])
    out = run_analysis("p", spec, _proportions())
    main = out["pooled"].iloc[0]
    direct = pool_proportions_glmm([0, 1, 0, 4], [3, 12, 40, 25])
    assert main["model"] == "binomial-normal GLMM" and main["method"] == "ML" and main["test"] == "z"
    assert main["estimate"] == pytest.approx(direct.estimate, rel=1e-10)
    assert main["estimate_bt"] == pytest.approx(direct.prop, rel=1e-10)
    assert main["ci_ub_bt"] == pytest.approx(direct.prop_ci_ub, rel=1e-10)
    normal = out["pooled"].loc[out["pooled"]["variant"].str.startswith("normal-normal logit model")].iloc[0]
    data = out["studies"]
    assert normal["estimate"] == pytest.approx(rma(data["yi"], data["vi"], method="REML", test="knha").estimate)
    assert normal["model"] == "normal-normal"


def test_normal_model_when_config_says_so():
    spec = _spec(effect="PLO", outcome={"measures": ["remission"]}, proportion_model="normal")
    main = run_analysis("p", spec, _proportions())["pooled"].iloc[0]
    assert main["model"] == "normal-normal" and main["method"] == "REML"


def test_study_rows_show_observed_proportions_with_exact_intervals():
    """The forest plot reads these: 0/3 is 0 [0, 0.708], not the corrected logit's 0.125."""
    data = run_analysis("p", _spec(effect="PLO", outcome={"measures": ["remission"]}), _proportions())["studies"]
    row = data.loc[data["study"] == "a2020"].iloc[0]
    assert row["events1"] == 0 and row["n"] == 3 and row["prop"] == 0
    assert row["prop_ci_lb"] == 0 and row["prop_ci_ub"] == pytest.approx(1 - 0.025 ** (1 / 3), rel=1e-9)
    assert 1 / (1 + math.exp(-row["yi"])) == pytest.approx(0.125)  # the model's corrected value stays in yi


def test_single_study_glmm_row_is_its_exact_proportion():
    b = Builder().study("a2020", arms=(("all", 3),)).events("a2020", "all", 0, 3)
    main = run_analysis("p", _spec(effect="PLO", outcome={"measures": ["remission"]}), b.corpus())["pooled"].iloc[0]
    lo, hi = clopper_pearson([0], [3])
    assert main["k"] == 1 and main["estimate_bt"] == 0 and main["ci_ub_bt"] == pytest.approx(hi[0])
    assert "not pooled" in main["message"] and "Clopper-Pearson" in main["message"]


# -- several MSC arms of one study ------------------------------------------------------------------------------


def _two_arm_study():
    b = Builder().study("he", design="rct", arms=(("msc", 30), ("msc_ifn", 20), ("placebo", 10)))
    b.change("he", "msc", -1.0, 1.0, 30).change("he", "msc_ifn", -2.5, 0.5, 20).change("he", "placebo", -0.5, 1.0, 10)
    b.study("park", arms=(("all", 9),)).change("park", "all", -1.6, 1.6, 9)
    return b.corpus()


def test_two_msc_arms_are_one_study_in_a_single_arm_analysis():
    data, _ = analysis_dataset(_two_arm_study(), _spec(effect="MC", outcome={"measures": ["sledai"]}))
    he = data.loc[data["study"] == "he"]
    assert len(he) == 1 and he["group"].iloc[0] == "msc+msc_ifn" and he["n"].iloc[0] == 50
    # Cochrane Handbook 6.5.2.10: combined mean and SD of two groups
    mean = (30 * -1.0 + 20 * -2.5) / 50
    sd = math.sqrt((29 * 1.0 + 19 * 0.25 + 30 * 20 / 50 * (-1.0 + 2.5) ** 2) / 49)
    assert he["yi"].iloc[0] == pytest.approx(mean) and he["vi"].iloc[0] == pytest.approx(sd**2 / 50)
    assert "6.5.2.10" in he["arms"].iloc[0]


def test_largest_arm_rule():
    data, _ = analysis_dataset(_two_arm_study(), _spec(effect="MC", outcome={"measures": ["sledai"]},
                                                       multiple_arms="largest"))
    he = data.loc[data["study"] == "he"].iloc[0]
    assert he["group"] == "msc" and he["yi"] == -1.0 and "largest" in he["arms"]


def test_two_msc_arms_combined_for_proportions():
    b = Builder().study("x", design="rct", arms=(("msc1", 10), ("msc2", 10)))
    b.events("x", "msc1", 2, 10).events("x", "msc2", 5, 10)
    data, _ = analysis_dataset(b.corpus(), _spec(effect="PLO", outcome={"measures": ["remission"]}))
    assert len(data) == 1 and data["events1"].iloc[0] == 7 and data["n"].iloc[0] == 20


# -- individual-level series below the threshold ---------------------------------------------------------------


def _with_two_patients():
    b = Builder()
    b.study("a", arms=(("all", 12),)).change("a", "all", -8.0, 4.0, 12)
    b.study("b", arms=(("all", 12),)).change("b", "all", -9.0, 3.0, 12)
    b.study("w", design="case_series", level="individual", arms=(("P1", 1), ("P2", 1)))
    b.patient("w", "P1", 6, 0).patient("w", "P2", 9, 1)
    return b.corpus()


def test_series_of_two_patients_is_described_not_pooled():
    spec = _spec(effect="MC", outcome={"measures": ["sledai"]}, sensitivity=["include_small_series"])
    out = run_analysis("s", spec, _with_two_patients())
    assert set(out["studies"]["study"]) == {"a", "b"}
    reason = out["excluded"].set_index("study").loc["w", "reason"]
    assert "2 patients" in reason and "individual_min_patients = 3" in reason
    variant = out["pooled"].loc[out["pooled"]["variant"].str.startswith("include individual-level")].iloc[0]
    assert variant["k"] == 3 and "w (patients)" in variant["studies"]
    # the included series enters as the mean and SD of its patients' changes
    d3, _ = analysis_dataset(_with_two_patients(), spec, min_patients=2)
    w = d3.loc[d3["study"] == "w"].iloc[0]
    assert w["yi"] == pytest.approx(-7.0) and w["vi"] == pytest.approx(np.var([-6, -8], ddof=1) / 2)


def test_threshold_is_configurable():
    spec = _spec(effect="MC", outcome={"measures": ["sledai"]}, individual_min_patients=2)
    data, _ = analysis_dataset(_with_two_patients(), spec)
    assert "w" in set(data["study"])


# -- outcome definitions ---------------------------------------------------------------------------------------


def _definitions():
    b = Builder()
    b.study("a", arms=(("all", 20),)).events("a", "all", 5, 20, measure="remission")
    b.study("b", arms=(("all", 30),)).events("b", "all", 9, 30, measure="remission")
    b.study("c", arms=(("all", 40),)).events("c", "all", 10, 40, measure="complete_remission")
    return b.corpus()


def test_definitions_are_not_mixed_by_default():
    spec = _spec(effect="PLO", outcome={"measures": ["remission", "complete_remission"]})
    out = run_analysis("r", spec, _definitions())
    main = out["pooled"].iloc[0]
    assert main["k"] == 2 and main["definitions"] == "remission: a, b"
    assert "complete_remission, not remission" in out["excluded"].set_index("study").loc["c", "reason"]
    own = out["pooled"].loc[out["pooled"]["subgroup"] == "definition=complete_remission"].iloc[0]
    assert own["k"] == 1 and own["estimate_bt"] == pytest.approx(0.25)


def test_definitions_mixed_only_when_config_says_so_and_the_row_names_them():
    spec = _spec(effect="PLO", outcome={"measures": ["remission", "complete_remission"], "combine_definitions": True})
    main = run_analysis("r", spec, _definitions())["pooled"].iloc[0]
    assert main["k"] == 3 and main["definitions"] == "complete_remission: c; remission: a, b"


# -- controlled contrasts beside single-arm changes ------------------------------------------------------------


def test_randomized_contrast_and_placebo_change_beside_the_single_arm_change():
    out = run_analysis("s", _spec(effect="MC", outcome={"measures": ["sledai"]}), _two_arm_study())
    pooled = out["pooled"]
    main = pooled.loc[pooled["variant"].eq("main") & pooled["subgroup"].eq("all")]
    assert list(main["measure"]) == ["MC", "MD"]  # the single-arm change first, its contrast beside it
    md = main.iloc[1]
    assert md["message"].startswith("controlled contrast: MSC vs placebo")
    assert md["k"] == 1 and md["studies"] == "he (msc+msc_ifn vs placebo)"
    mean = (30 * -1.0 + 20 * -2.5) / 50
    assert md["estimate"] == pytest.approx(mean - -0.5)
    behind = out["studies"].loc[out["studies"]["role"].eq("controlled contrast")].iloc[0]
    assert (behind["n1"], behind["n2"], behind["yi"]) == (50, 10, pytest.approx(mean - -0.5))
    placebo = pooled.set_index("variant").loc["placebo arms of the randomized studies (their own change)"]
    assert placebo["measure"] == "MC" and placebo["estimate"] == pytest.approx(-0.5)
    assert "park" not in md["studies"]  # single-arm studies have no contrast


def test_odds_ratio_contrast_for_proportions():
    b = Builder().study("d", design="rct", arms=(("msc", 12), ("placebo", 6)))
    b.events("d", "msc", 9, 12).events("d", "placebo", 5, 6)
    p = run_analysis("r", _spec(effect="PLO", outcome={"measures": ["remission"]}), b.corpus())["pooled"]
    row = p.loc[p["message"].str.startswith("controlled contrast")].iloc[0]
    assert row["variant"] == "main" and row["measure"] == "OR" and row["estimate_bt"] == pytest.approx((9 / 3) / (5 / 1))


def test_no_contrast_when_switched_off():
    p = run_analysis("s", _spec(effect="MC", outcome={"measures": ["sledai"]}, controlled_contrast=False),
                     _two_arm_study())["pooled"]
    assert not p["message"].str.startswith("controlled contrast").any() and set(p["measure"]) == {"MC"}


# -- small-study effects ---------------------------------------------------------------------------------------


def test_small_study_methods_not_assessable_below_ten_studies():
    p = run_analysis("p", _spec(effect="PLO", outcome={"measures": ["remission"]}), _proportions())["pooled"]
    rows = p.loc[p["variant"].isin(["Egger's regression test", "trim-and-fill"])]
    assert len(rows) == 2 and rows["message"].str.startswith("not assessable: k = 4 < 10").all()
    assert rows["estimate"].isna().all()


def test_small_study_methods_reported_from_ten_studies():
    b = Builder()
    rng = np.random.default_rng(3)
    for i in range(12):
        n = int(rng.integers(8, 60))
        b.study(f"s{i:02d}", arms=(("all", n),)).change(f"s{i:02d}", "all", float(-5 - 8 / math.sqrt(n)), 4.0, n)
    out = run_analysis("m", _spec(effect="MC", outcome={"measures": ["sledai"]}), b.corpus())
    p = out["pooled"].set_index("variant")
    from evsynth.stats import regtest
    from evsynth.stats.trimfill import trimfill

    data = out["studies"]
    eg = regtest(data["yi"], data["vi"], model="rma", method="REML", test="z")
    assert p.loc["Egger's regression test", "pval"] == pytest.approx(eg.pval)
    tf = trimfill(data["yi"], data["vi"], method="REML", test="knha")
    assert p.loc["trim-and-fill", "estimate"] == pytest.approx(tf.fit.estimate)
    assert p.loc["trim-and-fill", "k"] == 12 + tf.k0
