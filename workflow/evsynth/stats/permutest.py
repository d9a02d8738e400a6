"""Permutation tests for (meta-regression) models (metafor R/permutest.rma.uni.r), with the
permuted refits done by the batched engine in one pass per chunk.

Meta-regression: the rows of the model matrix are permuted against (yi, vi); intercept-only
model: the signs of yi are flipped. The permutation distribution includes the observed data.
Two-sided coefficient p-values compare |z| (metafor's p2defn = "abs"), the omnibus p-value QM;
both with metafor's tolerance (10 machine epsilons). When the number of distinct permutations
(k! over the ties among the rows of X, or 2^k sign patterns) is at most ``iter``, the test is
exact (all of them, as metafor switches to); otherwise ``iter`` random ones (the first being the
observed data) from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evsynth.stats.fit import _fit_batch

if TYPE_CHECKING:  # pragma: no cover
    from evsynth.stats.rma import RMAResult

__all__ = ["PermutationTestResult", "permutest"]

_CELLS = 2_000_000  # permuted refits are batched in chunks of at most this many cells
_TOL = 10 * np.finfo(float).eps  # metafor's comptol


@dataclass(frozen=True)
class PermutationTestResult:
    """``coef``: per coefficient estimate, stat (z or t) and permutation p-value ``pval``;
    ``qm``/``qm_pval``: omnibus test and its permutation p-value; ``iterations``: number of
    permutations used (including the observed data), ``exact``: all distinct permutations."""

    coef: pd.DataFrame
    qm: float
    qm_pval: float
    iterations: int
    exact: bool
    message: str = ""


def _n_exact(X: np.ndarray, int_only: bool) -> float:
    k = X.shape[0]
    if int_only:
        return 2.0**k
    _, counts = np.unique(X, axis=0, return_counts=True)
    n = math.factorial(k)
    for c in counts:
        n //= math.factorial(int(c))
    return float(n)


def _exact_orders(X: np.ndarray) -> np.ndarray:
    """Row orders giving each distinct permuted model matrix once (rows with equal moderators
    are interchangeable)."""
    _, label = np.unique(X, axis=0, return_inverse=True)
    label = np.ravel(label)
    seen: dict[tuple, tuple] = {}
    for perm in itertools.permutations(range(len(label))):
        seen.setdefault(tuple(label[list(perm)]), perm)
    return np.array(list(seen.values()), dtype=int)


def permutest(result: "RMAResult", iter: int = 1000, exact: bool | None = None, seed: int | None = None) -> PermutationTestResult:
    """Permutation test of a fitted :func:`evsynth.stats.rma` model (metafor ``permutest``).

    ``iter``: number of permutations for the approximate test (>= 2); ``exact``: force the
    exact test (all distinct permutations; an error if there are more than 10**6), ``False``
    forbids it, ``None`` (default) uses it when it needs at most ``iter`` fits, as metafor."""
    if result.data is None:
        raise ValueError("argument 'result' carries no data: pass a result of evsynth.stats.rma")
    if int(iter) != iter or iter < 2:
        raise ValueError(f"argument 'iter' has invalid value {iter!r}: must be an integer >= 2")
    if not np.isfinite(result.estimate):
        raise ValueError(f"argument 'result' is not a fitted model: {result.message}")
    y = np.asarray(result.data["yi"], dtype=float)
    v = np.asarray(result.data["vi"], dtype=float)
    X = np.asarray(result.data["X"], dtype=float)
    k, p = X.shape
    int_only = p == 1
    n_exact = _n_exact(X, int_only)
    use_exact = (n_exact <= iter) if exact is None else bool(exact)
    if use_exact and n_exact > 1e6:
        raise ValueError(f"argument 'exact': an exact test needs {n_exact:.3g} fits (more than 10**6)")
    rng = np.random.default_rng(seed)
    if int_only:
        if use_exact:
            signs = np.array(list(itertools.product([1.0, -1.0], repeat=k)))
        else:
            signs = rng.choice([-1.0, 1.0], size=(int(iter), k))
            signs[0] = 1.0
        n = len(signs)
    else:
        if use_exact:
            orders = _exact_orders(X)
        else:
            orders = np.array([rng.permutation(k) for _ in range(int(iter))])
            orders[0] = np.arange(k)
        n = len(orders)
    stats_, qms = [], []
    step = max(1, _CELLS // (k * p))
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        if int_only:
            Y = y[None, :] * signs[i0:i1]
            Xp = np.ones((i1 - i0, k, 1))
        else:
            Y = np.broadcast_to(y, (i1 - i0, k)).copy()
            Xp = X[orders[i0:i1]]
        V = np.broadcast_to(v, (i1 - i0, k)).copy()
        out = _fit_batch(Y, V, np.ones((i1 - i0, k)), Xp, result.method, result.test, result.level, want_ci=False)
        stats_.append(out["stat_b"])
        qms.append(out["qm"])
    zp, qmp = np.concatenate(stats_), np.concatenate(qms)
    z_obs = np.asarray(result.beta_stat, dtype=float)
    ok = np.isfinite(zp).all(1)
    failed = int((~ok).sum())
    with np.errstate(invalid="ignore"):
        pvals = np.nanmean(np.abs(zp[ok]) >= np.abs(z_obs) - _TOL, axis=0) if ok.any() else np.full(p, np.nan)
        qm_p = float(np.mean(qmp[ok] >= result.qm - _TOL)) if ok.any() else float("nan")
    coef = pd.DataFrame({"estimate": result.beta, "stat": result.beta_stat, "pval": np.minimum(pvals, 1.0)},
                        index=list(result.coef_names))  # fmt: skip
    msg = f"{failed} permuted fits failed and were left out" if failed else ""
    return PermutationTestResult(coef, float(result.qm), qm_p, int(n), use_exact, msg)
