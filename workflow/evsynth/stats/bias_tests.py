"""Small-study / publication-bias tests: Egger's regression test (metafor R/regtest.r) and
Begg and Mazumdar's rank correlation test (R/ranktest.r)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import special

from evsynth.stats.linalg import _norm_sf, _t_isf, _t_sf, _wls
from evsynth.stats.options import _clean, _level
from evsynth.stats.rma import rma


@dataclass(frozen=True)
class BiasTestResult:
    """Egger-type regression test or Begg-Mazumdar rank test."""

    test: str
    k: int
    reported: bool
    reason: str
    stat: float = float("nan")
    pval: float = float("nan")
    df: float = float("nan")
    estimate: float = float("nan")  # regtest: limit estimate; ranktest: Kendall's tau
    ci_lb: float = float("nan")
    ci_ub: float = float("nan")
    model: str = ""
    predictor: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _gate(name: str, k: int, min_k: int | None) -> str | None:
    mk = 10 if min_k is None else int(min_k)
    if k < mk:
        return f"not reported: k < {mk} (k = {k})"
    return None


def regtest(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    model: str = "rma",
    predictor: str = "sei",
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    min_k: int | None = None,
) -> BiasTestResult:
    """Egger's regression test (metafor R/regtest.r).

    ``model="rma"``: mixed-effects meta-regression on the predictor (z or t test of its
    coefficient); ``model="lm"``: weighted least squares with weights 1/vi (classical Egger,
    t with k-2 df). The intercept is the 'limit estimate' (predictor sei or vi).
    Reported only when k >= ``min_k`` (default 10, as meta does)."""
    y, v = _clean(yi, vi)
    keep = ~(np.isnan(y) | np.isnan(v))
    y, v = y[keep], v[keep]
    k = len(y)
    why = _gate("regtest", k, min_k)
    if why:
        return BiasTestResult("regtest", k, False, why, model=model, predictor=predictor)
    if predictor == "sei":
        x = np.sqrt(v)
    elif predictor == "vi":
        x = v
    else:
        raise ValueError("predictor must be 'sei' or 'vi'")
    if k > 0 and np.ptp(x) <= 1e-7 * np.max(np.abs(x)):
        return BiasTestResult(
            "regtest", k, False,
            "not reported: the predictor is constant (all sampling variances equal), so the "
            "model matrix is not of full rank",
            model=model, predictor=predictor,
        )  # fmt: skip
    if model == "rma":
        res = rma(y, v, method=method, test=test, level=level, mods=x[:, None])
        if not res.converged:
            return BiasTestResult("regtest", k, False, f"model not fitted: {res.message}",
                                  model=model, predictor=predictor)  # fmt: skip
        return BiasTestResult(
            "regtest", k, True, "", stat=res.beta_stat[1], pval=res.beta_pval[1], df=res.df,
            estimate=res.beta[0], ci_lb=res.beta_ci_lb[0], ci_ub=res.beta_ci_ub[0],
            model=model, predictor=predictor,
        )  # fmt: skip
    if model == "lm":
        if k < 3:
            return BiasTestResult("regtest", k, False, "k < 3: no residual df", model=model,
                                  predictor=predictor)  # fmt: skip
        X = np.column_stack([np.ones(k), x])
        w = 1 / v
        A, b, r = _wls(X[None], y[None], w[None])
        ddf = k - 2
        s2 = float((w * r[0] ** 2).sum()) / ddf
        se = np.sqrt(np.diag(A[0]) * s2)
        tval = b[0] / se
        pv = 2 * _t_sf(np.abs(tval), ddf)
        crit = _t_isf(_level(level) / 2, ddf)
        return BiasTestResult(
            "regtest", k, True, "", stat=float(tval[1]), pval=float(pv[1]), df=float(ddf),
            estimate=float(b[0, 0]), ci_lb=float(b[0, 0] - crit * se[0]),
            ci_ub=float(b[0, 0] + crit * se[0]), model=model, predictor=predictor,
        )  # fmt: skip
    raise ValueError("model must be 'rma' or 'lm'")


def _kendall_exact_cdf(q: int, n: int) -> float:
    """P(T <= q) for T = number of concordant pairs under independence (R's pkendall)."""
    N = n * (n - 1) // 2
    if q < 0:
        return 0.0
    if q >= N:
        return 1.0
    dist = np.zeros(N + 1)
    dist[0] = 1.0
    top = 0
    for i in range(2, n + 1):
        # convolve with the uniform distribution on 0..i-1 (Mahonian numbers, normalized)
        new = np.zeros(N + 1)
        c = np.cumsum(dist[: top + 1])
        for s in range(top + i):
            hi = min(s, top)
            lo = s - (i - 1)
            new[s] = c[hi] - (c[lo - 1] if lo >= 1 else 0.0)
        top += i - 1
        dist = new / i
    return float(dist[: q + 1].sum())


def _kendall_test(x: np.ndarray, y: np.ndarray, exact: bool = True) -> tuple[float, float]:
    """Kendall's tau-b and two-sided p-value as R's cor.test(method="kendall")."""
    from scipy.stats import kendalltau  # scipy.stats takes ~0.6 s to import: only the rank test pays it

    n = len(x)
    tau = float(kendalltau(x, y).statistic)
    ties = min(len(np.unique(x)), len(np.unique(y))) < n
    if exact and not ties and n <= 170:
        q = int(round((tau + 1) * n * (n - 1) / 4))
        if q > n * (n - 1) / 4:
            pp = 1 - _kendall_exact_cdf(q - 1, n)
        else:
            pp = _kendall_exact_cdf(q, n)
        return tau, min(2 * pp, 1.0)
    _, xt = np.unique(x, return_counts=True)
    _, yt = np.unique(y, return_counts=True)
    xt, yt = xt[xt > 1].astype(float), yt[yt > 1].astype(float)
    T0 = n * (n - 1) / 2
    T1 = (xt * (xt - 1)).sum() / 2
    T2 = (yt * (yt - 1)).sum() / 2
    S = tau * math.sqrt((T0 - T1) * (T0 - T2))
    v0 = n * (n - 1) * (2 * n + 5)
    vt_ = (xt * (xt - 1) * (2 * xt + 5)).sum()
    vu = (yt * (yt - 1) * (2 * yt + 5)).sum()
    v1 = (xt * (xt - 1)).sum() * (yt * (yt - 1)).sum()
    v2 = (xt * (xt - 1) * (xt - 2)).sum() * (yt * (yt - 1) * (yt - 2)).sum()
    var_s = (v0 - vt_ - vu) / 18 + v1 / (2 * n * (n - 1)) + v2 / (9 * n * (n - 1) * (n - 2))
    z = S / math.sqrt(var_s)
    return tau, float(2 * min(special.ndtr(z), _norm_sf(z)))


def ranktest(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    min_k: int | None = None,
) -> BiasTestResult:
    """Begg & Mazumdar rank correlation test (metafor R/ranktest.r): Kendall's tau between
    standardized deviates (yi - theta_FE)/sqrt(vi - 1/sum(wi)) and vi; exact p-value
    without ties (R's pkendall), normal approximation with tie correction otherwise.
    Reported only when k >= ``min_k`` (default 10)."""
    y, v = _clean(yi, vi)
    keep = ~(np.isnan(y) | np.isnan(v))
    y, v = y[keep], v[keep]
    k = len(y)
    why = _gate("ranktest", k, min_k)
    if why:
        return BiasTestResult("ranktest", k, False, why)
    if k < 3:
        return BiasTestResult("ranktest", k, False, "k < 3: rank correlation undefined")
    if np.ptp(v) == 0:
        return BiasTestResult(
            "ranktest", k, False,
            "not reported: all sampling variances are equal, so the rank correlation with vi "
            "is undefined",
        )  # fmt: skip
    if not (v > 0).all() or not np.isfinite(1 / v).all():
        return BiasTestResult(
            "ranktest", k, False,
            "not reported: a sampling variance (vi) is 0 or too small to weight (metafor stops: "
            "'not enough finite observations')",
        )  # fmt: skip
    w = 1 / v
    theta = float((w * y).sum() / w.sum())
    vb = 1 / w.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        ys = (y - theta) / np.sqrt(v - vb)
    if not np.isfinite(ys).all():
        return BiasTestResult(
            "ranktest", k, False,
            "not reported: the standardized deviates are not finite (one study carries all the weight)",
        )  # fmt: skip
    if np.ptp(ys) == 0 or np.ptp(y) == 0:
        return BiasTestResult(
            "ranktest", k, False,
            "not reported: all effects are identical, so Kendall's tau is undefined (metafor: NA)",
        )  # fmt: skip
    tau, pv = _kendall_test(ys, v)
    return BiasTestResult("ranktest", k, True, "", pval=pv, estimate=tau)
