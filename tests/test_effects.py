"""Tests for evsynth.stats.effects against published metafor results and R fixtures.

Published values (4 decimals, checked at atol 5e-4) are those collected in
resources/sources/methods-reference.md sections 1.1, 1.2, 1.4-1.6. The fixture
tests compare every value metafor's escalc and transf functions returned for
random inputs (tests/fixtures/metafor_escalc.json, written by
tests/r/make_escalc_fixtures.R) at 1e-10 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evsynth.stats.effects import (
    MEASURES,
    backtransform,
    cmicalc,
    escalc,
    transf_exp,
    transf_iarcsin,
    transf_ilogit,
    transf_ipft,
    transf_ipft_hm,
    transf_pft,
)

FIXTURES = Path(__file__).parent / "fixtures"
ATOL4 = 5e-4  # values published with 4 decimals

# --- dat.bcg (metadat data-raw/dat.bcg.txt) -------------------------------
TPOS = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
TNEG = [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886]
CPOS = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
CNEG = [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825]

# --- dat.pritz1997 ----------------------------------------------------------
PRITZ_X = [16, 10, 4, 43, 10, 25, 13, 12, 22, 4, 5, 18, 58, 6]
PRITZ_N = [17, 12, 8, 58, 10, 42, 14, 12, 41, 5, 6, 23, 68, 10]

# --- dat.normand1999 --------------------------------------------------------
NORMAND = pd.DataFrame(
    {
        "n1i": [155, 31, 75, 18, 8, 57, 34, 110, 60],
        "m1i": [55, 27, 64, 66, 14, 19, 52, 21, 30],
        "sd1i": [47, 7, 17, 20, 8, 7, 45, 16, 27],
        "n2i": [156, 32, 71, 18, 13, 52, 33, 183, 52],
        "m2i": [75, 29, 119, 137, 18, 18, 41, 31, 23],
        "sd2i": [64, 4, 29, 48, 11, 4, 34, 27, 20],
    }
)


def _fe(yi: np.ndarray, vi: np.ndarray) -> tuple[float, float, float]:
    """Inverse-variance (equal-effects) estimate, its SE and Cochran's Q."""
    w = 1 / vi
    est = float(np.sum(w * yi) / np.sum(w))
    return est, float(np.sqrt(1 / np.sum(w))), float(np.sum(w * (yi - est) ** 2))


# ---------------------------------------------------------------------------
# published reference values


def test_bcg_log_risk_ratios_match_metafor_readme() -> None:
    es = escalc("RR", ai=TPOS, bi=TNEG, ci=CPOS, di=CNEG)
    yi = [-0.8893, -1.5854, -1.3481, -1.4416, -0.2175, -0.7861, -1.6209, 0.0120, -0.4694, -1.3713, -0.3394, 0.4459, -0.0173]
    vi = [0.3256, 0.1946, 0.4154, 0.0200, 0.0512, 0.0069, 0.2230, 0.0040, 0.0564, 0.0730, 0.0124, 0.5325, 0.0714]
    np.testing.assert_allclose(es.yi, yi, atol=ATOL4)
    np.testing.assert_allclose(es.vi, vi, atol=ATOL4)
    assert es.measure == "RR" and len(es) == 13


def test_bcg_fixed_effect_pooling_per_measure() -> None:
    """FE estimates and Q of the bcg RR, OR and RD values (test_misc_metan_vs_rma.uni_with_dat.bcg.r)."""
    rr = escalc("RR", ai=TPOS, bi=TNEG, ci=CPOS, di=CNEG)
    est, se, q = _fe(rr.yi, rr.vi)
    assert est == pytest.approx(-0.4303, abs=ATOL4)
    assert se == pytest.approx(0.0405, abs=ATOL4)
    assert q == pytest.approx(152.2330, abs=ATOL4)
    orr = escalc("OR", ai=TPOS, bi=TNEG, ci=CPOS, di=CNEG)
    est, se, q = _fe(orr.yi, orr.vi)
    assert est == pytest.approx(-0.4361, abs=ATOL4)
    assert est - 1.959964 * se == pytest.approx(-0.5190, abs=ATOL4)
    assert q == pytest.approx(163.1649, abs=ATOL4)
    rd = escalc("RD", ai=TPOS, bi=TNEG, ci=CPOS, di=CNEG)
    est, _, q = _fe(rd.yi, rd.vi)
    assert est == pytest.approx(-0.0009, abs=ATOL4)
    assert q == pytest.approx(276.4737, abs=ATOL4)


