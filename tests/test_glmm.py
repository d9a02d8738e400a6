"""Tests for evsynth.stats.glmm (binomial-normal GLMM pooling of proportions).

Published values: methods-reference.md section 1.5 (dat.pritz1997 from the
metadat docs; dat.nielweise2007 from metafor's test_analysis_example_stijnen2010.r,
itself checked against Stijnen et al. 2010, Table II), at atol 5e-4.

Fixtures (tests/fixtures/metafor_glmm.json, tests/r/make_escalc_fixtures.R):
51 proportion sets fitted with rma.glmm(measure="PLO") three ways:
``default`` (what metafor users get), ``tight`` (tight optimizer) and
``exact`` (tight optimizer and tight lme4 PIRLS). Tolerances, from what the
comparison shows:

* against ``exact``: estimate and tau2 to 1e-6 relative (observed <= 2e-7),
  SE to 1e-4 relative (observed <= 4e-5; lme4 takes the SE from a
  finite-difference Hessian with step 1e-4) and CI/PI bounds to 2.5e-4
  (observed <= 1.1e-4);
* against ``default``: 5e-5 (relative for values above 1, absolute below) when
  tau2 <= 3, and 1e-2 when tau2 > 3, where lme4's default PIRLS tolerance
  (1e-7) moves its optimum of the very flat likelihood.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from evsynth.stats.glmm import GlmmResult, glmm_loglik, pool_proportions_glmm

FIXTURES = Path(__file__).parent / "fixtures"
ATOL4 = 5e-4

PRITZ_X = [16, 10, 4, 43, 10, 25, 13, 12, 22, 4, 5, 18, 58, 6]
PRITZ_N = [17, 12, 8, 58, 10, 42, 14, 12, 41, 5, 6, 23, 68, 10]
NIEL_AI = [0, 1, 2, 0, 5, 1, 1, 1, 1, 1, 0, 0, 3, 6, 0, 0, 1, 4]
NIEL_N1 = [116, 44, 208, 130, 151, 98, 174, 74, 97, 113, 66, 70, 188, 187, 118, 252, 345, 64]
NIEL_CI = [3, 3, 9, 7, 6, 4, 3, 2, 19, 2, 7, 1, 5, 11, 0, 1, 3, 1]
NIEL_N2 = [117, 35, 195, 136, 157, 139, 177, 39, 103, 122, 64, 58, 175, 180, 105, 262, 362, 69]


def test_pritz1997_glmm_published() -> None:
    r = pool_proportions_glmm(PRITZ_X, PRITZ_N)
    assert r.converged and r.message == "converged" and r.k == 14
    assert r.prop == pytest.approx(0.7984, abs=ATOL4)
    assert r.prop_ci_lb == pytest.approx(0.6924, abs=ATOL4)
    assert r.prop_ci_ub == pytest.approx(0.8746, abs=ATOL4)
    assert r.prop_pi_lb == pytest.approx(0.4426, abs=ATOL4)
    assert r.prop_pi_ub == pytest.approx(0.9518, abs=ATOL4)


@pytest.mark.parametrize(
    ("xi", "ni", "logit", "se", "tau2", "prop", "lb", "ub"),
    [
        (NIEL_CI, NIEL_N2, -3.4964, 0.2570, 0.8124, 0.0294, 0.0180, 0.0478),  # control arm
        (NIEL_AI, NIEL_N1, -4.8121, 0.3555, 0.8265, 0.0081, 0.0040, 0.0161),  # treatment arm, many zeros
    ],
    ids=["control", "treatment"],
)
def test_nielweise2007_glmm_stijnen2010(xi, ni, logit, se, tau2, prop, lb, ub) -> None:
    r = pool_proportions_glmm(xi, ni)
    assert r.converged
    assert r.estimate == pytest.approx(logit, abs=ATOL4)
    assert r.se == pytest.approx(se, abs=ATOL4)
    assert r.tau2 == pytest.approx(tau2, abs=ATOL4)
    assert (r.prop, r.prop_ci_lb, r.prop_ci_ub) == pytest.approx((prop, lb, ub), abs=ATOL4)


def test_result_is_consistent() -> None:
    r = pool_proportions_glmm(PRITZ_X, PRITZ_N, level=90)
    z = stats.norm.ppf(0.95)
    assert r.ci_lb == pytest.approx(r.estimate - z * r.se)
    assert r.pi_ub == pytest.approx(r.estimate + z * np.sqrt(r.se**2 + r.tau2))
    assert r.tau == pytest.approx(np.sqrt(r.tau2))
    assert r.zval == pytest.approx(r.estimate / r.se)
    assert r["estimate"] == r.estimate and r.to_dict()["tau2"] == r.tau2
    assert pool_proportions_glmm(PRITZ_X, PRITZ_N, level=0.90).ci_lb == pytest.approx(r.ci_lb)
    assert isinstance(r, GlmmResult)


def test_loglik_at_zero_tau_is_binomial() -> None:
    x = np.array([3.0, 0.0, 7.0])
    n = np.array([10.0, 12.0, 7.0])
    expected = stats.binom.logpmf(x, n, 1 / (1 + np.exp(0.4))).sum()
    assert glmm_loglik([-0.4, 0.0], x, n) == pytest.approx(expected, rel=1e-12)
    # even in theta, as the model is
    assert glmm_loglik([-0.4, 0.7], x, n) == pytest.approx(glmm_loglik([-0.4, -0.7], x, n), rel=1e-12)


def test_no_heterogeneity_gives_fixed_effect_fit() -> None:
    r = pool_proportions_glmm([10, 10, 10], [50, 50, 50])
    assert r.converged and r.tau2 < 1e-10
    assert r.estimate == pytest.approx(np.log(10 / 40))
    assert r.se == pytest.approx(np.sqrt(1 / (150 * 0.2 * 0.8)), rel=1e-6)


@pytest.mark.parametrize(
    ("xi", "ni", "needle"),
    [
        ([0, 0, 0], [10, 20, 30], "zero events"),
        ([10, 20], [10, 20], "only events"),
        ([3], [10], "at least 2 studies"),
        ([0, 10], [10, 10], "diverge"),
    ],
)
def test_non_estimable_returns_not_converged(xi, ni, needle) -> None:
    r = pool_proportions_glmm(xi, ni)
    assert not r.converged
    assert needle in r.message


def test_missing_studies_are_dropped() -> None:
    r = pool_proportions_glmm(PRITZ_X + [np.nan], PRITZ_N + [20])
    assert r.k == 14
    assert r.estimate == pytest.approx(pool_proportions_glmm(PRITZ_X, PRITZ_N).estimate)


@pytest.mark.parametrize(
    ("xi", "ni", "needle"),
    [
        ([1, -1], [10, 10], "'xi' at index 1"),
        ([1, 11], [10, 10], "'xi' at index 1 has invalid value 11"),
        ([1, 1], [10, 0], "'ni' at index 1"),
        ([1.5, 1], [10, 10], "whole numbers"),
        ([1, 2], [10], "equal length"),
    ],
)
def test_invalid_input_raises(xi, ni, needle) -> None:
    with pytest.raises(ValueError) as err:
        pool_proportions_glmm(xi, ni)
    assert needle in str(err.value)


# ---------------------------------------------------------------------------
# fixtures from R (metafor rma.glmm via lme4::glmer, nAGQ = 7)

FIELDS = ("estimate", "se", "tau2", "ci_lb", "ci_ub", "pi_lb", "pi_ub")


@pytest.fixture(scope="module")
def glmm_fixture() -> dict:
    with open(FIXTURES / "metafor_glmm.json") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def python_fits(glmm_fixture: dict) -> list[GlmmResult]:
    return [pool_proportions_glmm(s["xi"], s["ni"]) for s in glmm_fixture["sets"]]


def _scaled_diff(got: float, want: float) -> float:
    return abs(got - want) / max(1.0, abs(want))


def test_glmm_fixture_provenance(glmm_fixture: dict, python_fits: list[GlmmResult]) -> None:
    assert glmm_fixture["versions"]["lme4"]
    assert len(glmm_fixture["sets"]) >= 50
    ks = [len(np.atleast_1d(s["xi"])) for s in glmm_fixture["sets"]]
    assert min(ks) == 2 and max(ks) >= 18
    assert any(0 in np.atleast_1d(s["xi"]) for s in glmm_fixture["sets"])
    assert all(r.converged for r in python_fits)


def test_glmm_matches_exact_lme4(glmm_fixture: dict, python_fits: list[GlmmResult]) -> None:
    compared = 0
    for s, r in zip(glmm_fixture["sets"], python_fits):
        ref = s["exact"]
        if ref.get("error"):  # lme4's PIRLS cannot reach tolPwrss = 1e-13 for some sets
            continue
        compared += 1
        assert _scaled_diff(r.estimate, ref["estimate"]) < 1e-6
        assert abs(r.tau2 - ref["tau2"]) < 1e-6 * max(1.0, ref["tau2"]) + 1e-8
        assert abs(r.se - ref["se"]) < 1e-4 * ref["se"]
        for f in ("ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            assert _scaled_diff(getattr(r, f), ref[f]) < 2.5e-4, f
    assert compared >= 35


def test_glmm_matches_metafor_defaults(glmm_fixture: dict, python_fits: list[GlmmResult]) -> None:
    worst = {"flat": 0.0, "steep": 0.0}
    for s, r in zip(glmm_fixture["sets"], python_fits):
        ref = s["default"]
        assert not ref.get("error")
        regime = "flat" if ref["tau2"] > 3 else "steep"
        for f in FIELDS:
            worst[regime] = max(worst[regime], _scaled_diff(getattr(r, f), ref[f]))
    assert worst["steep"] < 5e-5
    assert worst["flat"] < 1e-2
