"""evsynth.stats (rma, leave1out, regtest, ...) against published metafor results (resources/sources/methods-reference.md, §1).

Precision: values printed with 4 decimals are checked with atol 5e-4 (metafor's own tests use
a relative tolerance of 0.01); 2-3 decimal values with half a unit of their last digit; the
full-precision anchors (Kacker 2004, from statsmodels' fixtures; §1.9) with rtol 1e-8.
Effect sizes are computed here from the raw counts with the formulas written out below
(deliberately not importing evsynth.stats.effects).
"""

from __future__ import annotations

import numpy as np
import pytest

from evsynth.stats import leave1out, ranktest, regtest, rma, subgroup_analysis

A4 = 5e-4  # 4-dp published values


def approx4(x):
    return pytest.approx(x, abs=A4)


# --- dat.bcg (§1.1), log risk ratios ------------------------------------------------------
TPOS = np.array([4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27], float)
TNEG = np.array([119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886], float)
CPOS = np.array([11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29], float)
CNEG = np.array([128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825], float)
ABLAT = np.array([44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33], float)
YEAR = np.array([1948, 1949, 1960, 1977, 1973, 1953, 1973, 1980, 1968, 1961, 1974, 1969, 1976], float)
ALLOC = ["random", "random", "random", "random", "alternate", "alternate", "random", "random",
         "random", "systematic", "systematic", "systematic", "systematic"]  # fmt: skip
N1, N2 = TPOS + TNEG, CPOS + CNEG
# log RR: yi = ln[(ai/n1)/(ci/n2)], vi = 1/ai - 1/n1 + 1/ci - 1/n2
BCG_YI = np.log(TPOS / N1) - np.log(CPOS / N2)
BCG_VI = 1 / TPOS - 1 / N1 + 1 / CPOS - 1 / N2


def test_bcg_effect_sizes_match_readme():
    assert BCG_YI == pytest.approx(
        [-0.8893, -1.5854, -1.3481, -1.4416, -0.2175, -0.7861, -1.6209, 0.0120, -0.4694,
         -1.3713, -0.3394, 0.4459, -0.0173], abs=A4)  # fmt: skip
    assert BCG_VI == pytest.approx(
        [0.3256, 0.1946, 0.4154, 0.0200, 0.0512, 0.0069, 0.2230, 0.0040, 0.0564, 0.0730,
         0.0124, 0.5325, 0.0714], abs=A4)  # fmt: skip


def test_bcg_fixed_effect():
    for method in ("FE", "EE"):
        r = rma(BCG_YI, BCG_VI, method=method)
        assert r.method == "FE"
        assert r.estimate == approx4(-0.4303)
        assert r.se == approx4(0.0405)
        assert r.stat == approx4(-10.6247)
        assert (r.ci_lb, r.ci_ub) == (approx4(-0.5097), approx4(-0.3509))
        assert r.q == approx4(152.2330) and r.q_df == 12 and r.q_pval < 1e-4
        assert r.i2 == pytest.approx(92.12, abs=5e-3)  # Q-based for FE models
        assert r.h2 == pytest.approx(12.69, abs=5e-3)
        assert np.exp([r.estimate, r.ci_lb, r.ci_ub]) == pytest.approx([0.6503, 0.6007, 0.7040], abs=A4)
        assert np.isnan(r.tau2_ci[0]) and np.isnan(r.pi_lb)  # no RE component, no PI


def test_bcg_dersimonian_laird():
    r = rma(BCG_YI, BCG_VI, method="DL")
    assert r.estimate == approx4(-0.7141)
    assert (r.ci_lb, r.ci_ub) == (approx4(-1.0644), approx4(-0.3638))
    assert r.stat == approx4(-3.9952)
    assert r.se == pytest.approx(0.178742, abs=5e-7)  # reproduced value in the reference
    assert r.tau2 == pytest.approx(0.308760, abs=5e-7)
    assert r.i2 == approx4(92.1173) and r.h2 == approx4(12.6861)
    assert r.tau2_ci == (approx4(0.1197), approx4(1.1115))
    assert r.i2_ci[1] == approx4(97.6781) and r.h2_ci[1] == approx4(43.0680)
    # metafor's published lower I^2/H^2 bounds come from uniroot at its default
    # tol = eps^0.25 (~1.2e-4 in tau^2); we solve exactly, so compare at that resolution
    assert r.i2_ci[0] == pytest.approx(81.9177, abs=0.02)
    assert r.h2_ci[0] == pytest.approx(5.5303, abs=0.005)
    assert np.exp([r.estimate, r.ci_lb, r.ci_ub]) == pytest.approx([0.4896, 0.3449, 0.6950], abs=A4)


