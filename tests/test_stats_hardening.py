"""Engine hardening (issue 14): extreme variance ratios, tiny variances, degenerate inputs,
argument checks, missing values in leave1out/cumulative, chunked subset fits, GLMM with
single-patient studies. Reference values are closed forms or metafor 3.8.1 (quoted)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import evsynth.stats.batch as batch
from evsynth.stats import (
    cumulative, leave1out, pool_proportions_glmm, ranktest, regtest, rma, rma_many,
)  # fmt: skip


def _k2_traces(v, tau2=0.0):
    """tr(P), tr(PP) for k = 2, intercept only: P = (ab/(a+b)) [[1,-1],[-1,1]]."""
    a, b = 1 / (v[0] + tau2), 1 / (v[1] + tau2)
    h = a * b / (a + b)  # = 1/(1/a + 1/b), no cancellation
    return 2 * h, 4 * h * h


def test_issue_example_dl_tau2_se():
    # issue 14: evsynth gave 10.462; metafor 3.8.1 and the exact value: 3.4504125
    y, v = [6.17570059582, 3.96671435452], [4.3056598174, 1e-09]
    for method in ("DL", "REML", "HE"):
        r = rma(y, v, method=method)
        assert r.converged
        assert r.tau2_se == pytest.approx(3.4504125431, rel=1e-9), method


@pytest.mark.parametrize("ratio", [1e4, 1e6, 1e7, 1e8, 1e10, 1e12, 1e14])
def test_tau2_se_exact_at_extreme_variance_ratios(ratio):
    rng = np.random.default_rng(int(math.log10(ratio)))
    v = np.array([1.0, 1.0 / ratio])
    y = np.array([0.0, rng.normal(0, 3)])
    dl = rma(y, v, method="DL")
    trP, trPP = _k2_traces(v)
    t = dl.tau2
    exact = math.sqrt(2 * 1 + 4 * t * trP + 2 * t * t * trPP) / trP
    assert dl.tau2_se == pytest.approx(exact, rel=1e-9)
    reml = rma(y, v, method="REML")
    assert reml.converged and np.isfinite(reml.tau2_se)
    if reml.tau2 > 0:
        assert reml.tau2_se == pytest.approx(math.sqrt(2 / _k2_traces(v, reml.tau2)[1]), rel=1e-9)


@pytest.mark.parametrize("v0", [1e-154, 1e-200, 1e-300])
@pytest.mark.parametrize("method", ["DL", "REML", "ML", "PM", "EB", "HS", "HE", "SJ"])
def test_tiny_variance_does_not_overflow(v0, method):
    y, v = [0.1, 0.2, 0.3, 0.5], [v0, 0.1, 0.2, 0.3]
    r = rma(y, v, method=method)
    assert r.converged, r.message
    # the tiny-variance study fixes the mean; Q = sum (y - 0.1)^2 / v over the others
    q = 0.01 / 0.1 + 0.04 / 0.2 + 0.16 / 0.3
    assert r.q == pytest.approx(q, rel=1e-12)
    assert np.isfinite([r.estimate, r.se, r.tau2, r.i2, r.h2]).all()
    if method != "SJ":  # SJ starts from var(y), so its weights stay moderate
        assert r.estimate == pytest.approx(0.1, abs=1e-12)


def test_denormal_variance_is_a_reported_failure():
    r = rma([0.1, 0.2, 0.3], [5e-324, 0.1, 0.2])
    assert not r.converged and "overflows" in r.message and math.isnan(r.estimate)


def test_converged_fits_are_finite_across_extremes():
    rng = np.random.default_rng(14)
    for _ in range(150):
        k = int(rng.integers(2, 8))
        v = 10.0 ** rng.uniform(-300, 3, k)
        y = rng.normal(0, 2, k)
        for method in ("DL", "REML", "PM", "ML", "EB"):
            r = rma(y, v, method=method)
            if r.converged:
                assert np.isfinite([r.estimate, r.se, r.tau2]).all(), (method, y, v)
            else:
                assert r.message


@pytest.mark.parametrize("level", [150, 100, 0, -5, float("nan"), "high"])
def test_level_out_of_range_names_the_argument(level):
    y, v = [0.1, 0.4, 0.3], [0.1, 0.2, 0.1]
    for call in (
        lambda: rma(y, v, level=level),
        lambda: leave1out(y, v, level=level),
        lambda: cumulative(y, v, level=level),
        lambda: rma_many(pd.DataFrame({"g": 1, "yi": y, "vi": v}), "g", level=level),
    ):
        with pytest.raises(ValueError, match="argument 'level'"):
            call()


def test_knha_identical_effects_give_na_qm_like_metafor():
    # metafor 3.8.1: rma(rep(0.3, 5), c(.1,.2,.3,.4,.5), test="knha") -> se 0, zval Inf,
    # pval 0, QM NA, QMp NA
    r = rma([0.3] * 5, [0.1, 0.2, 0.3, 0.4, 0.5], test="knha")
    assert r.estimate == pytest.approx(0.3) and r.se == 0 and r.stat == math.inf
    assert math.isnan(r.qm) and math.isnan(r.qm_pval) and "QM not computable" in r.message


def test_bias_tests_on_degenerate_inputs_do_not_raise():
    y, v = [0.3] * 10, list(np.linspace(0.1, 1.0, 10))
    rk = ranktest(y, v)
    assert not rk.reported and "identical" in rk.reason  # metafor: tau NA, p NA
    rk0 = ranktest(np.linspace(0, 1, 10), [0.0] + list(np.linspace(0.1, 1, 9)))
    assert not rk0.reported and "vi" in rk0.reason  # metafor stops: not enough finite obs.
    eg = regtest(y, v, model="rma", method="FE")
    # metafor 3.8.1: z = 0, p = 1, limit estimate 0.3
    assert eg.reported and eg.stat == pytest.approx(0, abs=1e-12) and eg.estimate == pytest.approx(0.3)
    fe = rma(y, v, method="FE", mods=np.arange(10.0))
    assert fe.converged and fe.r2 == 0.0  # metafor: R2 0


def test_leave1out_and_cumulative_omit_missing_like_rma():
    rng = np.random.default_rng(8)
    y = rng.normal(0, 0.5, 8)
    v = rng.uniform(0.05, 0.3, 8)
    y[2] = np.nan
    v[5] = np.nan
    ok = ~(np.isnan(y) | np.isnan(v))
    l1o = leave1out(y, v, method="REML")
    for i in range(8):
        row = l1o.iloc[i]
        if not ok[i]:
            assert not row.converged and "missing" in row.message and math.isnan(row.estimate)
            continue
        keep = np.arange(8) != i
        ref = rma(y[keep], v[keep], method="REML")
        assert row.estimate == pytest.approx(ref.estimate, rel=1e-12)
        assert row.tau2 == pytest.approx(ref.tau2, rel=1e-10, abs=1e-14)
        assert row.message == ref.message  # "2 studies with NAs omitted"
    cum = cumulative(y, v, method="DL")
    for j in range(1, 9):
        row = cum.loc[j]
        if not ok[j - 1]:
            assert "not added" in row.message and math.isnan(row.estimate)
            continue
        if ok[:j].sum() < 2:
            continue
        ref = rma(y[:j], v[:j], method="DL")
        assert row.estimate == pytest.approx(ref.estimate, rel=1e-12)
        assert row.k == ok[:j].sum()


def test_subset_fits_are_chunked_with_identical_results(monkeypatch):
    rng = np.random.default_rng(4)
    y, v = rng.normal(0, 0.5, 40), rng.uniform(0.05, 0.5, 40)
    whole = leave1out(y, v, method="REML", test="knha")
    whole_c = cumulative(y, v, method="PM")
    sizes = []
    real = batch._fit_batch

    def spy(Y, *args, **kwargs):
        sizes.append(Y.size)
        return real(Y, *args, **kwargs)

    monkeypatch.setattr(batch, "_SUBSET_CELLS", 100)
    monkeypatch.setattr(batch, "_fit_batch", spy)
    chunked = leave1out(y, v, method="REML", test="knha")
    chunked_c = cumulative(y, v, method="PM")
    assert max(sizes) <= 100 and len(sizes) > 10  # O(k) cells per fit, bounded per chunk
    pd.testing.assert_frame_equal(whole, chunked)
    pd.testing.assert_frame_equal(whole_c, chunked_c)


def test_glmm_single_patient_reports():
    # issue 14: x = [0,1,1,0,1], n = 1 each. metafor 3.8.1: b = 0.4054651, se 0.9297573
    # (from lme4's numerically singular Hessian), tau2 2.2e-07, logLik -3.365058
    r = pool_proportions_glmm([0, 1, 1, 0, 1], [1] * 5)
    assert r.converged and "not identifiable" in r.message
    assert r.estimate == pytest.approx(math.log(1.5), rel=1e-12)
    assert r.se == pytest.approx(1 / math.sqrt(5 * 0.6 * 0.4), rel=1e-12)
    assert r.tau2 == 0.0
    assert r.loglik == pytest.approx(-3.365058, abs=1e-6)


def test_glmm_loglik_on_metafor_scale():
    # metafor 3.8.1: rma.glmm(measure="PLO", xi=c(2,5,9,1,7), ni=c(10,12,15,9,20)):
    # logLik -8.781545 (ll of the saturated model - lme4 deviance/2); the marginal
    # (quadrature) log-likelihood at the same estimates is -10.62526
    r = pool_proportions_glmm([2, 5, 9, 1, 7], [10, 12, 15, 9, 20])
    assert r.loglik == pytest.approx(-8.781545, abs=2e-6)
    assert r.loglik_marginal == pytest.approx(-10.62526, abs=2e-5)


def _exact_dl_meta_regression(y, v, x):
    """DL tau^2 and its SE for yi ~ 1 + x in exact rational arithmetic (fractions): P = W - W X (X'WX)^-1 X'W."""
    from fractions import Fraction as F

    k = len(y)
    w = [1 / F(vi) for vi in v]
    X = [[F(1), F(xi)] for xi in x]
    a = sum(w[i] * X[i][0] * X[i][0] for i in range(k))
    b = sum(w[i] * X[i][0] * X[i][1] for i in range(k))
    d = sum(w[i] * X[i][1] * X[i][1] for i in range(k))
    det = a * d - b * b
    inv = [[d / det, -b / det], [-b / det, a / det]]
    H = [[sum(X[i][r] * inv[r][s] * X[j][s] for r in range(2) for s in range(2)) for j in range(k)] for i in range(k)]
    P = [[(w[i] if i == j else 0) - w[i] * H[i][j] * w[j] for j in range(k)] for i in range(k)]
    yy = [F(t) for t in y]
    q = sum(yy[i] * P[i][j] * yy[j] for i in range(k) for j in range(k))
    trP = sum(P[i][i] for i in range(k))
    trPP = sum(P[i][j] * P[j][i] for i in range(k) for j in range(k))
    kp = k - 2
    t = max(F(0), (q - kp) / trP)
    var = (2 * kp + 4 * t * trP + 2 * t * t * trPP) / (trP * trP)
    return float(t), math.sqrt(float(var))


@pytest.mark.parametrize("seed", range(6))
def test_meta_regression_tau2_se_exact_at_extreme_variance_ratios(seed):
    # meta-regression: where the fast traces of P lose their digits, the engine recomputes them from a QR
    # decomposition (linalg._exact_traces); the reference is exact rational arithmetic
    rng = np.random.default_rng(100 + seed)
    k = 6
    v = 10.0 ** rng.uniform(-9, 0, k)
    v[0], v[1] = 1e-9, 1.0  # a ratio of 1e9 in every case
    x = rng.normal(0, 1, k)
    y = 0.3 + 0.5 * x + rng.normal(0, 1.0, k)
    r = rma(y, v, mods=x, method="DL")
    tau2, se = _exact_dl_meta_regression(y, v, x)
    assert r.converged, r.message
    # Q = y'Py of a regression with weights spanning 1e9 is conditioned at ~1e9 eps: observed <= 7e-9
    assert r.tau2 == pytest.approx(tau2, rel=1e-7, abs=1e-15)
    if tau2 > 0:  # observed <= 1.3e-8; without the QR fallback 5.8e-4
        assert r.tau2_se == pytest.approx(se, rel=1e-6)


def test_influence_of_studies_that_agree_exactly_is_undefined_not_an_error():
    # Knapp-Hartung with Q = 0 gives the fit a zero variance; metafor's influence() stops there (chol2inv of a
    # zero matrix). A living review can hold such studies (the scale benchmark's copies do): Cook's distance and
    # the covariance ratio are NaN, the other diagnostics stay, and nothing is flagged on undefined values.
    from evsynth.stats import influence, rma

    same = influence(rma(yi=[0.5, 0.5, 0.5], vi=[0.1, 0.1, 0.1], method="REML", test="knha"))
    assert same["cooks_distance"].isna().all() and same["cov_r"].isna().all()
    assert np.allclose(same["hat"], 1 / 3) and not same["influential"].any()
    differ = influence(rma(yi=[0.5, 0.2, 0.9], vi=[0.1, 0.1, 0.2], method="REML", test="knha"))
    assert np.isfinite(differ["cooks_distance"]).all() and np.isfinite(differ["cov_r"]).all()
