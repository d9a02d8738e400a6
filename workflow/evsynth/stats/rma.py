"""Meta-analysis engine: the normal-normal (random/equal-effects) model of metafor's ``rma.uni``.

The separation follows metafor: effect sizes come from ``evsynth.stats.effects`` (escalc),
this module fits the model (``rma``, R/rma.uni.r), and the derived intervals are computed
as metafor's ``predict.rma`` (prediction interval, R/predict.rma.r) and
``confint.rma.uni`` (Q-profile CIs for tau^2, I^2, H^2, R/confint.rma.uni.r) do.

Everything is computed by one batched engine (:func:`_fit_batch`) that works on padded
``(G, K)`` arrays: ``rma`` is the case ``G = 1`` and ``rma_many`` fits all groups of a data
frame simultaneously (Fisher scoring and root finding are vectorized over groups).

Numerical choices (documented deviations from metafor's *defaults*, not from its estimators):

* Iterative estimators (ML, REML, EB) iterate exactly like metafor (Fisher scoring with
  step halving, started at the HE estimate). Convergence is *declared* with metafor's rule
  (``|change| <= 1e-5`` within ``maxiter = 100`` iterations), so we fail where metafor fails,
  but the iteration is then continued to ``|change| <= 1e-12 (1 + tau^2)`` so that the
  reported numbers are the fixed point itself (metafor stops ~1e-6 away from it).
* PM (and EB, whose fixed point is the PM root) and the Q-profile bounds are solved with a
  bracketed Newton iteration to full double precision, where metafor's ``uniroot`` stops at
  ``tol = .Machine$double.eps^0.25``. Fixtures compare against metafor run with tight
  ``control`` settings (see tests/r/README.md).
* When the ML/REML maximum lies on the boundary, metafor's Fisher scoring approaches
  tau^2 = 0 geometrically and stops at a small positive remainder; we report the limit 0
  (checked with the score at 0). The ll0 check of metafor (tau^2 set to 0 when the
  likelihood is larger there) is reproduced.
* Studies with non-positive sampling variances are not supported (metafor allows ``vi = 0``
  for some estimators); such analyses are reported as failed with a reason.
* k = 1: metafor fits the single study (tau^2 = 0); we return those numbers too but flag
  the result ``converged=False`` with the message "k=1: ...", as no meta-analysis happened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from evsynth.stats.fit import _FIELDS, _fit_batch
from evsynth.stats.linalg import _wls
from evsynth.stats.options import _norm_method, _norm_test


@dataclass(frozen=True)
class RMAResult:
    """Result of :func:`rma` (fields as metafor's rma.uni / predict.rma / confint.rma.uni)."""

    estimate: float
    se: float
    stat: float
    pval: float
    ci_lb: float
    ci_ub: float
    pi_lb: float
    pi_ub: float
    tau2: float
    tau2_se: float
    tau2_ci: tuple[float, float]
    tau2_ci_null: bool
    i2: float
    i2_ci: tuple[float, float]
    h2: float
    h2_ci: tuple[float, float]
    q: float
    q_df: float
    q_pval: float
    qm: float
    qm_df: tuple[float, float]
    qm_pval: float
    r2: float
    k: int
    p: int
    df: float
    vt: float
    s2w: float
    method: str
    test: str
    level: float
    iterations: int
    converged: bool
    message: str
    coef_names: tuple[str, ...] = ("intrcpt",)
    beta: tuple[float, ...] = ()
    beta_se: tuple[float, ...] = ()
    beta_stat: tuple[float, ...] = ()
    beta_pval: tuple[float, ...] = ()
    beta_ci_lb: tuple[float, ...] = ()
    beta_ci_ub: tuple[float, ...] = ()
    vb: tuple[tuple[float, ...], ...] = ()  # covariance matrix of the coefficients (metafor vb)
    # the data the model was fitted to (after omitting missing values): yi, vi, X (with intercept)
    data: dict[str, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def predict(self, newmods: Any = None, level: float | None = None) -> pd.DataFrame:
        """Predicted values for new moderator values (metafor ``predict.rma``): see
        :func:`evsynth.stats.predict.predict`."""
        from evsynth.stats.predict import predict

        return predict(self, newmods, level=level)

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2) if self.tau2 == self.tau2 else float("nan")

    def coef_table(self) -> pd.DataFrame:
        """Coefficient table (metafor's print: estimate, se, zval/tval, pval, ci.lb, ci.ub)."""
        return pd.DataFrame(
            {
                "estimate": self.beta,
                "se": self.beta_se,
                "stat": self.beta_stat,
                "pval": self.beta_pval,
                "ci_lb": self.beta_ci_lb,
                "ci_ub": self.beta_ci_ub,
            },
            index=list(self.coef_names),
        )

    def to_dict(self) -> dict[str, Any]:
        """Flat dict; interval tuples become ``*_lb``/``*_ub``; coefficients of a
        meta-regression become ``b_<name>``, ``se_<name>``, ... ."""
        d: dict[str, Any] = {}
        for f in _FIELDS:
            if f in ("tau2_ci_lb", "tau2_ci_ub"):
                d[f] = self.tau2_ci[0 if f.endswith("lb") else 1]
            elif f in ("i2_ci_lb", "i2_ci_ub"):
                d[f] = self.i2_ci[0 if f.endswith("lb") else 1]
            elif f in ("h2_ci_lb", "h2_ci_ub"):
                d[f] = self.h2_ci[0 if f.endswith("lb") else 1]
            elif f in ("qm_df1", "qm_df2"):
                d[f] = self.qm_df[0 if f.endswith("1") else 1]
            elif f == "tau":
                d[f] = self.tau
            else:
                d[f] = getattr(self, f)
        if self.p > 1:
            for j, name in enumerate(self.coef_names):
                d[f"b_{name}"] = self.beta[j]
                d[f"se_{name}"] = self.beta_se[j]
                d[f"stat_{name}"] = self.beta_stat[j]
                d[f"pval_{name}"] = self.beta_pval[j]
                d[f"ci_lb_{name}"] = self.beta_ci_lb[j]
                d[f"ci_ub_{name}"] = self.beta_ci_ub[j]
        return d


def _as_mods(mods, k: int) -> tuple[np.ndarray, tuple[str, ...]]:
    if mods is None:
        return np.ones((k, 1)), ("intrcpt",)
    if isinstance(mods, pd.Series):
        mods = mods.to_frame()
    if isinstance(mods, pd.DataFrame):
        names = tuple(str(c) for c in mods.columns)
        M = mods.to_numpy(dtype=float)
    else:
        M = np.asarray(mods, dtype=float)
        if M.ndim == 1:
            M = M[:, None]
        names = tuple(f"mod{j + 1}" for j in range(M.shape[1]))
    if M.shape[0] != k:
        raise ValueError(f"mods has {M.shape[0]} rows but there are {k} studies")
    return np.column_stack([np.ones(k), M]), ("intrcpt",) + names


def _row(out: dict, g: int, key: str):
    val = out[key][g]
    if isinstance(val, np.generic):
        return val.item()
    return val


def _result_from(out, g, method, test, level, names, r2=float("nan"), data=None) -> RMAResult:
    f = lambda key: _row(out, g, key)  # noqa: E731
    return RMAResult(
        estimate=f("estimate"), se=f("se"), stat=f("stat"), pval=f("pval"),
        ci_lb=f("ci_lb"), ci_ub=f("ci_ub"), pi_lb=f("pi_lb"), pi_ub=f("pi_ub"),
        tau2=f("tau2"), tau2_se=f("tau2_se"),
        tau2_ci=(f("tau2_ci_lb"), f("tau2_ci_ub")), tau2_ci_null=bool(f("tau2_ci_null")),
        i2=f("i2"), i2_ci=(f("i2_ci_lb"), f("i2_ci_ub")),
        h2=f("h2"), h2_ci=(f("h2_ci_lb"), f("h2_ci_ub")),
        q=f("q"), q_df=f("q_df"), q_pval=f("q_pval"),
        qm=f("qm"), qm_df=(f("qm_df1"), f("qm_df2")), qm_pval=f("qm_pval"), r2=r2,
        k=int(f("k")), p=int(f("p")), df=f("df"), vt=f("vt"), s2w=f("s2w"),
        method=method, test=test, level=level, iterations=int(f("iterations")),
        converged=bool(f("converged")), message=str(f("message")),
        coef_names=names,
        beta=tuple(float(x) for x in out["beta"][g]),
        beta_se=tuple(float(x) for x in out["se_b"][g]),
        beta_stat=tuple(float(x) for x in out["stat_b"][g]),
        beta_pval=tuple(float(x) for x in out["pval_b"][g]),
        beta_ci_lb=tuple(float(x) for x in out["ci_lb_b"][g]),
        beta_ci_ub=tuple(float(x) for x in out["ci_ub_b"][g]),
        vb=tuple(tuple(float(x) for x in row) for row in out["vb"][g]),
        data=data,
    )  # fmt: skip


def _r2(y, v, X, method, test, level, tau2, converged) -> float:
    """Pseudo R^2 of a meta-regression as metafor computes it (R/rma.uni.r, r2def = "1")."""
    if not converged:
        return float("nan")
    k = len(y)
    if method == "FE":
        if np.ptp(y) == 0:
            return 0.0
        # adjusted R^2 of the weighted lm(yi ~ X, weights = 1/vi)
        w = 1 / v
        _, _, r = _wls(X[None], y[None], w[None])
        rss = float((w * r[0] ** 2).sum())
        ybar = float((w * y).sum() / w.sum())
        tss = float((w * (y - ybar) ** 2).sum())
        if not tss > 0:  # effects equal up to rounding: nothing to explain (metafor: 0)
            return 0.0
        r2 = 1 - rss / tss
        adj = 1 - (1 - r2) * (k - 1) / (k - X.shape[1])
        return max(0.0, 100 * adj)
    out0 = _fit_batch(y[None], v[None], np.ones((1, k)), np.ones((1, k, 1)), method, test, level,
                      want_ci=False)  # fmt: skip
    if not out0["converged"][0]:
        return float("nan")
    t_re = float(out0["tau2"][0])
    if t_re == 0:
        return 0.0
    return max(0.0, 100 * (t_re - tau2) / t_re)


def rma(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    mods: np.ndarray | pd.DataFrame | None = None,
) -> RMAResult:
    """Fit the normal-normal meta-analysis model (metafor R/rma.uni.r).

    ``method``: FE (alias EE), DL, REML, ML, PM, HS, SJ, HE, EB.  ``test``: "z", "knha"
    (Knapp-Hartung, t with k-p df), "adhoc" (KH with the scale factor floored at 1), "t".
    ``mods``: moderators (2-D array or DataFrame); an intercept is added. Pairs with a
    missing yi/vi (or moderator) are omitted, as metafor's na.omit does.
    The prediction interval is reported for intercept-only models (R/predict.rma.r);
    tau^2, I^2 and H^2 CIs are Q-profile CIs (R/confint.rma.uni.r; not for FE models).
    """
    mth, tst = _norm_method(method), _norm_test(test)
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape:
        raise ValueError("yi and vi must have the same length")
    X, names = _as_mods(mods, len(y))
    keep = ~(np.isnan(y) | np.isnan(v) | np.isnan(X).any(1))
    pre = ""
    if not keep.all():
        n = int((~keep).sum())
        pre = f"{n} {'studies' if n > 1 else 'study'} with NAs omitted"
    y, v, X = y[keep], v[keep], X[keep]
    out = _fit_batch(y[None], v[None], np.ones((1, len(y))), X[None], mth, tst, level,
                     premsg=np.array([pre], dtype=object))  # fmt: skip
    r2 = float("nan")
    if X.shape[1] > 1:
        r2 = _r2(y, v, X, mth, tst, level, float(out["tau2"][0]), bool(out["converged"][0]))
    return _result_from(out, 0, mth, tst, level, names, r2=r2, data={"yi": y, "vi": v, "X": X})
