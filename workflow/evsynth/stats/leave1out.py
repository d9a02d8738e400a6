"""Leave-one-out refits (metafor R/leave1out.rma.uni.r)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from evsynth.stats.batch import _subsets_frame
from evsynth.stats.options import _clean, _norm_method, _norm_test


def leave1out(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
) -> pd.DataFrame:
    """Leave-one-out refits (metafor R/leave1out.rma.uni.r), all k fits in one batch.

    Columns: estimate, se, zval (t under knha), pval, ci_lb, ci_ub, Q, Qp, tau2, I2, H2,
    plus k, converged, message; row i omits study i (index ``-1 .. -k`` like metafor)."""
    mth, tst = _norm_method(method), _norm_test(test)
    y, v = _clean(yi, vi)
    k = len(y)
    masks = ~np.eye(k, dtype=bool)
    df = _subsets_frame(y, v, masks, mth, tst, level)
    df.index = [f"-{i + 1}" for i in range(k)]
    return df
