"""Case diagnostics of a fitted model: metafor's ``influence()`` (R/influence.rma.uni.r) and the
data of its Baujat plot (R/baujat.rma.r), from one batch of leave-one-out refits."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evsynth.stats.fit import _fit_batch
from evsynth.stats.linalg import _chi2_ppf

if TYPE_CHECKING:  # pragma: no cover
    from evsynth.stats.rma import RMAResult

__all__ = ["influence", "baujat"]

_CELLS = 1_000_000  # leave-one-out refits are batched in chunks of at most this many cells
_EPS = np.finfo(float).eps


def _model_data(result: "RMAResult"):
    if result.data is None or not result.vb:
        raise ValueError("argument 'result' carries no data: pass a result of evsynth.stats.rma")
    y = np.asarray(result.data["yi"], dtype=float)
    v = np.asarray(result.data["vi"], dtype=float)
    X = np.asarray(result.data["X"], dtype=float)
    if len(y) < 2:
        raise ValueError(f"argument 'result' has k = {len(y)}: case diagnostics need k >= 2")
    if not np.isfinite(result.estimate):
        raise ValueError(f"argument 'result' is not a fitted model: {result.message}")
    return y, v, X


def _deletion_fits(result: "RMAResult", y, v, X) -> dict[str, np.ndarray]:
    """Refit the model without study i, i = 1..k (same method, test, level), batched in chunks
    of O(k p) memory per refit. Refits that fail give NaN (metafor skips them: NA)."""
    k, p = X.shape
    K = k - 1
    col = np.arange(K)
    step = max(1, _CELLS // max(1, K * p))
    keys = {"beta": [], "vb": [], "tau2": [], "q": [], "s2w": []}
    for i0 in range(0, k, step):
        drop = np.arange(i0, min(k, i0 + step))[:, None]
        idx = col + (col >= drop)
        M = np.ones(idx.shape)
        out = _fit_batch(y[idx], v[idx], M, X[idx], result.method, result.test, result.level, want_ci=False)
        for key in keys:
            keys[key].append(out[key])
    res = {key: np.concatenate(val) for key, val in keys.items()}
    bad = ~np.isfinite(res["beta"]).all(1)
    for key in res:
        res[key][bad] = np.nan
    return res


def influence(result: "RMAResult") -> pd.DataFrame:
    """Leave-one-out case diagnostics, as metafor's ``influence(res)``.

    One row per study in the fit, with ``rstudent`` (externally studentized residual),
    ``dffits``, ``cooks_distance`` (Cook's distance over all coefficients, metafor's default),
    ``cov_r`` (covariance ratio), ``tau2_del`` and ``qe_del`` (tau^2 and
    Q without the study), ``hat`` (leverage), ``weight`` (in %), ``dfbetas_<coef>`` and
    ``influential`` (metafor's flag: |DFFITS| > 3 sqrt(p/(k-p)), Cook's distance beyond the
    chi^2 median, hat > 3p/k or any |DFBETAS| > 1). Where the fit's variance is zero (Knapp-Hartung
    with Q = 0: studies that agree exactly) Cook's distance and the covariance ratio are NaN."""
    y, v, X = _model_data(result)
    k, p = X.shape
    tau2 = 0.0 if result.method == "FE" else float(result.tau2)
    beta = np.asarray(result.beta, dtype=float)
    vb = np.asarray(result.vb, dtype=float)
    d = _deletion_fits(result, y, v, X)
    w = 1 / (v + tau2)
    A = np.linalg.inv(X.T @ (w[:, None] * X))
    hat = w * np.einsum("kp,pq,kq->k", X, A, X)
    weight = 100 * w / w.sum()
    pred_full = X @ beta
    delpred = np.einsum("kp,kp->k", X, d["beta"])
    vdelpred = np.einsum("kp,kpq,kq->k", X, d["vb"], X)
    t2d, s2w = d["tau2"], d["s2w"]
    with np.errstate(invalid="ignore", divide="ignore"):
        dffits = (pred_full - delpred) / np.sqrt(s2w * hat * (t2d + v))
        failed = ~np.isfinite(t2d)
        wd = 1 / (v[None, :] + np.where(failed, 0.0, t2d)[:, None])  # full data, deleted tau^2
        vb_del = np.linalg.inv(np.einsum("kp,ik,kq->ipq", X, wd, X))
        vb_del[failed] = np.nan
        dfb = beta[None, :] - d["beta"]
        dfbetas = dfb / np.sqrt(s2w[:, None] * np.diagonal(vb_del, axis1=1, axis2=2))
        btt = list(range(p))  # all coefficients (metafor default btt)
        db = dfb[:, btt]
        vb_btt = vb[np.ix_(btt, btt)]
        if np.linalg.det(vb_btt) > 0:
            cook = np.einsum("ip,pq,iq->i", db, np.linalg.inv(vb_btt), db)
            cov_r = np.linalg.det(d["vb"][:, btt][:, :, btt]) / np.linalg.det(vb_btt)
        else:  # a zero variance (Knapp-Hartung with Q = 0, e.g. identical studies): both undefined, not an error
            cook = cov_r = np.full(k, np.nan)
        resid = y - delpred
        resid = np.where(np.abs(resid) < 100 * _EPS, 0.0, resid)
        rstudent = resid / np.sqrt(v * s2w + vdelpred + t2d * s2w)
    out = pd.DataFrame({
        "rstudent": rstudent, "dffits": dffits, "cooks_distance": cook, "cov_r": cov_r,
        "tau2_del": t2d, "qe_del": d["q"], "hat": hat, "weight": weight,
    })  # fmt: skip
    for j, name in enumerate(result.coef_names):
        out[f"dfbetas_{name}"] = dfbetas[:, j]
    m = len(btt)
    with np.errstate(invalid="ignore"):
        flag = (
            (np.abs(dffits) > 3 * np.sqrt(p / (k - p)) if k > p else np.zeros(k, bool))
            | (cook > float(_chi2_ppf(0.5, m)))
            | (hat > 3 * p / k)
            | (np.abs(dfbetas) > 1).any(1)
        )
    out["influential"] = flag
    return out


def baujat(result: "RMAResult") -> pd.DataFrame:
    """Data of the Baujat plot (metafor ``baujat(res)``): per study, ``x`` = its contribution
    to the heterogeneity statistic, (y_i - x_i'b)^2 / (v_i + tau^2), and ``y`` = its influence
    on the fitted value, (x_i'b - x_i'b_(-i))^2 / Var(x_i'b_(-i)), b_(-i) from the refit
    without study i."""
    y, v, X = _model_data(result)
    tau2 = 0.0 if result.method == "FE" else float(result.tau2)
    beta = np.asarray(result.beta, dtype=float)
    d = _deletion_fits(result, y, v, X)
    pred_full = X @ beta
    delpred = np.einsum("kp,kp->k", X, d["beta"])
    vdelpred = np.einsum("kp,kpq,kq->k", X, d["vb"], X)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({"x": (y - pred_full) ** 2 / (tau2 + v), "y": (delpred - pred_full) ** 2 / vdelpred})
