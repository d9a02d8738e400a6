"""Summary statistics: means and SDs from medians and quantiles, SDs from SEs and CIs, change-score SDs,
imputation of missing summaries (every imputed number flagged with its method) and responders.

Formulas from ``resources/sources/methods-reference.md`` section 4 (read there in metafor
``R/conv.fivenum.r`` and meta ``R/mean-sd-internal.R``). Notation: a = min, q1, m = median, q3, b = max,
n = sample size; xi(n) = 2 Phi^-1((n - 0.375)/(n + 0.25)), eta(n) = 2 Phi^-1((0.75n - 0.125)/(n + 0.25))
(the Phi^-1 forms, as metafor; meta's small-n tables differ slightly).

Scenarios: S1 = (a, m, b), S2 = (q1, m, q3), S3 = all five. ``method``:

* ``wan2014``: Wan means (S1 eq. 2 ``(a+2m+b)/4 + (a-2m+b)/(4n)``, S2 eq. 14 ``(q1+m+q3)/3``, S3 eq. 10
  ``(a+2q1+2m+2q3+b)/8``) and Wan SDs (S1 ``(b-a)/xi``, S2 ``(q3-q1)/eta``, S3
  ``((b-a)/xi + (q3-q1)/eta)/2``).
* ``luo2018``: Luo means (S1 eq. 7 with w = 4/(4 + n^0.75); S2 eq. 11; S3 eq. 15) with Wan SDs.
* ``shi2020``: Luo means with Shi's S3 SD ``w (b-a)/xi + (1-w)(q3-q1)/eta``, w = 1/(1 + 0.07 n^0.6);
  for S1 and S2 Shi's SD is Wan's.

Reference values (metafor ``conv.fivenum`` docs, n = 20): (2, 6, 14) luo2018 -> 6.594468 / 3.211576;
(4, 6, 10) luo2018 -> 6.719500 / 4.787076; (2, 4, 6, 10, 14) shi2020 -> 6.938841 / 3.679435 (tests).
metafor requires n >= 5 (``min_n``); smaller samples give NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri, stdtrit

__all__ = [
    "xi",
    "eta",
    "mean_sd_from_quantiles",
    "sd_from_se",
    "sd_from_ci",
    "change_sd",
    "impute_summary",
    "responders",
    "load_thresholds",
    "METHODS",
]

METHODS = ("wan2014", "luo2018", "shi2020")


def xi(n):
    """xi(n) = 2 Phi^-1((n - 0.375)/(n + 0.25)) (Wan 2014 eq. 7/9)."""
    n = np.asarray(n, dtype=float)
    return 2 * ndtri((n - 0.375) / (n + 0.25))


def eta(n):
    """eta(n) = 2 Phi^-1((0.75 n - 0.125)/(n + 0.25)) (Wan 2014 eq. 15/16)."""
    n = np.asarray(n, dtype=float)
    return 2 * ndtri((0.75 * n - 0.125) / (n + 0.25))


def _arr(x, shape):
    if x is None:
        return np.full(shape, np.nan)
    return np.broadcast_to(np.asarray(x, dtype=float), shape).astype(float)


def mean_sd_from_quantiles(n, *, min=None, q1=None, median=None, q3=None, max=None, method: str = "luo2018",
                           min_n: int = 5):
    """Estimated mean and SD (arrays) from a median with a range and/or an IQR, vectorized.

    Each element uses the richest scenario its non-NaN inputs allow (S3 > S2 > S1); NaN where the median,
    n, or both a range and an IQR are missing, or n < ``min_n``. Returns ``(mean, sd, scenario)`` where
    scenario is an array of ``'S1'``, ``'S2'``, ``'S3'`` or ``''``.
    """
    if method not in METHODS:
        raise ValueError(f"method {method!r}: expected one of {METHODS}")
    shape = np.broadcast_shapes(*[np.shape(v) for v in (n, min, q1, median, q3, max) if v is not None])
    n, a, q1, m, q3, b = (_arr(v, shape) for v in (n, min, q1, median, q3, max))
    ok = ~np.isnan(m) & ~np.isnan(n) & (n >= min_n)
    has_r = ok & ~np.isnan(a) & ~np.isnan(b)
    has_q = ok & ~np.isnan(q1) & ~np.isnan(q3)
    s3, s2, s1 = has_r & has_q, has_q & ~has_r, has_r & ~has_q
    with np.errstate(invalid="ignore", divide="ignore"):
        x, e = xi(n), eta(n)
        sd1 = (b - a) / x
        sd2 = (q3 - q1) / e
        if method == "wan2014":
            m1 = (a + 2 * m + b) / 4 + (a - 2 * m + b) / (4 * n)
            m2 = (q1 + m + q3) / 3
            m3 = (a + 2 * q1 + 2 * m + 2 * q3 + b) / 8
        else:
            w = 4 / (4 + n**0.75)
            m1 = w * (a + b) / 2 + (1 - w) * m
            m2 = (0.7 + 0.39 / n) * (q1 + q3) / 2 + (0.3 - 0.39 / n) * m
            w1 = 2.2 / (2.2 + n**0.75)
            w2 = 0.7 - 0.72 / n**0.55
            m3 = w1 * (a + b) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * m
        if method == "shi2020":
            ws = 1 / (1 + 0.07 * n**0.6)
            sd3 = ws * (b - a) / x + (1 - ws) * (q3 - q1) / e
        else:
            sd3 = 0.5 * ((b - a) / x + (q3 - q1) / e)
    mean = np.select([s3, s2, s1], [m3, m2, m1], np.nan)
    sd = np.select([s3, s2, s1], [sd3, sd2, sd1], np.nan)
    scen = np.select([s3, s2, s1], ["S3", "S2", "S1"], "")
    return mean, sd, scen


def sd_from_se(se, n):
    """SD = SE x sqrt(n) (the SE of a mean)."""
    return np.asarray(se, dtype=float) * np.sqrt(np.asarray(n, dtype=float))


def sd_from_ci(lower, upper, n, level: float = 0.95, dist: str = "t"):
    """SD from a confidence interval of a mean: sqrt(n) (upper - lower) / (2 q), q the ``level`` quantile of
    t with n - 1 df (``dist='t'``, default, right for small samples) or of the normal (``dist='z'``)."""
    n = np.asarray(n, dtype=float)
    p = 0.5 + level / 2
    q = stdtrit(n - 1, p) if dist == "t" else ndtri(p) * np.ones_like(n)
    return np.sqrt(n) * (np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)) / (2 * q)


def change_sd(sd_pre, sd_post, r):
    """SD of the change score: sqrt(sd_pre^2 + sd_post^2 - 2 r sd_pre sd_post)."""
    a = np.asarray(sd_pre, dtype=float)
    b = np.asarray(sd_post, dtype=float)
    return np.sqrt(a**2 + b**2 - 2 * np.asarray(r, dtype=float) * a * b)
