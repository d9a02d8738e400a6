"""Leave-one-out refits (metafor R/leave1out.rma.uni.r)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from evsynth.stats.batch import _na_note, _subsets_frame
from evsynth.stats.options import _clean, _level, _norm_method, _norm_test


def leave1out(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
) -> pd.DataFrame:
    """Leave-one-out refits (metafor R/leave1out.rma.uni.r), batched.

    Columns: estimate, se, zval (t under knha), pval, ci_lb, ci_ub, Q, Qp, tau2, I2, H2,
    plus k, converged, message; row i omits study i (index ``-1 .. -k`` like metafor).
    Studies with a missing yi or vi are omitted from every fit, as :func:`rma` omits them
    (each fit's message says so); their own row is NaN with a message. Memory is O(k) per
    fit: the k fits are batched in chunks (see ``batch._SUBSET_CELLS``)."""
    mth, tst = _norm_method(method), _norm_test(test)
    y, v = _clean(yi, vi)
    _level(level)
    k = len(y)
    na = np.isnan(y) | np.isnan(v)
    valid = np.flatnonzero(~na)
    kv = len(valid)
    fits = _subsets_frame(y[valid], v[valid], np.full(kv, kv), np.arange(kv), mth, tst, level,
                          premsg=_na_note(int(na.sum())))  # fmt: skip
    df = pd.DataFrame(np.nan, index=range(k), columns=fits.columns)
    df["k"] = 0
    df["converged"] = False
    df["message"] = "study has a missing yi or vi: omitted from every fit"
    df.iloc[valid] = fits.to_numpy()
    df = df.astype({"k": int, "converged": bool})
    for c in fits.columns:
        if c not in ("k", "converged", "message"):
            df[c] = df[c].astype(float)
    df.index = [f"-{i + 1}" for i in range(k)]
    return df
