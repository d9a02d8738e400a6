"""Subgroup analysis: separate or common tau^2 and the test for subgroup differences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from evsynth.stats.batch import rma_many
from evsynth.stats.options import _clean, _norm_method, _norm_test
from evsynth.stats.rma import rma


@dataclass(frozen=True)
class SubgroupResult:
    """Per-subgroup fits and the test for subgroup differences."""

    fits: pd.DataFrame
    q_between: float
    df: int
    pval: float
    approach: str
    message: str = ""


def subgroup_analysis(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    tau2: str = "separate",
) -> SubgroupResult:
    """Subgroup analysis.

    ``tau2="separate"`` (default; meta's/RevMan's approach and the one in metafor's docs for
    dat.bcg): a separate model per subgroup, then Q_between = the Wald-type heterogeneity test
    of an equal-effects model fitted to the subgroup estimates with their SEs
    (sum w_g (b_g - b_w)^2, w_g = 1/se_g^2, df = G - 1). A single-study subgroup enters with
    its own estimate and SE (as in meta); subgroups whose model failed are left out (message).
    ``tau2="common"``: one meta-regression with subgroup dummies (common tau^2, metafor's
    ``rma(yi, vi, mods = ~ factor(group))``); Q_between = QM of the dummies (F under knha).
    """
    mth, tst = _norm_method(method), _norm_test(test)
    y, v = _clean(yi, vi)
    g = np.asarray(groups)
    frame = pd.DataFrame({"group": g, "yi": y, "vi": v})
    fits = rma_many(frame, "group", method=mth, test=tst, level=level)
    if tau2 == "separate":
        single = (fits["k"] == 1).to_numpy() & np.isfinite(fits["se"].to_numpy())
        ok = fits["converged"].to_numpy() | single
        notes = []
        if single.any():
            names = ", ".join(str(x) for x in fits.loc[single, "group"])
            notes.append(f"single-study subgroups enter Q_between with their own estimate: {names}")
        if not ok.all():
            bad = ", ".join(str(x) for x in fits.loc[~ok, "group"])
            notes.append(f"subgroups without a fitted model excluded from Q_between: {bad}")
        msg = "; ".join(notes)
        b = fits.loc[ok, "estimate"].to_numpy()
        s = fits.loc[ok, "se"].to_numpy()
        if len(b) < 2:
            return SubgroupResult(fits, float("nan"), 0, float("nan"), "separate",
                                  (msg + "; " if msg else "") + "fewer than 2 fitted subgroups")  # fmt: skip
        fe = rma(b, s**2, method="FE")
        return SubgroupResult(fits, fe.q, len(b) - 1, fe.q_pval, "separate", msg)
    if tau2 == "common":
        levels = list(pd.unique(pd.Series(g).sort_values()))
        D = np.column_stack([(g == lv).astype(float) for lv in levels[1:]])
        res = rma(y, v, method=mth, test=tst, level=level,
                  mods=pd.DataFrame(D, columns=[str(lv) for lv in levels[1:]]))  # fmt: skip
        return SubgroupResult(fits, res.qm, len(levels) - 1, res.qm_pval, "common", res.message)
    raise ValueError("tau2 must be 'separate' or 'common'")
