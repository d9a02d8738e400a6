"""Summary statistics against methods-reference.md section 4 reference values and hand computations."""

import numpy as np
import pandas as pd
import pytest

from evsynth.harmonize.imputation import (
    change_sd, impute_summary, load_thresholds, mean_sd_from_quantiles, responders, sd_from_ci, sd_from_se,
)

# metafor conv.fivenum docs, n = 20, printed to 6 decimals -> atol 5e-7
REF = [
    (dict(min=2, median=6, max=14), "luo2018", 6.594468, 3.211576),
    (dict(q1=4, median=6, q3=10), "luo2018", 6.719500, 4.787076),
    (dict(min=2, q1=4, median=6, q3=10, max=14), "shi2020", 6.938841, 3.679435),
]


@pytest.mark.parametrize("inputs, method, mean, sd", REF)
def test_reference_values(inputs, method, mean, sd):
    m, s, _ = mean_sd_from_quantiles(20, method=method, **inputs)
    assert float(m) == pytest.approx(mean, abs=5e-7)
    assert float(s) == pytest.approx(sd, abs=5e-7)


def test_wan_means_by_hand():
    m, _, _ = mean_sd_from_quantiles(20, min=2, median=6, max=14, method="wan2014")
    assert float(m) == pytest.approx((2 + 12 + 14) / 4 + (2 - 12 + 14) / 80)  # 7.05
    m, s, _ = mean_sd_from_quantiles(20, q1=4, median=6, q3=10, method="wan2014")
    assert float(m) == pytest.approx(20 / 3)
    assert float(s) == pytest.approx(4.787076, abs=5e-7)  # the Wan SD of case 2
    m, _, _ = mean_sd_from_quantiles(20, min=2, q1=4, median=6, q3=10, max=14, method="wan2014")
    assert float(m) == pytest.approx(7.0)


def test_vectorized_and_scenarios():
    nan = np.nan
    m, s, sc = mean_sd_from_quantiles(
        np.array([20, 20, 20, 3, 20]), min=[2, nan, 2, 2, nan], q1=[nan, 4, 4, nan, nan],
        median=[6, 6, 6, 6, 6], q3=[nan, 10, 10, nan, nan], max=[14, nan, 14, 14, nan], method="luo2018",
    )
    assert list(sc) == ["S1", "S2", "S3", "", ""]
    assert m[0] == pytest.approx(6.594468, abs=5e-7) and m[1] == pytest.approx(6.7195, abs=5e-7)
    assert np.isnan(m[3]) and np.isnan(s[4])  # n < 5; no spread


def test_sd_from_se_ci_and_change():
    assert float(sd_from_se(2.0, 25)) == pytest.approx(10.0)
    # z-based CI: width 2*1.959964*SD/sqrt(n)
    assert float(sd_from_ci(10 - 1.959964 * 2, 10 + 1.959964 * 2, 100, dist="z")) == pytest.approx(20.0, rel=1e-6)
    from scipy import stats
    q = stats.t.ppf(0.975, 11)
    assert float(sd_from_ci(0, 2 * q, 12)) == pytest.approx(np.sqrt(12))
    assert float(change_sd(3.3, 2.8, 0.5)) == pytest.approx(np.sqrt(3.3**2 + 2.8**2 - 3.3 * 2.8))
    assert float(change_sd(3, 4, 0)) == pytest.approx(5.0)


def _h(rows):
    df = pd.DataFrame(rows)
    for c, d in dict(file="f.csv", domain="d", direction="lower_better", unit_h="score", time_months=np.nan).items():
        if c not in df:
            df[c] = d
    df["value"] = df["value_h"]
    df["rule"] = ""
    return df


def test_impute_summary_flags_every_imputed_row():
    rows = [
        dict(study="s", group="msc", measure="jadas_71", timepoint="8 weeks", metric="level", stat=st, value_h=v, line=i)
        for i, (st, v) in enumerate([("median", 6), ("q1", 4), ("q3", 10), ("n", 20)], start=2)
    ]
    rows += [
        dict(study="s", group="msc", measure="sledai_2k", timepoint=tp, metric="level", stat=st, value_h=v, line=10 + i)
        for i, (tp, st, v) in enumerate([("baseline", "mean", 12.2), ("baseline", "sd", 3.3), ("baseline", "n", 12),
                                         ("12 months", "mean", 3.2), ("12 months", "sd", 2.8), ("12 months", "n", 12)])
    ]
    out = impute_summary(_h(rows), method="luo2018", r=0.5)
    imp = out[out["imputed"]]
    j = imp[imp["measure"] == "jadas_71"].set_index("stat")["value_h"]
    assert j["mean"] == pytest.approx(6.7195, abs=5e-7) and j["sd"] == pytest.approx(4.787076, abs=5e-7)
    assert (imp["imputation"] != "").all()
    c = imp[(imp["measure"] == "sledai_2k") & (imp["metric"] == "change")].set_index("stat")["value_h"]
    assert c["mean"] == pytest.approx(-9.0)
    assert c["sd"] == pytest.approx(np.sqrt(3.3**2 + 2.8**2 - 3.3 * 2.8))
    assert c["n"] == 12
    assert (~out.loc[: len(rows) - 1, "imputed"]).all()
    assert imp["line"].astype(str).str.contains(";").all()


def test_responders_sledai_threshold_from_vocabulary():
    th = load_thresholds("resources/vocabulary/responders.yaml")
    assert th["sledai_2k"][0]["quote"] == "Flare = increase >3; improvement = decrease >3."
    rows = [
        dict(study="w", group="P1", measure="sledai_2k", timepoint="baseline", metric="level", stat="value", value_h=6, line=2),
        dict(study="w", group="P1", measure="sledai_2k", timepoint="1 months", metric="level", stat="value", value_h=0, line=3),
        dict(study="w", group="P2", measure="sledai_2k", timepoint="baseline", metric="level", stat="value", value_h=4, line=4),
        dict(study="w", group="P2", measure="sledai_2k", timepoint="1 months", metric="level", stat="value", value_h=1, line=5),
    ]
    r = responders(_h(rows), th)
    imp = r[r["threshold"] == "improvement"].set_index("group")
    assert bool(imp.loc["P1", "met"]) and not bool(imp.loc["P2", "met"])  # -6 meets, -3 does not (> 3 strict)
    assert imp.loc["P1", "lines"] == "2;3"
