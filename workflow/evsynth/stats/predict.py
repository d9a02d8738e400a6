"""Predicted values from a fitted model for new moderator values (metafor R/predict.rma.r)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evsynth.stats.linalg import _norm_isf, _t_isf
from evsynth.stats.options import _level

if TYPE_CHECKING:  # pragma: no cover
    from evsynth.stats.rma import RMAResult

__all__ = ["predict"]


def _new_matrix(result: "RMAResult", newmods: Any) -> np.ndarray:
    p = result.p
    names = result.coef_names[1:]
    if newmods is None:
        if p == 1:
            return np.ones((1, 1))
        if result.data is None:
            raise ValueError("argument 'newmods' is required: the result carries no data for fitted values")
        return np.asarray(result.data["X"], dtype=float)
    if p == 1:
        raise ValueError("argument 'newmods' given, but the model has no moderators (intercept only)")
    if isinstance(newmods, pd.Series) and p - 1 > 1:
        newmods = newmods.to_frame().T
    if isinstance(newmods, pd.DataFrame):
        missing = [c for c in names if c not in newmods.columns]
        if missing:
            raise ValueError(f"argument 'newmods' lacks moderator column(s) {missing}; expected {list(names)}")
        M = newmods[list(names)].to_numpy(dtype=float)
    else:
        M = np.asarray(newmods, dtype=float)
        if M.ndim == 0:
            M = M.reshape(1, 1)
        elif M.ndim == 1:
            M = M[:, None] if p - 1 == 1 else M[None, :]
    if M.ndim != 2 or M.shape[1] != p - 1:
        raise ValueError(
            f"argument 'newmods' has shape {np.shape(newmods)}: expected {p - 1} value(s) per row "
            f"(moderators {list(names)})"
        )
    return np.column_stack([np.ones(len(M)), M])


def predict(result: "RMAResult", newmods: Any = None, level: float | None = None) -> pd.DataFrame:
    """Predicted (average) effects for new moderator values, as metafor ``predict(res, newmods)``.

    ``newmods``: one value per row for a single moderator, an (n, p-1) array, or a DataFrame
    with the moderator columns (an intercept is added). Without ``newmods``: the pooled effect
    of an intercept-only model, or the fitted values of a meta-regression. Columns ``pred, se,
    ci_lb, ci_ub, pi_lb, pi_ub``: se = sqrt(x' vb x); the CI uses the model's test (normal, or t
    with k - p df under knha/adhoc/t); the prediction interval adds tau^2 to the variance
    (x' vb x + tau^2). Equal-effects (FE) models get no prediction interval (NaN), as the pooled
    result of this engine."""
    if not result.vb:
        raise ValueError("argument 'result' has no coefficient covariance (vb); refit with evsynth.stats.rma")
    alpha = _level(result.level if level is None else level)
    X = _new_matrix(result, newmods)
    beta = np.asarray(result.beta, dtype=float)
    vb = np.asarray(result.vb, dtype=float)
    pred = X @ beta
    vpred = np.einsum("np,pq,nq->n", X, vb, X)
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.where(vpred < 0, np.nan, vpred))
    if result.test in ("knha", "adhoc", "t"):
        ddf = result.k - result.p
        crit = float(_t_isf(alpha / 2, ddf)) if ddf > 0 else float("nan")
    else:
        crit = float(_norm_isf(alpha / 2))
    out = pd.DataFrame({"pred": pred, "se": se, "ci_lb": pred - crit * se, "ci_ub": pred + crit * se})
    if result.method == "FE":
        out["pi_lb"] = out["pi_ub"] = np.nan
    else:
        pi_se = np.sqrt(vpred + result.tau2)
        out["pi_lb"], out["pi_ub"] = pred - crit * pi_se, pred + crit * pi_se
    return out