def test_bcg_reml():
    r = rma(BCG_YI, BCG_VI)  # REML is the default
    assert r.method == "REML" and r.converged
    assert r.tau2 == approx4(0.3132) and r.tau2_se == approx4(0.1664) and r.tau == approx4(0.5597)
    assert r.i2 == pytest.approx(92.22, abs=5e-3) and r.h2 == pytest.approx(12.86, abs=5e-3)
    assert r.q == approx4(152.2330)
    assert r.estimate == approx4(-0.7145) and r.se == approx4(0.1798)
    assert r.stat == approx4(-3.9744) and r.pval < 1e-4
    assert (r.ci_lb, r.ci_ub) == (approx4(-1.0669), approx4(-0.3622))
    # confint(res)
    assert r.tau2_ci == (approx4(0.1197), approx4(1.1115))
    assert np.sqrt(r.tau2_ci) == pytest.approx([0.3460, 1.0543], abs=A4)
    assert r.i2 == approx4(92.2214) and r.h2 == approx4(12.8558)
    assert r.i2_ci[1] == approx4(97.6781) and r.h2_ci[1] == approx4(43.0680)
    assert r.i2_ci[0] == pytest.approx(81.9177, abs=0.02)  # see DL test
    # predict(res, transf=exp)
    assert np.exp([r.estimate, r.ci_lb, r.ci_ub]) == pytest.approx([0.4894, 0.3441, 0.6962], abs=A4)
    assert np.exp([r.pi_lb, r.pi_ub]) == pytest.approx([0.1546, 1.5490], abs=A4)
    assert (r.pi_lb, r.pi_ub) == (pytest.approx(-1.87, abs=5e-3), pytest.approx(0.44, abs=5e-3))


def test_bcg_knapp_hartung():
    r = rma(BCG_YI, BCG_VI, test="knha")
    assert r.estimate == approx4(-0.7145)
    assert r.se == pytest.approx(0.180792, abs=5e-7)
    assert r.stat == approx4(-3.9522) and r.df == 12 and r.pval == approx4(0.0019)
    assert (r.ci_lb, r.ci_ub) == (approx4(-1.1084), approx4(-0.3206))
    assert np.exp([r.estimate, r.ci_lb, r.ci_ub]) == pytest.approx([0.49, 0.33, 0.73], abs=5e-3)
    assert np.exp([r.pi_lb, r.pi_ub]) == pytest.approx([0.14, 1.76], abs=5e-3)  # t(12) PI


def test_bcg_paule_mandel():
    r = rma(BCG_YI, BCG_VI, method="PM")
    assert r.tau2 == pytest.approx(0.318068, abs=5e-7)  # DLIT/SJIT in metafor's tests: 0.3181
    assert r.estimate == pytest.approx(-0.71497, abs=5e-6)
    assert r.se == pytest.approx(0.18089, abs=5e-6)
    eb = rma(BCG_YI, BCG_VI, method="EB")  # EB's fixed point is the PM root
    assert eb.tau2 == pytest.approx(r.tau2, rel=1e-10)


