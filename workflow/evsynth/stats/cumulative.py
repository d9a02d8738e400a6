"""Cumulative meta-analysis (metafor R/cumul.rma.uni.r)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from evsynth.stats.batch import _na_note, _subsets_frame
from evsynth.stats.options import _clean, _level, _norm_method, _norm_test


def cumulative(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    order: Sequence[int] | np.ndarray | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
) -> pd.DataFrame:
    """Cumulative meta-analysis (metafor R/cumul.rma.uni.r): fit j = 1..k adding studies
    in ``order`` (indices; default the given order). Row j uses the first j studies; the
    first row is metafor's k=1 model (flagged converged=False).

    A study with a missing yi or vi is not added (as :func:`rma` omits it): its row is NaN
    with a message, and later fits say that it was omitted. Memory is O(k) per fit."""
    mth, tst = _norm_method(method), _norm_test(test)
    y, v = _clean(yi, vi)
    _level(level)
    k = len(y)
    idx = np.arange(k) if order is None else np.asarray(order, dtype=int)
    if sorted(idx.tolist()) != list(range(k)):
        raise ValueError("argument 'order' must be a permutation of 0..k-1")
    y, v = y[idx], v[idx]
    na = np.isnan(y) | np.isnan(v)
    valid = np.flatnonzero(~na)
    nvalid = np.cumsum(~na)  # studies in fit j (1-based j -> nvalid[j-1])
    nna = np.cumsum(na)
    df = pd.DataFrame(np.nan, index=range(k), columns=list(_subsets_frame(
        y[:0], v[:0], [], [], mth, tst, level).columns))  # fmt: skip
    df["k"] = 0
    df["converged"] = False
    df["message"] = "study has a missing yi or vi: not added"
    if len(valid):
        for n_na in np.unique(nna[valid]):  # same omitted-count message -> one batch
            rows = valid[nna[valid] == n_na]
            fits = _subsets_frame(y[valid], v[valid], nvalid[rows], np.full(len(rows), -1), mth, tst,
                                  level, premsg=_na_note(int(n_na)))  # fmt: skip
            df.iloc[rows] = fits.to_numpy()
    df = df.astype({"k": int, "converged": bool})
    for c in df.columns:
        if c not in ("k", "converged", "message"):
            df[c] = df[c].astype(float)
    df.insert(0, "study", idx)
    df.index = range(1, k + 1)
    return df
