"""Declared analyses: datasets built by the stated rules, pooled numbers equal to the engine and to R metafor."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from corpus_support import shipped_records
from evsynth.pool.analysis import run_analysis
from evsynth.pool.datasets import Corpus, analysis_dataset
from evsynth.pool.multiverse import multiverse
from evsynth.common.config import analysis_spec
from evsynth.stats import rma
from evsynth.harmonize.run import complete_outcomes
from evsynth.select.evidence import select_evidence

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "resources" / "sources"
FIXTURES = ROOT / "tests" / "fixtures"
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def _main_studies(out):
    """The studies of the main analysis (studies.csv also holds the comparisons behind a controlled contrast)."""
    return out["studies"].loc[out["studies"]["role"].eq("main")].reset_index(drop=True)


@pytest.fixture(scope="module")
def corpus():
    records = shipped_records()
    _, selected = select_evidence(records.tables, records.studies)  # as the workflow: selected rows only
    outcomes = complete_outcomes(selected["outcomes"], ROOT / "resources" / "vocabulary", "wan2014", 0.5)
    return Corpus(records.studies, selected, outcomes)


@pytest.mark.parametrize("name", ["sle_sledai_change", "ra_das28_change", "deaths", "serious_adverse_events"])
def test_shipped_analysis_matches_r_metafor(corpus, name):
    """The R fixture was made by metafor from the same yi/vi (tests/r/make_analysis_fixture.R)."""
    inputs = json.loads((FIXTURES / "analysis_inputs.json").read_text())[name]
    reference = json.loads((FIXTURES / "metafor_analyses.json").read_text())[name]
    out = run_analysis(name, analysis_spec(CONFIG, name), corpus)
    data, main = _main_studies(out), out["pooled"].iloc[0]
    assert list(data["label"]) == inputs["labels"]
    np.testing.assert_allclose(data["yi"], inputs["yi"], rtol=1e-12)
    np.testing.assert_allclose(data["vi"], inputs["vi"], rtol=1e-12)
    if inputs["model"] == "glmm":  # rma.glmm with lme4's default tolerances (see tests/test_glmm.py)
        assert main["model"] == "binomial-normal GLMM"
        np.testing.assert_array_equal(data["events1"], inputs["xi"])
        tol = 5e-5 if reference["tau2"] <= 3 else 1e-2
        for field in ("estimate", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "pval"):
            assert main[field] == pytest.approx(reference[field], abs=tol, rel=tol), field
    else:
        for field in ("estimate", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "i2", "q", "pval"):
            assert main[field] == pytest.approx(reference[field], abs=1e-6, rel=1e-6), field
    assert main["k"] == reference["k"]


@pytest.mark.parametrize("name", ["sle_sledai_change", "sle_proteinuria_change", "ra_das28_change"])
def test_pooled_rows_equal_engine_called_directly(corpus, name):
    spec = analysis_spec(CONFIG, name)
    out = run_analysis(name, spec, corpus)
    data = _main_studies(out)
    direct = rma(data["yi"], data["vi"], method=spec["method"], test=spec["test"])
    main = out["pooled"].iloc[0]
    for field in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "i2", "q"):
        assert main[field] == pytest.approx(getattr(direct, field), abs=1e-12), field
    # every sensitivity row names its studies; leave-one-out rows have k - 1 of them
    l1o = out["pooled"].loc[out["pooled"]["variant"].str.startswith("leave out")]
    assert (l1o["k"] == len(data) - 1).all()


def test_anchor_values_of_the_corpus(corpus):
    """Liang 2010 proteinuria is mg/24h in the paper, g/24h after harmonization; Deng 2017 arms in order."""
    o = corpus.outcomes_h
    liang = o.loc[(o["study"] == "liang2010") & (o["measure"] == "proteinuria_24h") & (o["timepoint"] == "baseline")
                  & (o["stat"] == "mean") & ~o["imputed"].astype(bool)]
    assert liang["value"].iloc[0] == 2505.0 and liang["unit"].iloc[0] == "mg/24h"
    assert liang["value_h"].iloc[0] == pytest.approx(2.505) and liang["unit_h"].iloc[0] == "g/24h"
    deng = o.loc[(o["study"] == "deng2017") & (o["measure"] == "proteinuria_24h") & (o["metric"] == "change")
                 & (o["stat"] == "mean") & ~o["imputed"].astype(bool)]
    by_arm = deng.drop_duplicates("group").set_index("group")["value_h"]
    assert by_arm["msc"] == pytest.approx(-2.1) and by_arm["placebo"] == pytest.approx(-1.4)


def _synthetic_corpus():
    studies = {
        "a2020": {"design": "single_arm_trial", "population": "adult", "conditions": ["SLE"], "level": "aggregate"},
        "b2021": {"design": "rct", "population": "adult", "conditions": ["SLE"], "level": "aggregate"},
    }
    iv = pd.DataFrame({"study": ["a2020", "b2021", "b2021", "b2021"], "group": ["all", "msc1", "msc2", "placebo"],
                       "agent": ["msc", "msc", "msc", "placebo"], "cell_source": ["bone_marrow"] * 4,
                       "route": ["iv"] * 4, "donor": ["allogeneic"] * 4, "line": [2, 2, 3, 4], "file": "f"})
    part = pd.DataFrame({"study": ["a2020", "b2021", "b2021", "b2021"], "group": ["all", "msc1", "msc2", "placebo"],
                         "n": [20.0, 10.0, 10.0, 10.0], "line": [2, 2, 3, 4], "subtype": ""})
    rows = []

    def add(study, group, measure, tp, months, metric, stat, value):
        rows.append({"study": study, "group": group, "measure": measure, "timepoint": tp, "time_months": months,
                     "metric": metric, "stat": stat, "value": value, "value_h": value, "unit": "score",
                     "file": f"{study}/outcomes.csv", "line": len(rows) + 2, "imputed": False, "imputation": "",
                     "unit_h": "score", "domain": "disease_activity", "direction": "lower_better", "flag": "",
                     "rule": "", "comparator": "", "source": "t", "quote": "", "note": ""})

    for stat, v in (("mean", 12.0), ("sd", 3.0), ("n", 20.0)):
        add("a2020", "all", "sledai", "baseline", 0.0, "level", stat, v)
    for stat, v in (("mean", 4.0), ("sd", 2.0), ("n", 20.0)):
        add("a2020", "all", "sledai", "12 months", 12.0, "level", stat, v)
    add("a2020", "all", "remission", "12 months", 12.0, "level", "percent", 25.0)
    add("a2020", "all", "survival", "12 months", 12.0, "level", "events", 18.0)
    add("a2020", "all", "survival", "12 months", 12.0, "level", "n", 20.0)
    for g, e in (("msc1", 6.0), ("msc2", 4.0), ("placebo", 2.0)):
        add("b2021", g, "remission", "6 months", 6.0, "level", "events", e)
        add("b2021", g, "remission", "6 months", 6.0, "level", "n", 10.0)
    tables = {"interventions": iv, "participants": part,
              "cointerventions": pd.DataFrame(columns=["study", "therapy", "relation"]),
              "adverse_events": pd.DataFrame(columns=["study", "group", "event", "serious", "n_patients", "n_at_risk"])}
    return Corpus(studies, tables, pd.DataFrame(rows))


def test_change_from_baseline_uses_the_correlation():
    c = _synthetic_corpus()
    spec = {"effect": "MC", "outcome": {"measures": ["sledai"]}, "records": {}, "timepoint": {"max_months": 24}}
    for r in (0.3, 0.7):
        data, _ = analysis_dataset(c, spec, r=r)
        row = data.loc[data["study"] == "a2020"].iloc[0]
        assert row["yi"] == pytest.approx(-8.0)
        assert row["vi"] == pytest.approx((9 + 4 - 2 * r * 3 * 2) / 20)
        assert row["imputed"] and "r=" in row["how"]


def test_percent_becomes_events_and_survival_becomes_deaths():
    c = _synthetic_corpus()
    remission, _ = analysis_dataset(c, {"effect": "PLO", "outcome": {"measures": ["remission"]}, "records": {"designs": ["single_arm_trial"]}})
    row = remission.iloc[0]
    assert row["events1"] == 5 and row["n"] == 20 and row["imputed"]
    deaths, _ = analysis_dataset(c, {"effect": "PLO", "outcome": {"measures": ["death"]}, "records": {}})
    row = deaths.loc[deaths["study"] == "a2020"].iloc[0]
    assert row["events1"] == 2 and "n - survivors" in row["how"]
    assert row["yi"] == pytest.approx(np.log(2 / 18))


def test_two_msc_arms_are_combined_against_one_placebo():
    c = _synthetic_corpus()
    data, excluded = analysis_dataset(c, {"effect": "OR", "outcome": {"measures": ["remission"]}, "records": {}})
    row = data.iloc[0]
    assert row["study"] == "b2021" and row["events1"] == 10 and row["n1"] == 20 and row["events2"] == 2
    assert row["yi"] == pytest.approx(np.log((10 / 10) / (2 / 8)))
    assert "a2020" in set(excluded["study"])  # single-arm study: no comparator, excluded with a reason


def test_multiverse_rows_equal_single_fits(corpus):
    names = ["sle_sledai_change", "deaths"]
    specs = {n: analysis_spec(CONFIG, n) for n in names}
    grid = {"analyses": names, "estimators": ["DL", "REML"], "tests": ["z", "knha"], "correlations": [0.3, 0.7],
            "imputation": ["wan2014"], "inclusion": ["all", "exclude_imputed"]}
    table = multiverse(corpus, specs, grid)
    assert len(table) == 2 * 2 * (2 * 2 + 1 * 2)  # sledai varies r, deaths does not
    pick = table.loc[(table["analysis"] == "sle_sledai_change") & (table["method"] == "DL") & (table["test"] == "knha")
                     & (table["correlation"] == 0.7) & (table["inclusion"] == "all")].iloc[0]
    data, _ = analysis_dataset(corpus, specs["sle_sledai_change"], r=0.7)
    direct = rma(data["yi"], data["vi"], method="DL", test="knha")
    assert pick["estimate"] == pytest.approx(direct.estimate, abs=1e-10)
    assert pick["ci_ub"] == pytest.approx(direct.ci_ub, abs=1e-10)


def test_pediatric_vs_adult_subgroup_test_keeps_a_single_study_subgroup(corpus):
    """SAE: wong2021's 0/3 is the pediatric subgroup on its own; the test for subgroup differences keeps it
    (normal-normal logit model, since the GLMM has no finite estimate for one zero-event study)."""
    out = run_analysis("serious_adverse_events", analysis_spec(CONFIG, "serious_adverse_events"), corpus)
    p = out["pooled"].loc[out["pooled"]["variant"] == "main"].set_index("subgroup")
    child = p.loc["population=pediatric"]
    assert child["k"] == 1 and child["studies"] == "wong2021 (all)"
    assert child["estimate_bt"] == 0 and child["ci_ub_bt"] == pytest.approx(1 - 0.025 ** (1 / 3))
    data = _main_studies(out)
    adult = data.loc[data["population"] == "adult"]
    normal = rma(adult["yi"], adult["vi"], method="REML", test="knha")
    kid = data.loc[data["population"] == "pediatric"].iloc[0]
    fe = rma([normal.estimate, kid["yi"]], [normal.se ** 2, kid["vi"]], method="FE")
    test = p.loc["population: test"]
    assert test["q"] == pytest.approx(fe.q) and test["pval"] == pytest.approx(fe.q_pval)
    assert "normal-normal logit" in test["message"]


def test_remission_pools_one_definition_and_shows_the_others(corpus):
    out = run_analysis("sle_remission", analysis_spec(CONFIG, "sle_remission"), corpus)
    p = out["pooled"].loc[(out["pooled"]["variant"] == "main") & (out["pooled"]["measure"] == "PLO")].set_index("subgroup")
    assert p.loc["all", "definitions"] == "remission: deng2017" and p.loc["all", "estimate_bt"] == pytest.approx(0.75)
    assert p.loc["definition=major_clinical_response", "studies"] == "wang2014 (all)"
    assert "complete_remission: deng2017, wang2013a" == p.loc["definition=complete_remission", "definitions"]


def test_done_when_of_issue_13(corpus):
    """SAE and deaths use the GLMM; he2020 is one study in DAS28; deng2017's randomized contrast is pooled."""
    runs = {n: run_analysis(n, analysis_spec(CONFIG, n), corpus)
            for n in ("serious_adverse_events", "deaths", "ra_das28_change", "sle_sledai_change", "sle_proteinuria_change")}
    for n in ("serious_adverse_events", "deaths"):
        assert runs[n]["pooled"].iloc[0]["model"] == "binomial-normal GLMM"
    sae = _main_studies(runs["serious_adverse_events"]).set_index("study")
    assert (sae.loc["wong2021", "events1"], sae.loc["wong2021", "n"], sae.loc["wong2021", "prop"]) == (0, 3, 0)
    das = _main_studies(runs["ra_das28_change"])
    assert list(das["label"]) == ["he2020 (msc+msc_ifn)", "park2018 (all)"]
    for n, diff in (("sle_sledai_change", -8 - -5), ("sle_proteinuria_change", -2.1 - -1.4)):
        p = runs[n]["pooled"]
        row = p.loc[p["variant"].eq("main") & p["subgroup"].eq("all") & p["measure"].eq("MD")].iloc[0]
        assert row["message"].startswith("controlled contrast") and row["studies"] == "deng2017 (msc vs placebo)"
        assert row["estimate"] == pytest.approx(diff)
