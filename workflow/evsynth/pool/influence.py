"""Case diagnostics of each analysis' main fit: metafor's ``influence()`` and the data of its Baujat plot,
one row per study (``results/analyses/<analysis>/influence.csv``, all analyses in
``results/tables/influence.csv``), where the analysis has at least ``influence_min_k`` studies.

The numbers are the engine's (:func:`evsynth.stats.influence`, :func:`evsynth.stats.baujat`): the model is
refitted without each study (same estimator, test and level) - metafor 3.8.1 ``influence.rma.uni`` and
``baujat.rma``. Reference: Viechtbauer W, Cheung MW-L (2010) Outlier and influence diagnostics for
meta-analysis. Res Synth Methods 1:112-125; Baujat B et al. (2002) Stat Med 21:2641-2652.
"""

from __future__ import annotations

import pandas as pd

from evsynth.common.code import code_name
from evsynth.pool.analysis import _model
from evsynth.stats import baujat, influence, rma

__all__ = ["INFLUENCE_COLUMNS", "influence_rows", "influence_skipped"]

#: influence.csv columns, in order (``dfbetas_intrcpt``: the model is intercept-only).
INFLUENCE_COLUMNS = ["analysis", "label", "study", "k", "method", "test", "rstudent", "dffits", "cooks_distance",
                     "cov_r", "tau2_del", "qe_del", "hat", "weight", "dfbetas_intrcpt", "influential", "baujat_x",
                     "baujat_y", "function"]


def influence_skipped(spec: dict, data: pd.DataFrame) -> str:
    """Why the analysis gets no case diagnostics ('' if it does)."""
    min_k = int(spec.get("influence_min_k", 3))
    if _model(spec) != "normal":
        return "no case diagnostics: the binomial-normal GLMM is not a normal-normal model (metafor influence())"
    if len(data) < min_k:
        return (f"no case diagnostics: k = {len(data)} < influence_min_k = {min_k} studies (a refit without one "
                "study needs at least two others)")
    return ""


def influence_rows(name: str, spec: dict, data: pd.DataFrame) -> pd.DataFrame:
    """One row per study of the main fit (``data``: the analysis dataset with ``yi, vi, label, study``)."""
    method, test, level = spec["method"], spec["test"], spec.get("level", 95)
    fit = rma(data["yi"].to_numpy(float), data["vi"].to_numpy(float), method=method, test=test, level=level)
    if not fit.converged:
        return pd.DataFrame(columns=INFLUENCE_COLUMNS)
    inf = influence(fit)
    bj = baujat(fit)
    out = pd.DataFrame({"analysis": name, "label": data["label"].to_numpy(), "study": data["study"].to_numpy(),
                        "k": len(data), "method": method, "test": test})
    out = pd.concat([out, inf.reset_index(drop=True)], axis=1)
    out["baujat_x"], out["baujat_y"] = bj["x"].to_numpy(), bj["y"].to_numpy()
    out["function"] = code_name(influence)
    return out[INFLUENCE_COLUMNS]