def test_bcg_group_size_form_equals_cell_form() -> None:
    n1 = np.add(TPOS, TNEG)
    n2 = np.add(CPOS, CNEG)
    for m in ("RR", "OR", "RD"):
        a = escalc(m, ai=TPOS, bi=TNEG, ci=CPOS, di=CNEG)
        b = escalc(m, ai=TPOS, n1i=n1, ci=CPOS, n2i=n2)
        np.testing.assert_array_equal(a.yi, b.yi)
        np.testing.assert_array_equal(a.vi, b.vi)


def test_pritz_plo_adds_half_only_to_all_event_studies() -> None:
    es = escalc("PLO", xi=PRITZ_X, ni=PRITZ_N)
    # studies 5 and 8 have xi == ni: logit((x + .5) / (n + 1)) = log((x + .5) / .5)
    assert es.yi[4] == pytest.approx(np.log(10.5 / 0.5))
    assert es.yi[7] == pytest.approx(np.log(12.5 / 0.5))
    assert es.vi[4] == pytest.approx(1 / 10.5 + 1 / 0.5)
    # the others are uncorrected
    assert es.yi[0] == pytest.approx(np.log(16 / 1))
    np.testing.assert_allclose(es.yi[[0, 1, 2]], [2.7726, 1.6094, 0.0000], atol=ATOL4)


def test_pritz_pooled_proportions_without_correction() -> None:
    """dat.pritz1997.html: EE with weights=ni and EE on PR with vtype='AV' (both add=0)."""
    es = escalc("PR", xi=PRITZ_X, ni=PRITZ_N, add=0)
    w = np.asarray(PRITZ_N, dtype=float)
    est = np.sum(w * es.yi) / np.sum(w)
    se = np.sqrt(np.sum(w**2 * es.vi)) / np.sum(w)
    assert est == pytest.approx(0.7546, abs=ATOL4)
    assert est == pytest.approx(246 / 326)
    assert se == pytest.approx(0.0224, abs=ATOL4)
    av = escalc("PR", xi=PRITZ_X, ni=PRITZ_N, add=0, vtype="AV")
    est, se, q = _fe(av.yi, av.vi)
    assert est == pytest.approx(0.7546, abs=ATOL4)
    assert se == pytest.approx(0.0238, abs=ATOL4)
    assert q == pytest.approx(37.3750, abs=ATOL4)
    assert est - 1.959964 * se == pytest.approx(0.7079, abs=ATOL4)


def test_pritz_default_pr_is_corrected_like_metafor() -> None:
    es = escalc("PR", xi=PRITZ_X, ni=PRITZ_N)
    assert es.yi[4] == pytest.approx(10.5 / 11)
    assert es.yi[7] == pytest.approx(12.5 / 13)


def test_miller1978_freeman_tukey_and_back_transform() -> None:
    xi, ni = [3, 6, 10, 1], [11, 17, 21, 6]
    es = escalc("PFT", xi=xi, ni=ni)
    np.testing.assert_allclose(2 * es.yi, [1.1391, 1.2888, 1.5253, 0.9515], atol=ATOL4)
    np.testing.assert_allclose(4 * es.vi, [0.0870, 0.0571, 0.0465, 0.1538], atol=ATOL4)
    unweighted = es.yi.mean()
    assert 2 * unweighted == pytest.approx(1.2262, abs=ATOL4)
    assert transf_ipft_hm(unweighted, ni) == pytest.approx(0.3164, abs=ATOL4)
    weighted, _, _ = _fe(es.yi, es.vi)
    assert 2 * weighted == pytest.approx(1.3093, abs=ATOL4)
    assert transf_ipft_hm(weighted, ni) == pytest.approx(0.3595, abs=ATOL4)
    assert backtransform("PFT", weighted, ni=ni) == pytest.approx(0.3595, abs=ATOL4)


