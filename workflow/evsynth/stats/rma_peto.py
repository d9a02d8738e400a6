"""Peto's one-step odds ratio for 2x2 tables (metafor R/rma.peto.r).

Double-zero tables (no events, or only events, in both groups) carry no information (O - E = 0,
V = 0): they count in k but not in Q's degrees of freedom, as in metafor; other zero cells need
no correction. Q is Peto's
heterogeneity statistic sum (O - E)^2 / V - (sum (O - E))^2 / sum V over the tables with V > 0.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from evsynth.stats.linalg import _chi2_sf
from evsynth.stats.options import _level
from evsynth.stats.rma_mh import FixedEffectsResult, _tables, _wald

__all__ = ["rma_peto"]


def rma_peto(
    ai: Sequence[float] | np.ndarray,
    n1i: Sequence[float] | np.ndarray,
    ci: Sequence[float] | np.ndarray,
    n2i: Sequence[float] | np.ndarray,
    level: float = 95,
) -> FixedEffectsResult:
    """Peto's method (metafor ``rma.peto``): log OR = sum(O - E) / sum(V), SE = 1/sqrt(sum V).

    When one outcome never occurs in any table (sum V = 0) the numbers are NaN with a
    message (metafor stops with an error)."""
    alpha = _level(level)
    ai, n1i, ci, n2i, msg = _tables(ai, n1i, ci, n2i)
    bi, di = n1i - ai, n2i - ci
    dz = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
    notes = [msg] if msg else []
    if dz.any():
        n = int(dz.sum())
        notes.append(f"{n} double-zero {'tables' if n > 1 else 'table'} (no information: O - E = V = 0)")
    k = len(ai)  # as metafor, k counts double-zero tables; Q's df count only tables with V > 0
    N = n1i + n2i
    xt, yt = ai + ci, bi + di
    E = xt * n1i / N
    with np.errstate(invalid="ignore", divide="ignore"):
        V = xt * yt * (n1i / N) * (n2i / N) / (N - 1)
    V = np.where(N > 1, V, 0.0)
    sv = float(V.sum())
    nan = float("nan")
    if k == 0 or sv == 0:
        notes.append("one of the two outcomes never occurs in any table: Peto's method cannot be used")
        beta = se = nan
    else:
        beta = float((ai - E).sum() / sv)
        se = float(1 / np.sqrt(sv))
    zval, pval, lb, ub = _wald(beta, se, alpha)
    pos = V > 0
    k_yi = int(pos.sum())
    if k_yi > 1:
        d = ai[pos] - E[pos]
        q = max(0.0, float((d**2 / V[pos]).sum() - d.sum() ** 2 / V[pos].sum()))
        df = k_yi - 1
        qp, i2, h2 = float(_chi2_sf(q, df)), max(0.0, 100 * (q - df) / q), q / df
    else:
        q, df, qp, i2, h2 = 0.0, max(k_yi - 1, 0), 1.0, 0.0, 1.0
    return FixedEffectsResult(
        method="PETO", measure="OR", estimate=beta, se=se, zval=zval, pval=pval, ci_lb=float(lb),
        ci_ub=float(ub), exp_estimate=float(np.exp(beta)), exp_ci_lb=float(np.exp(lb)),
        exp_ci_ub=float(np.exp(ub)), q=q, q_df=float(df), q_pval=qp, i2=i2, h2=h2, k=k, k_yi=k_yi,
        level=float(level), message="; ".join(notes),
    )  # fmt: skip