def test_bcg_subgroups_by_allocation():
    s = subgroup_analysis(BCG_YI, BCG_VI, ALLOC)
    f = s.fits.set_index("group")
    expected = {
        "alternate": (2, -0.5408, 0.2816, 0.1326, 5.5625, 1),
        "random": (7, -0.9710, 0.2760, 0.3925, 110.2133, 6),
        "systematic": (4, -0.4242, 0.3597, 0.4003, 16.5919, 3),
    }
    for g, (k, est, se, tau2, q, df) in expected.items():
        assert f.loc[g, "k"] == k and f.loc[g, "q_df"] == df
        assert f.loc[g, ["estimate", "se", "tau2", "q"]].to_list() == pytest.approx([est, se, tau2, q], abs=A4)
    # separate-tau^2 test of subgroup differences = FE Q over the subgroup estimates
    b, se = f["estimate"].to_numpy(), f["se"].to_numpy()
    w = 1 / se**2
    qb = float((w * (b - (w * b).sum() / w.sum()) ** 2).sum())
    assert s.q_between == pytest.approx(qb, rel=1e-12) and s.df == 2 and s.approach == "separate"


def test_bcg_meta_regression():
    r = rma(BCG_YI, BCG_VI, mods=np.column_stack([ABLAT, YEAR]))
    assert r.coef_names == ("intrcpt", "mod1", "mod2")
    assert r.beta == pytest.approx([-3.5455, -0.0280, 0.0019], abs=A4)
    assert r.beta_se == pytest.approx([29.0959, 0.0102, 0.0147], abs=A4)
    assert r.beta_pval[1] == approx4(0.0062)
    assert r.tau2 == approx4(0.1108)
    assert r.q == approx4(28.3251) and r.q_df == 10
    assert r.qm == approx4(12.2043) and r.qm_df[0] == 2
    assert r.r2 == pytest.approx(64.63, abs=5e-3)


BCG_L1O = np.array([
    [-0.7071, 0.1900, -3.7223, 0.0002, -1.0794, -0.3348, 151.5826, 0, 0.3362, 93.2259, 14.7622],
    [-0.6540, 0.1807, -3.6195, 0.0003, -1.0082, -0.2999, 145.3176, 0, 0.2926, 92.2540, 12.9098],
    [-0.6856, 0.1857, -3.6916, 0.0002, -1.0495, -0.3216, 150.1970, 0, 0.3207, 92.9354, 14.1551],
    [-0.6284, 0.1766, -3.5580, 0.0004, -0.9746, -0.2822, 96.5626, 0, 0.2628, 90.4125, 10.4302],
    [-0.7642, 0.1918, -3.9845, 0.0001, -1.1401, -0.3883, 151.3200, 0, 0.3278, 92.7634, 13.8187],
    [-0.7109, 0.2003, -3.5499, 0.0004, -1.1034, -0.3184, 128.1867, 0, 0.3596, 90.9118, 11.0033],
    [-0.6552, 0.1805, -3.6307, 0.0003, -1.0090, -0.3015, 145.8296, 0, 0.2930, 92.2777, 12.9495],
    [-0.7948, 0.1799, -4.4184, 0.0000, -1.1473, -0.4422, 67.9858, 0, 0.2732, 87.0314, 7.7109],
    [-0.7412, 0.1967, -3.7686, 0.0002, -1.1267, -0.3557, 152.2051, 0, 0.3495, 93.2133, 14.7346],
    [-0.6530, 0.1843, -3.5439, 0.0004, -1.0142, -0.2919, 139.8271, 0, 0.2987, 92.2322, 12.8737],
    [-0.7579, 0.1958, -3.8708, 0.0001, -1.1416, -0.3741, 151.4655, 0, 0.3405, 91.8110, 12.2114],
    [-0.7598, 0.1821, -4.1727, 0.0000, -1.1167, -0.4029, 150.7868, 0, 0.3082, 92.6782, 13.6579],
    [-0.7775, 0.1855, -4.1908, 0.0000, -1.1412, -0.4139, 149.7884, 0, 0.3037, 92.3444, 13.0623],
])  # fmt: skip