def test_miller1978_second_example_with_zero_count() -> None:
    xi, ni = [0, 4, 9, 16, 20], [10, 10, 15, 20, 20]
    es = escalc("PFT", xi=xi, ni=ni, add=0)
    est, se, _ = _fe(es.yi, es.vi)
    ci = np.array([est - 1.959964 * se, est + 1.959964 * se])
    assert transf_ipft_hm(est, ni) == pytest.approx(0.6886, abs=ATOL4)
    np.testing.assert_allclose(transf_ipft_hm(ci, ni), [0.5734, 0.7943], atol=ATOL4)
    # PFT adds nothing by default, so add=0 is the default
    np.testing.assert_array_equal(escalc("PFT", xi=xi, ni=ni).yi, es.yi)


def test_normand1999_md_variances_unpooled_and_pooled() -> None:
    md = escalc("MD", data=NORMAND, m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i", n2i="n2i")
    vi = [40.5080, 2.0806, 15.6984, 150.2222, 17.3077, 1.1673, 94.5891, 6.3109, 19.8423]
    np.testing.assert_allclose(md.vi, vi, atol=ATOL4)
    np.testing.assert_array_equal(md.yi, NORMAND.m1i - NORMAND.m2i)
    ho = escalc("MD", data=NORMAND, vtype="HO", **{c: c for c in NORMAND.columns})
    np.testing.assert_allclose(ho.vi[:3], [40.5863, 2.0468, 15.2809], atol=ATOL4)
    frame = md.to_frame()
    assert list(frame.columns) == ["yi", "vi"]
    assert frame.index.equals(NORMAND.index)


def test_smd_uses_exact_gamma_correction() -> None:
    d = NORMAND
    es = escalc("SMD", data=d, **{c: c for c in d.columns})
    n1, n2 = d.n1i.to_numpy(float), d.n2i.to_numpy(float)
    m = n1 + n2 - 2
    sp = np.sqrt(((n1 - 1) * d.sd1i**2 + (n2 - 1) * d.sd2i**2) / m).to_numpy()
    dval = (d.m1i - d.m2i).to_numpy() / sp
    from scipy.special import gamma

    j_exact = gamma(m / 2) / (np.sqrt(m / 2) * gamma((m - 1) / 2))
    np.testing.assert_allclose(es.yi, j_exact * dval, rtol=1e-12)
    np.testing.assert_allclose(es.vi, 1 / n1 + 1 / n2 + es.yi**2 / (2 * (n1 + n2)), rtol=1e-12)
    # the approximation 1 - 3/(4m - 1) is close but not what metafor uses
    assert not np.allclose(es.yi, (1 - 3 / (4 * m - 1)) * dval, rtol=1e-9, atol=0)
    np.testing.assert_allclose(es.yi, (1 - 3 / (4 * m - 1)) * dval, rtol=1e-3)


def test_cmicalc_large_m_and_undefined_small_m() -> None:
    c = cmicalc([0, 1, 2, 10, 1e6])
    assert np.isnan(c[0]) and np.isnan(c[1])
    assert c[3] == pytest.approx(0.9227, abs=1e-4)
    assert c[4] == pytest.approx(1 - 3 / (4e6 - 1), rel=1e-8)  # lgamma rounding, as in R


def test_mn_single_group_means() -> None:
    es = escalc("MN", mi=NORMAND.m1i, sdi=NORMAND.sd1i, ni=NORMAND.n1i)
    np.testing.assert_array_equal(es.yi, NORMAND.m1i)
    np.testing.assert_allclose(es.vi, NORMAND.sd1i**2 / NORMAND.n1i)


def test_change_score_measures_definitions() -> None:
    m1, m2, s1, s2, n, r = 12.0, 10.0, 4.0, 5.0, 20.0, 0.6
    mc = escalc("MC", m1i=[m1], m2i=[m2], sd1i=[s1], sd2i=[s2], ni=[n], ri=[r])
    assert mc.yi[0] == 2.0
    assert mc.vi[0] == pytest.approx((s1**2 + s2**2 - 2 * r * s1 * s2) / n)
    c = float(cmicalc(n - 1))
    smcc = escalc("SMCC", m1i=[m1], m2i=[m2], sd1i=[s1], sd2i=[s2], ni=[n], ri=[r])
    assert smcc.yi[0] == pytest.approx(c * 2 / np.sqrt(s1**2 + s2**2 - 2 * r * s1 * s2))
    assert smcc.vi[0] == pytest.approx(1 / n + smcc.yi[0] ** 2 / (2 * n))
    smcr = escalc("SMCR", m1i=[m1], m2i=[m2], sd1i=[s1], ni=[n], ri=[r])
    assert smcr.yi[0] == pytest.approx(c * 2 / s1)
    assert smcr.vi[0] == pytest.approx(2 * (1 - r) / n + smcr.yi[0] ** 2 / (2 * n))


def test_morris2008_smcr_published_values() -> None:
    """metafor test_analysis_example_morris2008.r, treatment group."""
    es = escalc(
        "SMCR",
        m1i=[38.5, 26.8, 0.7, 75.9, 36.0],
        m2i=[30.6, 23.5, 0.5, 53.4, 35.6],
        sd1i=[15.0, 3.1, 0.1, 14.5, 4.7],
        ni=[20, 50, 9, 10, 14],
        ri=[0.47, 0.64, 0.77, 0.89, 0.44],
    )
    np.testing.assert_allclose(es.yi, [0.5056, 1.0481, 1.8054, 1.4181, 0.0801], atol=ATOL4)
    np.testing.assert_allclose(es.vi, [0.0594, 0.0254, 0.2322, 0.1225, 0.0802], atol=ATOL4)


# ---------------------------------------------------------------------------
# zero cells, add / to / drop00


def test_zero_cell_rules() -> None:
    t = dict(ai=[0, 5, 0], bi=[10, 5, 10], ci=[3, 5, 0], di=[7, 5, 10])
    only0 = escalc("OR", **t)
    assert only0.yi[0] == pytest.approx(np.log((0.5 / 10.5) / (3.5 / 7.5)))
    assert only0.yi[1] == 0.0
    none = escalc("OR", to="none", **t)
    assert np.isnan(none.yi[0]) and np.isnan(none.vi[0])  # infinite -> missing, as metafor
    allc = escalc("OR", to="all", **t)
    assert allc.yi[1] == 0.0 and allc.vi[1] == pytest.approx(4 / 5.5)
    if0all = escalc("OR", to="if0all", **t)
    np.testing.assert_allclose(if0all.vi, allc.vi)
    dropped = escalc("OR", drop00=True, **t)
    assert np.isnan(dropped.yi[2]) and not np.isnan(dropped.yi[0])
    rd = escalc("RD", **t)
    assert rd.yi[2] == 0.0 and rd.vi[2] == pytest.approx(2 * (0.5 / 11) * (10.5 / 11) / 11)
    assert escalc("OR", add=1, **t).vi[0] == pytest.approx(1 / 1 + 1 / 11 + 1 / 4 + 1 / 8)


def test_proportion_corrections_by_measure() -> None:
    x, n = [0, 5, 10], [10, 10, 10]
    assert escalc("PLO", xi=x, ni=n).yi[0] == pytest.approx(np.log(0.5 / 10.5))
    assert escalc("PR", xi=x, ni=n).yi[2] == pytest.approx(10.5 / 11)
    pft = escalc("PFT", xi=x, ni=n)
    assert pft.yi[0] == pytest.approx(0.5 * (0 + np.arcsin(np.sqrt(1 / 11))))
    pas = escalc("PAS", xi=x, ni=n)
    assert pas.yi[0] == 0.0 and pas.yi[2] == pytest.approx(np.pi / 2)
    pas_add = escalc("PAS", xi=x, ni=n, add=0.5)
    assert pas_add.yi[0] == pytest.approx(np.arcsin(np.sqrt(0.5 / 11)))
    assert np.isnan(escalc("PLO", xi=x, ni=n, add=0).yi[0])


def test_missing_values_propagate() -> None:
    es = escalc("PLO", xi=[1, np.nan, 3], ni=[10, 10, np.nan])
    assert not np.isnan(es.yi[0]) and np.isnan(es.yi[1:]).all()


# ---------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    ("measure", "kwargs", "needle"),
    [
        ("PLO", dict(xi=[1, 2], ni=[10, -3]), "'ni' at index 1 has invalid value -3"),
        ("PLO", dict(xi=[1, 12], ni=[10, 10]), "'xi' at index 1 has invalid value 12"),
        ("PR", dict(xi=[-1, 2], ni=[10, 10]), "'xi' at index 0"),
        ("MN", dict(mi=[1, 2], sdi=[1, 0], ni=[5, 5]), "'sdi' at index 1 has invalid value 0"),
        ("SMD", dict(m1i=[1], m2i=[1], sd1i=[-2], sd2i=[1], n1i=[5], n2i=[5]), "'sd1i' at index 0"),
        ("MD", dict(m1i=[1], m2i=[1], sd1i=[1], sd2i=[1], n1i=[0], n2i=[5]), "'n1i' at index 0"),
        ("MC", dict(m1i=[1], m2i=[1], sd1i=[1], sd2i=[1], ni=[5], ri=[1.5]), "'ri' at index 0"),
        ("RR", dict(ai=[3, 11], n1i=[10, 10], ci=[1, 1], n2i=[10, 10]), "'ai' at index 1 has invalid value 11"),
        ("OR", dict(ai=[3], bi=[-1], ci=[1], di=[2]), "'bi' at index 0"),
        ("OR", dict(ai=[3], bi=[4], ci=[1], di=[2], n1i=[8]), "'n1i' at index 0"),
        ("SMD", dict(m1i=[1], m2i=[1], sd1i=[1], sd2i=[1], n1i=[5]), "missing required argument 'n2i'"),
        ("RR", dict(ai=[1], ci=[1], di=[3]), "'bi' (or 'n1i')"),
        ("PLO", dict(xi=[1], ni=[4], sdi=[2]), "unexpected argument"),
        ("PLO", dict(xi=[1, 2], ni=[4]), "different lengths"),
        ("XYZ", dict(xi=[1], ni=[4]), "unknown value 'XYZ'"),
    ],
)
def test_invalid_input_raises_value_error(measure: str, kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError) as err:
        escalc(measure, **kwargs)
    assert needle in str(err.value)


