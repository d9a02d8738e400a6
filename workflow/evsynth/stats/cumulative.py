"""Cumulative meta-analysis (metafor R/cumul.rma.uni.r)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from evsynth.stats.batch import _subsets_frame
from evsynth.stats.options import _clean, _norm_method, _norm_test


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
    first row is metafor's k=1 model (flagged converged=False)."""
    mth, tst = _norm_method(method), _norm_test(test)
    y, v = _clean(yi, vi)
    k = len(y)
    idx = np.arange(k) if order is None else np.asarray(order, dtype=int)
    if sorted(idx.tolist()) != list(range(k)):
        raise ValueError("order must be a permutation of 0..k-1")
    y, v = y[idx], v[idx]
    masks = np.tri(k, dtype=bool)
    df = _subsets_frame(y, v, masks, mth, tst, level)
    df.insert(0, "study", idx)
    df.index = range(1, k + 1)
    return df