def test_bcg_leave1out():
    t = leave1out(BCG_YI, BCG_VI)
    cols = ["estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "Q", "Qp", "tau2", "I2", "H2"]
    assert list(t.index) == [f"-{i}" for i in range(1, 14)]
    np.testing.assert_allclose(t[cols].to_numpy(), BCG_L1O, atol=A4, rtol=0)


def test_bcg_ranktest():
    r = ranktest(BCG_YI, BCG_VI)
    assert r.reported
    assert r.estimate == approx4(0.0256) and r.pval == approx4(0.9524)


# --- dat.egger2001 (§1.3): log odds ratios, 0.5 added to all cells of zero-cell studies ----
EG_AI = np.array([1, 9, 2, 1, 10, 1, 1, 0, 6, 1, 2, 5, 4, 90, 4, 2216], float)
EG_N1 = np.array([40, 135, 200, 48, 150, 59, 25, 22, 76, 27, 89, 23, 130, 1159, 107, 29011], float)
EG_CI = np.array([2, 23, 7, 1, 8, 9, 3, 1, 11, 7, 12, 13, 8, 118, 17, 2103], float)
EG_N2 = np.array([36, 135, 200, 46, 148, 56, 23, 21, 75, 27, 80, 33, 122, 1157, 108, 29039], float)


def _log_or(ai, n1, ci, n2):
    a, b, c, d = ai, n1 - ai, ci, n2 - ci
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    a, b, c, d = (x + 0.5 * zero for x in (a, b, c, d))
    return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d


EG_YI, EG_VI = _log_or(EG_AI, EG_N1, EG_CI, EG_N2)


def test_egger2001_without_isis4():
    y, v = EG_YI[:15], EG_VI[:15]
    r = rma(y, v)
    assert r.estimate == approx4(-0.8745) and r.se == approx4(0.2080)
    assert r.tau2 == approx4(0.1911) and r.q == approx4(20.9184) and r.q_df == 14
    lm = regtest(y, v, model="lm")
    assert lm.reported
    assert lm.stat == approx4(-3.1783) and lm.df == 13 and lm.pval == approx4(0.0073)
    assert (lm.estimate, lm.ci_lb, lm.ci_ub) == (approx4(-0.1512), approx4(-0.5130), approx4(0.2106))
    me = regtest(y, v)  # mixed-effects version, model="rma"
    assert me.stat == approx4(-2.8062) and me.pval == approx4(0.0050)


def test_egger2001_all_studies():
    assert regtest(EG_YI, EG_VI).stat == approx4(-4.6686)
    rt = ranktest(EG_YI, EG_VI)
    assert rt.estimate == pytest.approx(0.15, abs=5e-3) and rt.pval == approx4(0.4503)


def test_bias_tests_gated_at_k10():
    r = regtest(BCG_YI[:9], BCG_VI[:9])
    assert not r.reported and r.reason == "not reported: k < 10 (k = 9)" and np.isnan(r.stat)
    assert not ranktest(BCG_YI[:9], BCG_VI[:9]).reported
    assert regtest(BCG_YI[:9], BCG_VI[:9], min_k=5).reported
    assert ranktest(BCG_YI[:9], BCG_VI[:9], min_k=5).reported


# --- CLASP (§1.7): the eight estimators, DerSimonian & Kacker 2007 --------------------------
CL_N1 = np.array([156, 303, 565, 1570, 103, 4659], float)
CL_AI = np.array([5, 5, 12, 69, 9, 313], float)
CL_N2 = np.array([74, 303, 477, 1565, 105, 4650], float)
CL_CI = np.array([8, 17, 9, 94, 11, 352], float)
CL_YI, CL_VI = _log_or(CL_AI, CL_N1, CL_CI, CL_N2)


@pytest.mark.parametrize(
    "method,tau,mu,se",
    [
        ("PM", 0.3681, -0.3811, 0.2060),
        ("HE", 0.4410, -0.4035, 0.2327),
        ("DL", 0.2323, -0.3240, 0.1540),
        ("EB", 0.3681, -0.3811, 0.2060),
        ("ML", 0.0023, -0.1974, 0.0694),
        ("REML", 0.1843, -0.2980, 0.1343),
        ("HS", 0.1330, -0.2666, 0.1125),
        ("SJ", 0.4572, -0.4079, 0.2386),
    ],
)
def test_clasp_estimators(method, tau, mu, se):
    r = rma(CL_YI, CL_VI, method=method)
    assert r.converged
    assert (r.estimate, r.se) == (approx4(mu), approx4(se))
    if method == "ML":
        # The ML maximum is on the boundary: metafor's default stopping rule (|change| <= 1e-5)
        # halts at tau^2 = 5.2e-6 (tau 0.0023); with control=list(threshold=1e-11) metafor
        # 3.8.1 gives tau = 1.7e-6, and we report the limit, tau^2 = 0.
        assert r.tau2 == 0.0 and r.tau == pytest.approx(tau, abs=2.5e-3)
    else:
        assert r.tau == approx4(tau)


# --- Viechtbauer 2005 (§1.8) ----------------------------------------------------------------
VB1_Y = [-0.581, 0.530, 0.771, 1.031, 0.553, 0.295, 0.078, 0.573, -0.176, -0.232]
VB1_V = [0.023, 0.052, 0.060, 0.115, 0.095, 0.203, 0.200, 0.211, 0.051, 0.040]
VB2_Y = [0.100, -0.162, -0.090, -0.049, -0.046, -0.010, -0.431, -0.261, 0.134, 0.019, 0.175,
         0.056, 0.045, 0.103, 0.121, -0.482, 0.290, 0.342]  # fmt: skip
VB2_V = [0.016, 0.015, 0.050, 0.050, 0.032, 0.052, 0.036, 0.024, 0.034, 0.033, 0.031, 0.034,
         0.039, 0.167, 0.134, 0.096, 0.016, 0.035]  # fmt: skip
VB_METHODS = ["HS", "HE", "DL", "ML", "REML", "EB", "SJ"]


def test_viechtbauer2005_example1():
    tau2 = [0.2282, 0.1484, 0.2768, 0.1967, 0.2232, 0.192, 0.1992]
    i2 = [77.2284, 68.7988, 80.4447, 74.5098, 76.8399, 74.0511, 74.7545]
    h2 = [4.39, 3.21, 5.11, 3.92, 4.32, 3.85, 3.96]
    for m, t, i, h in zip(VB_METHODS, tau2, i2, h2):
        r = rma(VB1_Y, VB1_V, method=m)
        assert r.tau2 == pytest.approx(t, abs=5e-3 if m == "EB" else A4), m  # EB printed to 3 dp
        assert r.i2 == pytest.approx(i, abs=A4), m
        assert r.h2 == pytest.approx(h, abs=5e-3), m


def test_viechtbauer2005_example2():
    tau2 = [0.0099, 0, 0.0126, 0.0132, 0.0157, 0.0104, 0.0248]
    i2 = [22.93, 0.00, 27.53, 28.45, 32.02, 23.72, 42.67]
    h2 = [1.30, 1.00, 1.38, 1.40, 1.47, 1.31, 1.74]
    for m, t, i, h in zip(VB_METHODS, tau2, i2, h2):
        r = rma(VB2_Y, VB2_V, method=m)
        assert r.tau2 == pytest.approx(t, abs=A4), m
        assert r.i2 == pytest.approx(i, abs=5e-3), m
        assert r.h2 == pytest.approx(h, abs=5e-3), m
    assert rma(VB2_Y, VB2_V, method="HE").tau2 == 0.0  # truncated at zero, exactly


# --- Kacker 2004 full-precision anchors (§1.9, statsmodels' results_meta.py) -----------------
KY = [61.0, 61.4, 62.21, 62.3, 62.34, 62.6, 62.7, 62.84, 65.9]
KV = [0.2025, 1.21, 0.09, 0.2025, 0.3844, 0.5625, 0.0676, 0.0225, 1.8225]
R8 = 1e-8


def test_kacker_full_precision():
    fe = rma(KY, KV, method="FE")
    assert [fe.estimate, fe.se, fe.ci_lb, fe.ci_ub] == pytest.approx(
        [62.5833970939982, 0.107845705498231, 62.3720233953344, 62.7947707926621], rel=R8)
    assert fe.tau2 == 0
    assert fe.q == pytest.approx(24.801897741835, rel=R8)
    assert fe.q_pval == pytest.approx(0.00167935146372742, rel=R8)
    assert fe.i2 == pytest.approx(67.744403741711, rel=R8)
    assert fe.h2 == pytest.approx(3.10023721772938, rel=R8)
    dl = rma(KY, KV, method="DL")
    assert [dl.estimate, dl.se, dl.ci_lb, dl.ci_ub, dl.tau2] == pytest.approx(
        [62.3901386044504, 0.245749668040304, 61.9084781058787, 62.8717991030221,
         0.288049246973751], rel=R8)  # fmt: skip
    assert dl.i2 == pytest.approx(67.744403741711, rel=R8)
    assert dl.h2 == pytest.approx(3.10023721772938, rel=R8)
    kh = rma(KY, KV, method="DL", test="knha")
    assert [kh.estimate, kh.se, kh.ci_lb, kh.ci_ub] == pytest.approx(
        [62.3901386044504, 0.29477605699879, 61.710383798052, 63.0698934108488], rel=R8)
    pm = rma(KY, KV, method="PM")
    assert [pm.estimate, pm.se, pm.ci_lb, pm.ci_ub, pm.tau2] == pytest.approx(
        [62.4076199113286, 0.338030602684471, 61.7450921043947, 63.0701477182625,
         0.705395309224248], rel=R8)  # fmt: skip
    assert pm.i2 == pytest.approx(83.7218626490482, rel=R8)
    assert pm.h2 == pytest.approx(6.14320900751909, rel=R8)


# --- k = 5 anchors (§1.10, metafor 4.6.0 via PyMARE; 6 dp) ---------------------------------
EQ_Y = [-0.375707, 0.087667, 3.101687, -0.06849, 0.31128]
EQ_V = [0.8, 0.929221, 0.970525, 1.094569, 1.2]
UN_Y = [-0.073207, -0.415375, 5.226533, -0.785429, -2.088512]
UN_V = [0.02, 0.050569, 2.721731, 0.041877, 5.0]


@pytest.mark.parametrize(
    "y,v,method,test,tau2,b,se,lb,ub",
    [
        (EQ_Y, EQ_V, "FE", "z", 0, 0.591249, 0.442657, -0.276342, 1.458840),
        (EQ_Y, EQ_V, "DL", "z", 1.082606, 0.604977, 0.643795, -0.656839, 1.866792),
        (EQ_Y, EQ_V, "REML", "z", 1.083068, 0.604979, 0.643867, -0.656978, 1.866935),
        (EQ_Y, EQ_V, "DL", "knha", 1.082606, 0.604977, 0.637821, -1.165899, 2.375853),
        (EQ_Y, EQ_V, "DL", "adhoc", 1.082606, 0.604977, 0.643795, -1.182485, 2.392439),
        (UN_Y, UN_V, "DL", "z", 0.283826, -0.258345, 0.318238, -0.882079, 0.365390),
        (UN_Y, UN_V, "REML", "z", 3.053905, 0.184804, 0.888140, -1.555919, 1.925527),
        (UN_Y, UN_V, "ML", "z", 0.071107, -0.339482, 0.186987, -0.705970, 0.027006),
        (UN_Y, UN_V, "REML", "knha", 3.053905, 0.184804, 1.039970, -2.702614, 3.072223),
    ],
)
def test_small_k_anchors(y, v, method, test, tau2, b, se, lb, ub):
    r = rma(y, v, method=method, test=test)
    # 6-dp values; REML/ML anchors come from metafor's default stopping rule (|change| <= 1e-5),
    # which leaves the printed tau^2 up to a few 1e-6 from the fixed point we report
    tol = 5e-7 if method in ("FE", "DL") else 2e-5
    assert [r.tau2, r.estimate, r.se, r.ci_lb, r.ci_ub] == pytest.approx([tau2, b, se, lb, ub], abs=tol)
    if test != "z":
        assert r.df == 4


def test_small_k_reml_fixed_point():
    # metafor 3.8.1 with control=list(threshold=1e-11, maxiter=5000): tau2 = 3.05389126149
    # (default control stops at 3.05390451555, the published 3.053905)
    assert rma(UN_Y, UN_V).tau2 == pytest.approx(3.05389126149, rel=1e-10)


def test_adhoc_floor_vs_knha():
    kh = rma(EQ_Y, EQ_V, method="DL", test="knha")
    ah = rma(EQ_Y, EQ_V, method="DL", test="adhoc")
    z = rma(EQ_Y, EQ_V, method="DL")
    assert kh.se < z.se and ah.se == pytest.approx(z.se, rel=1e-14)


# --- §1.5/1.6 single-group and continuous outcomes ------------------------------------------


def _plo(x, n):
    x, n = np.asarray(x, float), np.asarray(n, float)
    zero = (x == 0) | (x == n)
    a, b = x + 0.5 * zero, n - x + 0.5 * zero
    return np.log(a / b), 1 / a + 1 / b


def test_pritz1997_plo_reml():
    y, v = _plo([16, 10, 4, 43, 10, 25, 13, 12, 22, 4, 5, 18, 58, 6],
                [17, 12, 8, 58, 10, 42, 14, 12, 41, 5, 6, 23, 68, 10])  # fmt: skip
    r = rma(y, v)
    ilogit = lambda x: 1 / (1 + np.exp(-np.asarray(x)))  # noqa: E731
    assert r.tau2 == approx4(0.3646)
    assert ilogit([r.estimate, r.ci_lb, r.ci_ub, r.pi_lb, r.pi_ub]) == pytest.approx(
        [0.7575, 0.6605, 0.8337, 0.4661, 0.9179], abs=A4)


def test_nielweise2007_arms_reml():
    ci = [3, 3, 9, 7, 6, 4, 3, 2, 19, 2, 7, 1, 5, 11, 0, 1, 3, 1]
    n2 = [117, 35, 195, 136, 157, 139, 177, 39, 103, 122, 64, 58, 175, 180, 105, 262, 362, 69]
    r = rma(*_plo(ci, n2))
    assert (r.estimate, r.se, r.tau2) == (approx4(-3.3018), approx4(0.2378), approx4(0.6629))
    ai = [0, 1, 2, 0, 5, 1, 1, 1, 1, 1, 0, 0, 3, 6, 0, 0, 1, 4]
    n1 = [116, 44, 208, 130, 151, 98, 174, 74, 97, 113, 66, 70, 188, 187, 118, 252, 345, 64]
    r = rma(*_plo(ai, n1))
    assert (r.estimate, r.se, r.tau2) == (approx4(-4.2604), approx4(0.2589), approx4(0.3928))


def test_normand1999_md_reml():
    n1 = np.array([155, 31, 75, 18, 8, 57, 34, 110, 60], float)
    m1 = np.array([55, 27, 64, 66, 14, 19, 52, 21, 30], float)
    s1 = np.array([47, 7, 17, 20, 8, 7, 45, 16, 27], float)
    n2 = np.array([156, 32, 71, 18, 13, 52, 33, 183, 52], float)
    m2 = np.array([75, 29, 119, 137, 18, 18, 41, 31, 23], float)
    s2 = np.array([64, 4, 29, 48, 11, 4, 34, 27, 20], float)
    y, v = m1 - m2, s1**2 / n1 + s2**2 / n2
    r = rma(y, v)
    assert (r.estimate, r.se, r.ci_lb, r.ci_ub) == (
        approx4(-15.1060), approx4(8.9466), approx4(-32.6409), approx4(2.4289))
    assert r.tau2 == approx4(684.6462) and r.tau2_se == approx4(359.7541)
    assert r.i2 == pytest.approx(98.97, abs=5e-3) and r.h2 == pytest.approx(97.21, abs=5e-3)
    assert r.q == approx4(238.9158)


def test_to_dict_is_flat_and_complete():
    d = rma(BCG_YI, BCG_VI).to_dict()
    for key in ["estimate", "se", "stat", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2",
                "tau2_se", "tau2_ci_lb", "tau2_ci_ub", "i2", "i2_ci_lb", "i2_ci_ub", "h2",
                "h2_ci_lb", "h2_ci_ub", "q", "q_pval", "k", "df", "method", "test",
                "converged", "message"]:  # fmt: skip
        assert key in d
    assert all(not isinstance(x, (tuple, list, dict)) for x in d.values())