def test_data_frame_columns_and_errors() -> None:
    df = pd.DataFrame({"events": [3, 4], "total": [10, 12]}, index=["a", "b"])
    es = escalc("PLO", data=df, xi="events", ni="total")
    assert list(es.to_frame().index) == ["a", "b"]
    with pytest.raises(ValueError, match="column 'nope' not found"):
        escalc("PLO", data=df, xi="nope", ni="total")
    with pytest.raises(ValueError, match="no data= was given"):
        escalc("PLO", xi="events", ni="total")
    with pytest.raises(ValueError, match="'vtype'"):
        escalc("PLO", data=df, xi="events", ni="total", vtype="UB")
    with pytest.raises(ValueError, match="'to'"):
        escalc("PLO", data=df, xi="events", ni="total", to="some")


# ---------------------------------------------------------------------------
# back-transformations


def test_backtransform_picks_inverse_per_measure() -> None:
    x = np.array([-1.0, 0.0, 0.5])
    np.testing.assert_allclose(backtransform("RR", x), np.exp(x))
    np.testing.assert_allclose(backtransform("or", x), np.exp(x))
    np.testing.assert_allclose(backtransform("PLO", x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(backtransform("PAS", [0.3]), np.sin(0.3) ** 2)
    np.testing.assert_array_equal(backtransform("MD", x), x)
    np.testing.assert_array_equal(backtransform("PR", x), x)
    with pytest.raises(ValueError, match="'ni'"):
        backtransform("PFT", x)
    with pytest.raises(ValueError, match="measure"):
        backtransform("nonsense", x)


def test_ipft_hm_clips_and_round_trips() -> None:
    ni = [10, 20, 40]
    nhm = 1 / np.mean(1 / np.asarray(ni, float))
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    np.testing.assert_allclose(transf_ipft_hm(transf_pft(p, nhm), ni), p, atol=1e-12)
    out = transf_ipft_hm([-0.5, 2.0], ni)
    np.testing.assert_array_equal(out, [0.0, 1.0])
    np.testing.assert_allclose(transf_ipft(transf_pft(p, 7.0), 7.0), p, atol=1e-12)
    assert transf_iarcsin(-0.1) == 0.0 and transf_iarcsin(2.0) == 1.0
    assert transf_ilogit(800.0) == 1.0 and transf_exp(0.0) == 1.0


# ---------------------------------------------------------------------------
# R fixtures (tests/r/make_escalc_fixtures.R)


def _arr(v) -> np.ndarray:
    return np.atleast_1d(np.array([np.nan if z is None else z for z in np.atleast_1d(v)], dtype=float))


@pytest.fixture(scope="module")
def escalc_fixture() -> dict:
    with open(FIXTURES / "metafor_escalc.json") as fh:
        return json.load(fh)


def _case_ids() -> list[str]:
    with open(FIXTURES / "metafor_escalc.json") as fh:
        cases = json.load(fh)["cases"]
    return [f"{i:02d}-{c['measure']}-{c['label']}" for i, c in enumerate(cases)]


def test_fixture_provenance_and_coverage(escalc_fixture: dict) -> None:
    v = escalc_fixture["versions"]
    assert v["metafor"] and v["R"].startswith("R version")
    measures = {c["measure"] for c in escalc_fixture["cases"]}
    assert measures == set(MEASURES)
    n_studies = sum(len(_arr(c["yi"])) for c in escalc_fixture["cases"])
    assert n_studies > 5000


@pytest.mark.parametrize("idx", range(len(_case_ids())), ids=_case_ids())
def test_escalc_matches_metafor_fixture(escalc_fixture: dict, idx: int) -> None:
    case = escalc_fixture["cases"][idx]
    args = {k: _arr(v) for k, v in case["args"].items()}
    options = case["options"] if isinstance(case["options"], dict) else {}
    es = escalc(case["measure"], **options, **args)
    for name in ("yi", "vi"):
        expected = _arr(case[name])
        got = getattr(es, name)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=f"{name}: missing pattern")
        ok = ~np.isnan(expected)
        np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-10, atol=0, err_msg=name)


def test_transformations_match_metafor_fixture(escalc_fixture: dict) -> None:
    t = escalc_fixture["transf"]
    np.testing.assert_allclose(transf_ilogit(_arr(t["ilogit"]["x"])), _arr(t["ilogit"]["y"]), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(transf_exp(_arr(t["exp"]["x"])), _arr(t["exp"]["y"]), rtol=1e-10)
    np.testing.assert_allclose(transf_iarcsin(_arr(t["iarcsin"]["x"])), _arr(t["iarcsin"]["y"]), rtol=1e-10, atol=1e-14)
    for c in t["ipft_hm"]:
        np.testing.assert_allclose(transf_ipft_hm(_arr(c["x"]), _arr(c["ni"])), _arr(c["y"]), rtol=1e-10, atol=1e-14)
    for c in t["ipft"]:
        np.testing.assert_allclose(transf_ipft(_arr(c["x"]), _arr(c["ni"])), _arr(c["y"]), rtol=1e-10, atol=1e-14)
    for c in t["pft"]:
        np.testing.assert_allclose(transf_pft(_arr(c["p"]), _arr(c["ni"])), _arr(c["y"]), rtol=1e-10)
