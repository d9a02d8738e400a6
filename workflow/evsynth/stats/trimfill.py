"""Duval and Tweedie's trim-and-fill method, as R metafor's ``trimfill()`` for ``rma.uni`` models.

Duval S, Tweedie R (2000). Biometrics 56:455-463 (the R0, L0 and Q0 estimators of the number of
missing studies; L0 is the default in metafor and here). The steps, in metafor's order:

1. The side with missing studies: the slope of ``yi`` on ``sqrt(vi)`` in a meta-regression with the
   same tau^2 estimator (negative slope: missing on the right; otherwise on the left), unless given.
2. On the working scale (``yi`` negated when the right side is examined), studies sorted by ``yi``;
   iterate: fit the model to all but the ``k0`` largest, centre every ``yi`` on that estimate, rank
   the absolute centred values (ties: first come first), and estimate ``k0`` from the signed ranks;
   round, floor at 0, until ``k0`` no longer changes (at most ``maxiter`` times).
3. The ``k0`` largest studies are mirrored about the last truncated estimate (same variances) and the
   model is refitted to the observed plus the filled studies.

It imports only the engine's own :func:`evsynth.stats.rma.rma`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from evsynth.stats.rma import RMAResult, rma

__all__ = ["TrimFillResult", "trimfill"]


@dataclass(frozen=True)
class TrimFillResult:
    """The refitted model on observed + filled studies, and what was filled."""

    fit: RMAResult
    k0: int
    se_k0: float
    side: str
    estimator: str
    iterations: int
    filled_yi: tuple[float, ...] = field(default_factory=tuple)
    filled_vi: tuple[float, ...] = field(default_factory=tuple)
    p_k0: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {**self.fit.to_dict(), "k0": self.k0, "se_k0": self.se_k0, "side": self.side,
                "estimator": self.estimator, "iterations": self.iterations, "p_k0": self.p_k0}


def _missing(signed_ranks: np.ndarray, k: int, estimator: str) -> tuple[float, float]:
    """Unrounded k0 and its standard error from the signed ranks of the centred values."""
    if estimator == "R0":
        neg = -signed_ranks[signed_ranks < 0]
        longest = neg.max() if neg.size else 0.0  # the run of positive ranks at the top
        k0 = (k - longest) - 1
        return k0, float(np.sqrt(2 * max(0.0, k0) + 2))
    sr = float(signed_ranks[signed_ranks > 0].sum())
    if estimator == "L0":
        k0 = (4 * sr - k * (k + 1)) / (2 * k - 1)
    else:  # Q0
        with np.errstate(invalid="ignore"):
            k0 = k - 0.5 - np.sqrt(2 * k**2 - 4 * sr + 0.25)
    var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0**3 + 27 * k0**2 + 17 * k0 - 18 * k * k0**2
              - 18 * k * k0 + 6 * k**2 * k0) / 24
    with np.errstate(invalid="ignore"):  # a negative variance gives NaN, as R's sqrt() does
        if estimator == "L0":
            return k0, float(4 * np.sqrt(var_sr) / (2 * k - 1))
        return k0, float(2 * np.sqrt(var_sr) / np.sqrt((k - 0.5) ** 2 - k0 * (2 * k - k0 - 1)))


def trimfill(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    side: str | None = None,
    estimator: str = "L0",
    maxiter: int = 100,
) -> TrimFillResult:
    """Trim-and-fill on an intercept-only model of ``yi, vi`` (metafor ``trimfill(rma(yi, vi, method))``).

    ``side``: ``"left"``, ``"right"`` or None (estimated as in step 1 of the module docstring);
    ``estimator``: ``"L0"``, ``"R0"`` or ``"Q0"``. Studies with a missing ``yi`` or ``vi`` are omitted.
    Raises ``ValueError`` for k < 2 or an algorithm that does not settle within ``maxiter`` iterations.
    """
    estimator = estimator.upper()
    if estimator not in ("L0", "R0", "Q0"):
        raise ValueError(f"argument 'estimator' has invalid value {estimator!r}: use L0, R0 or Q0")
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape:
        raise ValueError("yi and vi must have the same length")
    keep = ~(np.isnan(y) | np.isnan(v))
    y, v = y[keep], v[keep]
    k = len(y)
    if k < 2:
        raise ValueError(f"trim-and-fill needs at least 2 studies (k = {k})")
    if side is None:
        slope = rma(y, v, method=method, test=test, level=level, mods=np.sqrt(v)[:, None]).beta[1]
        side = "right" if slope < 0 else "left"
    elif side not in ("left", "right"):
        raise ValueError(f"argument 'side' has invalid value {side!r}: use 'left' or 'right'")
    sign = -1.0 if side == "right" else 1.0
    w = sign * y
    order = np.argsort(w, kind="stable")
    w, vs = w[order], v[order]

    k0, previous, iterations = 0, -1, 0
    se_k0, b = float("nan"), float("nan")
    while k0 != previous:
        previous = k0
        iterations += 1
        if iterations > maxiter:
            raise ValueError(f"trim-and-fill did not converge in {maxiter} iterations")
        b = rma(w[: k - k0], vs[: k - k0], method=method, test=test, level=level).estimate
        centred = w - b
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(centred), kind="stable")] = np.arange(1, k + 1)
        raw, se_k0 = _missing(np.sign(centred) * ranks, k, estimator)
        if np.isnan(raw):  # metafor stops here too ('missing value where TRUE/FALSE needed')
            raise ValueError(f"the {estimator} estimator of the number of missing studies is undefined for these "
                             f"data (square root of a negative number at iteration {iterations})")
        k0 = int(max(0.0, np.round(raw)))  # numpy rounds halves to even, as R's round()
        se_k0 = se_k0 if np.isnan(se_k0) else max(0.0, se_k0)  # R: max(0, NaN) is NaN

    p_k0 = float("nan")
    if estimator == "R0":
        m = np.arange(-1, k0)
        from scipy.special import comb

        p_k0 = float(1 - np.sum(comb(m + 1, m + 1) * 0.5 ** (m + 2)))
    if k0 == 0:
        return TrimFillResult(rma(y, v, method=method, test=test, level=level), 0, se_k0, side, estimator,
                              iterations, p_k0=p_k0)
    filled_w = 2 * b - w[k - k0:]
    filled_y, filled_v = sign * filled_w, vs[k - k0:]
    fit = rma(np.concatenate([y, filled_y]), np.concatenate([v, filled_v]), method=method, test=test, level=level)
    return TrimFillResult(fit, k0, se_k0, side, estimator, iterations, tuple(map(float, filled_y)),
                          tuple(map(float, filled_v)), p_k0)

