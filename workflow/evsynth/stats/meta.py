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
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = [
    "RMAResult",
    "BiasTestResult",
    "SubgroupResult",
    "rma",
    "rma_many",
    "leave1out",
    "cumulative",
    "subgroup_analysis",
    "regtest",
    "ranktest",
    "METHODS",
    "TESTS",
]

METHODS = ("FE", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB")
TESTS = ("z", "knha", "adhoc", "t")
_ALIASES = {"EE": "FE", "CE": "FE", "HKSJ": "knha"}

# metafor's control defaults (R/rma.uni.r)
_THRESHOLD = 1e-5  # convergence threshold of the Fisher scoring loop
_MAXITER = 100  # maximum number of Fisher scoring iterations
_LL0_TOL = np.finfo(float).eps ** 0.25  # 'con$tol' used in the ll0 check
_EPS = np.finfo(float).eps
_PAD_CELLS = 4_000_000  # rma_many pads all groups to the largest k up to this many cells


# ----------------------------------------------------------------------------------------
# small batched linear-algebra helpers: arrays are (G, K) and X is (G, K, p)
# ----------------------------------------------------------------------------------------


def _xdx(X: np.ndarray, d: np.ndarray) -> np.ndarray:
    """X' diag(d) X for every group -> (G, p, p)."""
    if X.shape[2] == 1:
        return (d * X[:, :, 0] ** 2).sum(axis=1)[:, None, None]
    return np.einsum("gkp,gk,gkq->gpq", X, d, X, optimize=True)


def _inv(M: np.ndarray) -> np.ndarray:
    if M.shape[1] == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 / M
    out = np.full_like(M, np.nan)
    ok = np.all(np.isfinite(M), axis=(1, 2))
    if ok.any():
        try:
            out[ok] = np.linalg.inv(M[ok])
        except np.linalg.LinAlgError:  # pragma: no cover - singular groups were screened
            for g in np.flatnonzero(ok):
                try:
                    out[g] = np.linalg.inv(M[g])
                except np.linalg.LinAlgError:
                    pass
    return out


def _tr(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """tr(A B) for (G, p, p) arrays."""
    if A.shape[1] == 1:
        return A[:, 0, 0] * B[:, 0, 0]
    return np.einsum("gpq,gqp->g", A, B)


def _tr4(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """tr(A B A B) for (G, p, p) arrays."""
    if A.shape[1] == 1:
        return (A[:, 0, 0] * B[:, 0, 0]) ** 2
    AB = A @ B
    return np.einsum("gpq,gqp->g", AB, AB)


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Weighted least squares per group: returns (A=(X'WX)^-1, beta, residuals)."""
    if X.shape[2] == 1:
        x = X[:, :, 0]
        wx = w * x
        with np.errstate(divide="ignore", invalid="ignore"):
            a = 1.0 / (wx * x).sum(1)
        b = a * (wx * y).sum(1)
        return a[:, None, None], b[:, None], y - x * b[:, None]
    A = _inv(_xdx(X, w))
    Xty = np.einsum("gkp,gk->gp", X, w * y)
    beta = np.einsum("gpq,gq->gp", A, Xty)
    r = y - np.einsum("gkp,gp->gk", X, beta)
    return A, beta, r


class _Ptraces:
    """Traces involving P = W - W X (X'WX)^-1 X' W for diagonal W (metafor's P matrix)."""

    def __init__(self, X: np.ndarray, w: np.ndarray):
        self.X, self.w = X, w
        self.A = _inv(_xdx(X, w))
        self.C2 = _xdx(X, w**2)

    def tr_P(self) -> np.ndarray:
        return self.w.sum(1) - _tr(self.A, self.C2)

    def tr_PP(self) -> np.ndarray:
        w = self.w
        return (w**2).sum(1) - 2 * _tr(self.A, _xdx(self.X, w**3)) + _tr4(self.A, self.C2)

    def tr_PD(self, d: np.ndarray) -> np.ndarray:
        w = self.w
        return (w * d).sum(1) - _tr(self.A, _xdx(self.X, w**2 * d))

    def tr_PDPD(self, d: np.ndarray) -> np.ndarray:
        w = self.w
        M = _xdx(self.X, w**2 * d)
        return (w**2 * d**2).sum(1) - 2 * _tr(self.A, _xdx(self.X, w**3 * d**2)) + _tr4(self.A, M)

    def tr_PPD(self, d: np.ndarray) -> np.ndarray:
        w = self.w
        Md = _xdx(self.X, w**2 * d)
        return (
            (w**2 * d).sum(1)
            - 2 * _tr(self.A, _xdx(self.X, w**3 * d))
            + _tr(self.A @ self.C2 @ self.A, Md)
        )


def _qe(X, y, v, m, tau2):
    """Generalized Q: y' P(tau2) y with W = 1/(v + tau2) (metafor's .QE.func), and -dQ/dtau2."""
    w = m / (v + tau2[:, None])
    _, _, r = _wls(X, y, w)
    wr = w * r
    return (wr * r).sum(1), (wr**2).sum(1)


def _q_root(X, y, v, m, target, lo, hi, idx, maxit=200):
    """Solve Q(tau2) = target for the groups in idx (Q decreasing and convex in tau2).

    Newton's method started at the left end of the bracket never overshoots for a convex
    decreasing function; bisection is used as a safeguard. Returns (root, converged)."""
    root = np.full(len(idx), np.nan)
    conv = np.zeros(len(idx), bool)
    if len(idx) == 0:
        return root, conv
    Xs, ys, vs, ms, tg = X[idx], y[idx], v[idx], m[idx], target[idx]
    a, b = lo[idx].astype(float).copy(), hi[idx].astype(float).copy()
    x = a.copy()
    act = np.ones(len(idx), bool)
    for _ in range(maxit):
        ii = np.flatnonzero(act)
        if ii.size == 0:
            break
        q, dq = _qe(Xs[ii], ys[ii], vs[ii], ms[ii], x[ii])
        f = q - tg[ii]
        # update bracket
        left = f > 0
        a[ii[left]] = np.maximum(a[ii[left]], x[ii[left]])
        right = f < 0
        b[ii[right]] = np.minimum(b[ii[right]], x[ii[right]])
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = x[ii] + f / dq
        bad = ~np.isfinite(xn) | (xn < a[ii]) | (xn > b[ii])
        mid = np.where(np.isfinite(b[ii]), 0.5 * (a[ii] + b[ii]), 2 * a[ii] + 1)
        xn = np.where(bad, mid, xn)
        step = np.abs(xn - x[ii])
        x[ii] = xn
        tolx = 1e-15 + 1e-12 * np.abs(xn)
        done = (f == 0) | (step <= tolx) | (np.isfinite(b[ii]) & (b[ii] - a[ii] <= tolx))
        conv[ii[done]] = True
        act[ii[done]] = False
    root[conv] = x[conv]
    return root, conv


# fast ufunc versions of the distribution functions used below (the same scipy.special
# routines scipy.stats calls, without its per-call argument checking overhead)
def _norm_isf(p):
    return -special.ndtri(p)


def _norm_sf(x):
    return special.ndtr(-x)


def _t_isf(p, df):
    return -special.stdtrit(df, p)


def _t_sf(x, df):
    return special.stdtr(df, -x)


def _chi2_sf(x, df):
    return special.chdtrc(df, x)


def _chi2_isf(p, df):
    return 2.0 * special.gammainccinv(df / 2.0, p)


def _chi2_ppf(p, df):
    return 2.0 * special.gammaincinv(df / 2.0, p)


def _f_sf(x, dfn, dfd):
    return special.fdtrc(dfn, dfd, x)



def _level(level: float) -> float:
    """metafor's .level(): 95 -> alpha 0.05; 0.95 -> 0.05."""
    if level > 1:
        return (100.0 - level) / 100.0
    if level > 0.5:
        return 1.0 - level
    return float(level)


def _norm_method(method: str) -> str:
    mth = _ALIASES.get(method.upper(), method.upper())
    if mth not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS} (or 'EE')")
    return mth


def _norm_test(test: str) -> str:
    t = test.lower()
    t = "knha" if t == "hksj" else t
    if t not in TESTS:
        raise ValueError(f"unknown test {test!r}; choose from {TESTS}")
    return t


# ----------------------------------------------------------------------------------------
# tau^2 estimators (R/rma.uni.r, "heterogeneity estimation")
# ----------------------------------------------------------------------------------------


def _estimate_tau2(method, X, y, v, m, k, p, fit):
    """Return (tau2, se_tau2, converged, message, iterations) arrays for the groups in fit."""
    G = y.shape[0]
    tau2 = np.zeros(G)
    se = np.full(G, np.nan)
    conv = np.ones(G, bool)
    msg = np.array([""] * G, dtype=object)
    iters = np.zeros(G, int)
    kp = (k - p).astype(float)
    ymc = y - (y * m).sum(1, keepdims=True) / np.maximum(k, 1)[:, None] * m  # centred (metafor Ymc)

    if method == "FE":
        return tau2, se, conv, msg, iters

    if method in ("HS", "DL"):
        w = m / v
        pt = _Ptraces(X, w)
        _, _, r = _wls(X, ymc, w)
        rss = (w * r * r).sum(1)
        trP = pt.tr_P()
        if method == "HS":
            t = (rss - k) / w.sum(1)
        else:
            t = (rss - kp) / trP
        t = np.maximum(0.0, t)
        trPP = pt.tr_PP()
        if method == "HS":
            se = np.sqrt(1 / w.sum(1) ** 2 * (2 * kp + 4 * t * trP + 2 * t**2 * trPP))
        else:
            se = np.sqrt(1 / trP**2 * (2 * kp + 4 * t * trP + 2 * t**2 * trPP))
        return t, se, conv, msg, iters

    if method == "SJ":
        ybar = (y * m).sum(1) / k
        t0 = (((y - ybar[:, None]) ** 2) * m).sum(1) / k  # var(y) (k-1)/k
        w = m / (v + t0[:, None])
        pt = _Ptraces(X, w)
        _, _, r = _wls(X, ymc, w)
        rss = (w * r * r).sum(1)
        t = np.maximum(0.0, t0 * rss / kp)
        se = np.sqrt(
            t0**2 / kp**2 * (2 * pt.tr_PDPD(v) + 4 * t * pt.tr_PPD(v) + 2 * t**2 * pt.tr_PP())
        )
        return t, se, conv, msg, iters

    # HE (also the starting value of ML / REML / EB)
    pt0 = _Ptraces(X, m.astype(float))
    _, _, r0 = _wls(X, ymc, m.astype(float))
    rss0 = (r0 * r0 * m).sum(1)
    trPV = pt0.tr_PD(v * m)
    he = (rss0 - trPV) / kp

    if method == "HE":
        t = np.maximum(0.0, he)
        se = np.sqrt(1 / kp**2 * (2 * pt0.tr_PDPD(v * m) + 4 * t * trPV + 2 * t**2 * kp))
        return t, se, conv, msg, iters

    if method == "PM":
        target = kp.copy()
        # metafor: tau2.max = max(100, 10 * mad(yi)^2)
        yy = np.where(m > 0, y, np.nan)
        med = np.nanmedian(yy, axis=1)
        mad = 1.4826 * np.nanmedian(np.abs(yy - med[:, None]), axis=1)
        tmax = np.maximum(100.0, 10 * mad**2)
        q0, _ = _qe(X, y, v, m, np.zeros(G))
        qmax, _ = _qe(X, y, v, m, tmax)
        t = np.zeros(G)
        need = fit & (q0 >= target)
        toohigh = need & (qmax > target)
        conv[toohigh] = False
        msg[toohigh] = (
            "PM: Q(tau2.max) still above k-p (metafor: 'Value of tau2.max too low'); "
            "no estimate"
        )
        t[toohigh] = np.nan
        idx = np.flatnonzero(need & ~toohigh)
        root, ok = _q_root(X, y, v, m, target, np.zeros(G), tmax, idx)
        t[idx] = root
        conv[idx[~ok]] = False
        msg[idx[~ok]] = "PM: root finding for tau^2 did not converge"
        w = m / (v + t[:, None])
        se = np.sqrt(2 * k**2 / kp / w.sum(1) ** 2)
        return t, se, conv, msg, iters

    # ML / REML / EB: metafor's Fisher scoring loop, vectorized over groups. It decides
    # convergence exactly as metafor does (first |change| <= 1e-5 within 100 iterations).
    t = np.maximum(0.0, he)
    active = fit.copy()
    int_only = p == 1 and np.array_equal(X[:, :, 0], m)
    it = 0
    while active.any() and it <= _MAXITER:
        it += 1
        ii = np.flatnonzero(active)
        ti = t[ii]
        w = m[ii] / (v[ii] + ti[:, None])
        if int_only:  # closed-form traces for X = 1 (same quantities, fewer operations)
            sw = w.sum(1)
            yw = ymc[ii]
            r = yw - ((w * yw).sum(1) / sw)[:, None]
        else:
            _, _, r = _wls(X[ii], ymc[ii], w)
        Py = w * r
        if method == "EB":
            ki, kpi = k[ii], kp[ii]
            adj = ((Py * r).sum(1) * ki / kpi - ki) / w.sum(1)
        elif method == "ML":
            adj = ((Py**2).sum(1) - w.sum(1)) / (w**2).sum(1)
        elif int_only:
            w2 = w * w
            sw2 = w2.sum(1)
            trP = sw - sw2 / sw
            trPP = sw2 - 2 * (w2 * w).sum(1) / sw + (sw2 / sw) ** 2
            adj = ((Py**2).sum(1) - trP) / trPP
        else:
            pt = _Ptraces(X[ii], w)
            adj = ((Py**2).sum(1) - pt.tr_P()) / pt.tr_PP()
        adj = np.where(np.isnan(adj), 0.0, adj)
        # step halving: while tau2 + adj < 0, adj <- adj / 2. At tau2 = 0 metafor halves until
        # adj underflows to -0.0, i.e. the step is 0: take that shortcut.
        adj = np.where((ti == 0) & (adj < 0), 0.0, adj)
        for _ in range(1100):
            bad = ti + adj < 0
            if not bad.any():
                break
            adj = np.where(bad, adj / 2, adj)
        tn = ti + adj
        t[ii] = tn
        iters[ii] = it
        stopped = np.abs(tn - ti) <= _THRESHOLD
        if it > _MAXITER:
            conv[ii] = False
            msg[ii] = (
                f"{method}: Fisher scoring did not converge within {_MAXITER} iterations "
                f"(metafor threshold {_THRESHOLD:g})"
            )
            active[ii] = False
        else:
            active[ii[stopped]] = False
    if method in ("ML", "REML"):
        t = _polish_ml(method, X, ymc, v, m, t, fit & conv, msg)

    if method == "EB":
        idx = np.flatnonzero(fit & conv)
        q0, _ = _qe(X, y, v, m, np.zeros(G))
        pos = idx[q0[idx] >= kp[idx]]
        t[idx] = 0.0
        root, ok = _q_root(X, y, v, m, kp, np.zeros(G), np.full(G, np.inf), pos)
        t[pos] = np.where(ok, root, t[pos])
        w = m / (v + t[:, None])
        se = np.sqrt(2 * k**2 / kp / w.sum(1) ** 2)
    else:
        # Fisher scoring approaches a boundary maximum (tau2 = 0) only geometrically (step
        # halving); when the score at 0 points outside and the iterate is negligibly small,
        # report the limit 0 exactly instead of a ~1e-13 remainder.
        near0 = fit & conv & (t > 0) & (t < 1e-9 * (v * m).sum(1) / k)
        if near0.any():
            ii = np.flatnonzero(near0)
            w0 = m[ii] / v[ii]
            _, _, r0_ = _wls(X[ii], ymc[ii], w0)
            Py0 = w0 * r0_
            if method == "ML":
                score0 = (Py0**2).sum(1) - w0.sum(1)
            else:
                score0 = (Py0**2).sum(1) - _Ptraces(X[ii], w0).tr_P()
            t[ii[score0 <= 0]] = 0.0
        # metafor's ll0 check: is the (restricted) log-likelihood larger at tau2 = 0?
        chk = fit & conv & (t > _THRESHOLD)
        if chk.any():
            ii = np.flatnonzero(chk)
            ll0 = _loglik(method, X[ii], y[ii], v[ii], m[ii], np.zeros(len(ii)), k[ii], p)
            ll1 = _loglik(method, X[ii], y[ii], v[ii], m[ii], t[ii], k[ii], p)
            reset = ll0 - ll1 > _LL0_TOL
            t[ii[reset]] = 0.0
            for g in ii[reset]:
                msg[g] = (
                    "Fisher scoring may have been stuck at a local maximum; tau^2 set to 0 "
                    "(as metafor does)"
                )
        w = m / (v + t[:, None])
        if method == "ML":
            se = np.sqrt(2 / (w**2).sum(1))
        else:
            se = np.sqrt(2 / _Ptraces(X, w).tr_PP())
    t = np.where(conv, np.maximum(0.0, t), np.nan)
    se = np.where(conv, se, np.nan)
    return t, se, conv, msg, iters


def _polish_ml(method, X, y, v, m, t, idx_mask, msg, maxit: int = 60):
    """Newton iterations on the ML/REML score from metafor's stopping value, to the fixed
    point of its Fisher scoring (metafor stops |change| <= 1e-5 away from it).

    score  S = (y'PPy - tr(P)) / 2          (ML: tr(P) -> sum(w))
    dS/dt2   = tr(PP)/2 - y'PPPy            (ML: tr(PP) -> sum(w^2))
    A Fisher step is used where the observed information is not positive."""
    t = t.copy()
    act = idx_mask.copy()
    for _ in range(maxit):
        ii = np.flatnonzero(act)
        if ii.size == 0:
            break
        ti = t[ii]
        Xi = X[ii]
        w = m[ii] / (v[ii] + ti[:, None])
        A, _, r = _wls(Xi, y[ii], w)
        u = w * r  # P y
        if method == "ML":
            trP, trPP = w.sum(1), (w**2).sum(1)
        else:
            pt = _Ptraces(Xi, w)
            trP, trPP = pt.tr_P(), pt.tr_PP()
        xwu = np.einsum("gkp,gk->gp", Xi, w * u)
        uPu = (w * u * u).sum(1) - np.einsum("gp,gpq,gq->g", xwu, A, xwu)
        score = 0.5 * ((u * u).sum(1) - trP)
        info = uPu - 0.5 * trPP  # = -dS/dt2
        step = np.where(info > 0, score / info, score / (0.5 * trPP))
        tn = ti + step
        at0 = tn < 0
        tn = np.where(at0, 0.0, tn)
        done = (np.abs(tn - ti) <= 1e-14 * (1.0 + ti)) | (at0 & (ti == 0))
        t[ii] = tn
        act[ii[done]] = False
    for g in np.flatnonzero(act):
        msg[g] = (msg[g] + "; " if msg[g] else "") + "polishing of tau^2 did not settle"
    return t


def _loglik(method, X, y, v, m, tau2, k, p):
    """ML or REML log-likelihood (R/rma.uni.r, ll.ML / ll.REML without the |X'X| term)."""
    w = m / (v + tau2[:, None])
    A, _, r = _wls(X, y, w)
    rss = (w * r * r).sum(1)
    logv = (np.log(np.where(m > 0, v + tau2[:, None], 1.0))).sum(1)
    if method == "ML":
        return -0.5 * k * np.log(2 * np.pi) - 0.5 * logv - 0.5 * rss
    logdet = np.linalg.slogdet(_xdx(X, w))[1]
    return -0.5 * (k - p) * np.log(2 * np.pi) - 0.5 * logv - 0.5 * logdet - 0.5 * rss


# ----------------------------------------------------------------------------------------
# the batched engine
# ----------------------------------------------------------------------------------------

_FIELDS = [
    "estimate", "se", "stat", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub",
    "tau2", "tau", "tau2_se", "tau2_ci_lb", "tau2_ci_ub", "tau2_ci_null",
    "i2", "i2_ci_lb", "i2_ci_ub", "h2", "h2_ci_lb", "h2_ci_ub",
    "q", "q_df", "q_pval", "qm", "qm_df1", "qm_df2", "qm_pval", "r2",
    "k", "p", "df", "vt", "s2w", "method", "test", "level", "iterations", "converged", "message",
]  # fmt: skip


def _fit_batch(
    y: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    X: np.ndarray,
    method: str,
    test: str,
    level: float,
    premsg: np.ndarray | None = None,
    want_ci: bool = True,
) -> dict[str, np.ndarray]:
    """Fit G models at once. y, v, m: (G, K); X: (G, K, p) with the intercept in column 0.

    Padded cells must have m = 0 (their y/X are zeroed here and v set to 1)."""
    with np.errstate(all="ignore"):
        return _fit_batch_impl(y, v, m, X, method, test, level, premsg, want_ci)


def _fit_batch_impl(y, v, m, X, method, test, level, premsg, want_ci):
    G, K = y.shape
    p = X.shape[2]
    m = m.astype(float)
    y = np.where(m > 0, y, 0.0)
    v = np.where(m > 0, v, 1.0)
    X = X * m[:, :, None]
    k = m.sum(1)
    alpha = _level(level)
    kp = k - p
    fe = method == "FE"
    msg = np.array([""] * G, dtype=object) if premsg is None else premsg.astype(object).copy()

    # --- screening (metafor stops with an error in these cases; we report per group) ---
    fail = np.zeros(G, bool)
    k1 = (k == 1) & (p == 1)
    bad_v = ((m > 0) & ~(v > 0)).any(1) | ~np.isfinite(np.where(m > 0, v, 1.0)).all(1)
    bad_y = ~np.isfinite(np.where(m > 0, y, 0.0)).all(1)
    for cond, text in [
        (k == 0, "k=0: no studies"),
        (bad_y, "non-finite effect sizes"),
        (bad_v, "non-positive or non-finite sampling variances are not supported"),
    ]:
        new = cond & ~fail
        msg[new] = [text if not s else f"{s}; {text}" for s in msg[new]]
        fail |= cond
    toofew = ~fail & ~k1 & ((k < p) if fe else (k < p + 1))
    msg[toofew] = [
        (f"{s}; " if s else "")
        + f"k={int(kk)}: number of parameters to be estimated is larger than the number of studies"
        for s, kk in zip(msg[toofew], k[toofew])
    ]
    fail |= toofew
    if p > 1:
        XtX = _xdx(X, m)
        ev = np.full(G, np.nan)
        okx = ~fail & np.isfinite(XtX).all(axis=(1, 2))
        if okx.any():
            ev[okx] = np.linalg.eigvalsh(XtX[okx]).min(axis=1)
        sing = ~fail & ~(ev >= 1e-7)
        msg[sing] = "model matrix not of full rank"
        fail |= sing
    fit = ~fail & ~k1

    # --- tau^2 ---
    tau2, tau2_se, conv, tmsg, iters = _estimate_tau2(
        method, X, y, v, m, np.maximum(k, 1), p, fit
    )
    for g in np.flatnonzero(fit & (tmsg != "")):
        msg[g] = f"{msg[g]}; {tmsg[g]}" if msg[g] else tmsg[g]
    good = fit & conv
    tau2 = np.where(good, tau2, np.nan)
    tau2_se = np.where(good & ~fe, tau2_se, np.nan)
    if k1.any():  # metafor's k = 1 model: tau2 = 0, test = "z", Q = 0
        tau2[k1] = 0.0
        msg[k1] = [
            (f"{s}; " if s else "")
            + "k=1: a single study; tau^2 is not estimable (set to 0 as metafor does)"
            for s in msg[k1]
        ]
    ok = good | k1
    t0 = np.where(ok, tau2, 0.0)

    # --- fixed effects (R/rma.uni.r, "model fitting") ---
    w = m / (v + t0[:, None])
    A, beta, r = _wls(X, y, w)
    rss = (w * r * r).sum(1)
    use_t = np.isin(test, ("knha", "adhoc", "t")) & ~k1
    if test in ("knha", "adhoc"):
        with np.errstate(divide="ignore", invalid="ignore"):
            s2w = np.where(rss <= _EPS, 0.0, rss / kp)
        if test == "adhoc":
            s2w = np.maximum(s2w, 1.0)
        s2w = np.where(k1, 1.0, s2w)
    else:
        s2w = np.ones(G)
    vb = A * s2w[:, None, None]
    se_b = np.sqrt(np.diagonal(vb, axis1=1, axis2=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat_b = beta / se_b
    ddf = np.where(use_t, kp, np.nan)
    with np.errstate(invalid="ignore"):
        if test == "z":
            crit = np.full(G, _norm_isf(alpha / 2))
            pval_b = 2 * _norm_sf(np.abs(stat_b))
        else:
            dd = np.where(ddf > 0, ddf, np.nan)
            crit = np.where(use_t, _t_isf(alpha / 2, dd), _norm_isf(alpha / 2))
            pval_b = np.where(
                use_t[:, None],
                2 * _t_sf(np.abs(stat_b), dd[:, None]),
                2 * _norm_sf(np.abs(stat_b)),
            )
    ci_lb_b = beta - crit[:, None] * se_b
    ci_ub_b = beta + crit[:, None] * se_b

    # omnibus test of moderators (all coefficients but the intercept; the intercept if p = 1)
    btt = slice(1, p) if p > 1 else slice(0, 1)
    mdf = p - 1 if p > 1 else 1
    bb = beta[:, btt]
    with np.errstate(invalid="ignore", divide="ignore"):
        qm = np.einsum("gp,gpq,gq->g", bb, _inv(vb[:, btt, btt]), bb)
        if test == "z":
            qm_df2 = np.full(G, np.nan)
            qm_p = _chi2_sf(qm, mdf)
        else:
            qm = np.where(use_t, qm / mdf, qm)
            qm_df2 = np.where(use_t, kp, np.nan)
            qm_p = np.where(
                use_t, _f_sf(qm, mdf, np.where(kp > 0, kp, np.nan)), _chi2_sf(qm, mdf)
            )

    # --- heterogeneity test, I^2, H^2 (always inverse-variance, W = 1/vi) ---
    w0 = m / v
    pt0 = _Ptraces(X, w0)
    _, _, r0 = _wls(X, y, w0)
    qe = np.maximum(0.0, (w0 * r0 * r0).sum(1))
    trP0 = pt0.tr_P()
    with np.errstate(invalid="ignore", divide="ignore"):
        qe_p = _chi2_sf(qe, np.where(kp > 0, kp, np.nan))
        vt = kp / trP0
        if fe:
            i2 = np.maximum(0.0, 100 * (qe - kp) / qe)
            h2 = qe / kp
        else:
            i2 = 100 * t0 / (vt + t0)
            h2 = t0 / vt + 1
    sat = k <= p
    qe, qe_p, i2, h2, vt = (
        np.where(sat, 0.0, qe),
        np.where(sat, 1.0, qe_p),
        np.where(sat, 0.0, i2),
        np.where(sat, 1.0, h2),
        np.where(sat, 0.0, vt),
    )

    # --- prediction interval (R/predict.rma.r; intercept-only models) ---
    if p == 1 and not fe:  # metafor's predict() gives no PI for equal-effects models
        pi_se = np.sqrt(se_b[:, 0] ** 2 + t0)
        pi_lb = beta[:, 0] - crit * pi_se
        pi_ub = beta[:, 0] + crit * pi_se
    else:
        pi_lb = pi_ub = np.full(G, np.nan)

    # --- Q-profile CIs for tau^2, I^2, H^2 (R/confint.rma.uni.r, type = "qp") ---
    t_lb = np.full(G, np.nan)
    t_ub = np.full(G, np.nan)
    ci_null = np.zeros(G, bool)
    if want_ci and not fe:
        cg = good & (kp > 0)
        idx_all = np.flatnonzero(cg)
        if idx_all.size:
            crit_u = np.where(cg, _chi2_isf(alpha / 2, np.where(kp > 0, kp, 1)), np.nan)
            crit_l = np.where(cg, _chi2_ppf(alpha / 2, np.where(kp > 0, kp, 1)), np.nan)
            tmin = np.zeros(G)
            tmax = np.maximum(100.0, np.where(cg, tau2 * 10, 0.0))
            qmin, _ = _qe(X, y, v, m, tmin)
            qmax, _ = _qe(X, y, v, m, tmax)
            # upper bound
            both_low = cg & (qmin < crit_l)
            t_lb[both_low] = 0.0
            t_ub[both_low] = 0.0
            ci_null[both_low] = True
            ub_above = cg & ~both_low & (qmax > crit_l)
            t_ub[ub_above] = tmax[ub_above]
            ub_idx = np.flatnonzero(cg & ~both_low & ~ub_above)
            root, okr = _q_root(X, y, v, m, crit_l, tmin, tmax, ub_idx)
            t_ub[ub_idx] = np.where(okr, root, np.nan)
            # lower bound
            both_high = cg & (qmax > crit_u)
            t_lb[both_high] = tmax[both_high]
            t_ub[both_high] = tmax[both_high]
            lb_zero = cg & ~both_high & (qmin < crit_u)
            t_lb[lb_zero] = 0.0
            lb_idx = np.flatnonzero(cg & ~both_high & ~lb_zero)
            root, okl = _q_root(X, y, v, m, crit_u, tmin, tmax, lb_idx)
            t_lb[lb_idx] = np.where(okl, root, np.nan)
            for g in np.concatenate([ub_idx[~okr], lb_idx[~okl]]):
                msg[g] = (msg[g] + "; " if msg[g] else "") + "Q-profile CI search did not converge"
    with np.errstate(invalid="ignore", divide="ignore"):
        i2_lb = 100 * t_lb / (vt + t_lb)
        i2_ub = 100 * t_ub / (vt + t_ub)
        h2_lb = t_lb / vt + 1
        h2_ub = t_ub / vt + 1

    # --- assemble; failed groups get NaN everywhere plus their message ---
    out = {
        "beta": beta, "se_b": se_b, "stat_b": stat_b, "pval_b": pval_b,
        "ci_lb_b": ci_lb_b, "ci_ub_b": ci_ub_b,
        "estimate": beta[:, 0], "se": se_b[:, 0], "stat": stat_b[:, 0], "pval": pval_b[:, 0],
        "ci_lb": ci_lb_b[:, 0], "ci_ub": ci_ub_b[:, 0], "pi_lb": pi_lb, "pi_ub": pi_ub,
        "tau2": t0, "tau": np.sqrt(t0), "tau2_se": tau2_se,
        "tau2_ci_lb": t_lb, "tau2_ci_ub": t_ub, "tau2_ci_null": ci_null,
        "i2": i2, "i2_ci_lb": i2_lb, "i2_ci_ub": i2_ub,
        "h2": h2, "h2_ci_lb": h2_lb, "h2_ci_ub": h2_ub,
        "q": qe, "q_df": kp.astype(float), "q_pval": qe_p,
        "qm": qm, "qm_df1": np.full(G, float(mdf)), "qm_df2": qm_df2, "qm_pval": qm_p,
        "k": k.astype(int), "p": np.full(G, p), "df": ddf, "vt": vt, "s2w": s2w,
        "iterations": iters,
    }  # fmt: skip
    for key, val in out.items():
        if key in ("k", "p", "tau2_ci_null", "iterations"):
            continue
        if val.ndim == 1:
            out[key] = np.where(ok, val, np.nan)
        else:
            out[key] = np.where(ok[:, None], val, np.nan)
    if k1.any():
        for key in ("tau2_se", "tau2_ci_lb", "tau2_ci_ub", "i2_ci_lb", "i2_ci_ub", "h2_ci_lb",
                    "h2_ci_ub", "df", "qm_df2", "pi_lb", "pi_ub"):  # fmt: skip
            if key in ("pi_lb", "pi_ub"):
                continue  # metafor's k=1 PI equals the CI (tau2 = 0)
            out[key] = np.where(k1, np.nan, out[key])
    out["r2"] = np.full(G, np.nan)  # filled by rma() for meta-regressions
    out["converged"] = good
    out["message"] = msg
    return out


# ----------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------


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


def _result_from(out, g, method, test, level, names, r2=float("nan")) -> RMAResult:
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
    )  # fmt: skip


def _r2(y, v, X, method, test, level, tau2, converged) -> float:
    """Pseudo R^2 of a meta-regression as metafor computes it (R/rma.uni.r, r2def = "1")."""
    if not converged:
        return float("nan")
    k = len(y)
    if method == "FE":
        if np.var(y) == 0:
            return 0.0
        # adjusted R^2 of the weighted lm(yi ~ X, weights = 1/vi)
        w = 1 / v
        _, _, r = _wls(X[None], y[None], w[None])
        rss = float((w * r[0] ** 2).sum())
        ybar = float((w * y).sum() / w.sum())
        tss = float((w * (y - ybar) ** 2).sum())
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
    return _result_from(out, 0, mth, tst, level, names, r2=r2)


def _pad_groups(codes: np.ndarray, ngroups: int, *cols: np.ndarray):
    """Scatter rows into (G, Kmax) arrays by group code (stable order within group)."""
    order = np.argsort(codes, kind="stable")
    c = codes[order]
    counts = np.bincount(c, minlength=ngroups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(c)) - starts[c]
    K = max(1, int(counts.max()) if len(counts) else 1)
    m = np.zeros((ngroups, K))
    m[c, pos] = 1.0
    res = []
    for col in cols:
        a = np.zeros((ngroups, K))
        a[c, pos] = col[order]
        res.append(a)
    return m, res


def _frame_from(out, method, test, level) -> pd.DataFrame:
    d = {}
    for f in _FIELDS:
        if f in ("method", "test", "level"):
            d[f] = {"method": method, "test": test, "level": level}[f]
        else:
            d[f] = out[f]
    df = pd.DataFrame(d)
    df["converged"] = df["converged"].astype(bool)
    df["tau2_ci_null"] = df["tau2_ci_null"].astype(bool)
    return df


def rma_many(
    frame: pd.DataFrame,
    by: str | list[str],
    yi: str = "yi",
    vi: str = "vi",
    method: str = "REML",
    test: str = "z",
    level: float = 95,
) -> pd.DataFrame:
    """One intercept-only ``rma`` per group of ``by``, all groups fitted in one vectorized pass.

    Returns one row per group (sorted by the ``by`` values) with the ``by`` columns and the
    fields of ``RMAResult.to_dict()``. Groups that cannot be fitted (k=1, non-convergence,
    invalid variances) get ``converged=False`` and a ``message`` saying why.
    """
    mth, tst = _norm_method(method), _norm_test(test)
    bys = [by] if isinstance(by, str) else list(by)
    grp = frame.groupby(bys, sort=True, dropna=False)
    codes = grp.ngroup().to_numpy()
    keys = grp.size().reset_index()[bys]
    G = len(keys)
    y = frame[yi].to_numpy(dtype=float)
    v = frame[vi].to_numpy(dtype=float)
    na = np.isnan(y) | np.isnan(v)
    nna = np.bincount(codes[na], minlength=G) if na.any() else np.zeros(G, int)
    pre = np.array(
        [f"{n} {'studies' if n > 1 else 'study'} with NAs omitted" if n else "" for n in nna],
        dtype=object,
    )
    keep = ~na
    ck = codes[keep]
    sizes = np.bincount(ck, minlength=G)
    if G * max(1, int(sizes.max(initial=1))) <= _PAD_CELLS:
        buckets = [np.arange(G)]
    else:
        # very unequal group sizes: pad within a few size classes (powers of two) instead of
        # padding every group to the largest one; still one vectorized fit per size class
        cls = np.ceil(np.log2(np.maximum(sizes, 1))).astype(int)
        buckets = [np.flatnonzero(cls == c) for c in np.unique(cls)]
    parts = []
    for b in buckets:
        local = np.full(G, -1)
        local[b] = np.arange(len(b))
        sel = local[ck] >= 0
        m, (Y, V) = _pad_groups(local[ck][sel], len(b), y[keep][sel], v[keep][sel])
        out = _fit_batch(Y, V, m, m[:, :, None].copy(), mth, tst, level, premsg=pre[b])
        parts.append(_frame_from(out, mth, tst, level).set_index(pd.Index(b)))
    res = pd.concat(parts).sort_index() if len(parts) > 1 else parts[0].reset_index(drop=True)
    res = res.reset_index(drop=True)
    return pd.concat([keys.reset_index(drop=True), res], axis=1)


_L1O_COLS = {
    "estimate": "estimate", "se": "se", "stat": "zval", "pval": "pval", "ci_lb": "ci_lb",
    "ci_ub": "ci_ub", "q": "Q", "q_pval": "Qp", "tau2": "tau2", "i2": "I2", "h2": "H2",
}  # fmt: skip


def _subsets_frame(y, v, masks, method, test, level) -> pd.DataFrame:
    G, K = masks.shape
    Y = np.broadcast_to(y, (G, K)).copy()
    V = np.broadcast_to(v, (G, K)).copy()
    # compact each subset to the left (keeps the original study order)
    order = np.argsort(~masks.astype(bool), axis=1, kind="stable")
    Y = np.take_along_axis(Y, order, 1)
    V = np.take_along_axis(V, order, 1)
    M = np.take_along_axis(masks.astype(float), order, 1)
    out = _fit_batch(Y, V, M, M[:, :, None].copy(), method, test, level)
    df = pd.DataFrame({new: out[old] for old, new in _L1O_COLS.items()})
    df["k"] = out["k"]
    df["converged"] = out["converged"]
    df["message"] = out["message"]
    return df


def _clean(yi, vi):
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape:
        raise ValueError("yi and vi must have the same length")
    return y, v


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


# ----------------------------------------------------------------------------------------
# small-study / publication-bias tests
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BiasTestResult:
    """Egger-type regression test or Begg-Mazumdar rank test."""

    test: str
    k: int
    reported: bool
    reason: str
    stat: float = float("nan")
    pval: float = float("nan")
    df: float = float("nan")
    estimate: float = float("nan")  # regtest: limit estimate; ranktest: Kendall's tau
    ci_lb: float = float("nan")
    ci_ub: float = float("nan")
    model: str = ""
    predictor: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _gate(name: str, k: int, min_k: int | None) -> str | None:
    mk = 10 if min_k is None else int(min_k)
    if k < mk:
        return f"not reported: k < {mk} (k = {k})"
    return None


def regtest(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    model: str = "rma",
    predictor: str = "sei",
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    min_k: int | None = None,
) -> BiasTestResult:
    """Egger's regression test (metafor R/regtest.r).

    ``model="rma"``: mixed-effects meta-regression on the predictor (z or t test of its
    coefficient); ``model="lm"``: weighted least squares with weights 1/vi (classical Egger,
    t with k-2 df). The intercept is the 'limit estimate' (predictor sei or vi).
    Reported only when k >= ``min_k`` (default 10, as meta does)."""
    y, v = _clean(yi, vi)
    keep = ~(np.isnan(y) | np.isnan(v))
    y, v = y[keep], v[keep]
    k = len(y)
    why = _gate("regtest", k, min_k)
    if why:
        return BiasTestResult("regtest", k, False, why, model=model, predictor=predictor)
    if predictor == "sei":
        x = np.sqrt(v)
    elif predictor == "vi":
        x = v
    else:
        raise ValueError("predictor must be 'sei' or 'vi'")
    if k > 0 and np.ptp(x) <= 1e-7 * np.max(np.abs(x)):
        return BiasTestResult(
            "regtest", k, False,
            "not reported: the predictor is constant (all sampling variances equal), so the "
            "model matrix is not of full rank",
            model=model, predictor=predictor,
        )  # fmt: skip
    if model == "rma":
        res = rma(y, v, method=method, test=test, level=level, mods=x[:, None])
        if not res.converged:
            return BiasTestResult("regtest", k, False, f"model not fitted: {res.message}",
                                  model=model, predictor=predictor)  # fmt: skip
        return BiasTestResult(
            "regtest", k, True, "", stat=res.beta_stat[1], pval=res.beta_pval[1], df=res.df,
            estimate=res.beta[0], ci_lb=res.beta_ci_lb[0], ci_ub=res.beta_ci_ub[0],
            model=model, predictor=predictor,
        )  # fmt: skip
    if model == "lm":
        if k < 3:
            return BiasTestResult("regtest", k, False, "k < 3: no residual df", model=model,
                                  predictor=predictor)  # fmt: skip
        X = np.column_stack([np.ones(k), x])
        w = 1 / v
        A, b, r = _wls(X[None], y[None], w[None])
        ddf = k - 2
        s2 = float((w * r[0] ** 2).sum()) / ddf
        se = np.sqrt(np.diag(A[0]) * s2)
        tval = b[0] / se
        pv = 2 * _t_sf(np.abs(tval), ddf)
        crit = _t_isf(_level(level) / 2, ddf)
        return BiasTestResult(
            "regtest", k, True, "", stat=float(tval[1]), pval=float(pv[1]), df=float(ddf),
            estimate=float(b[0, 0]), ci_lb=float(b[0, 0] - crit * se[0]),
            ci_ub=float(b[0, 0] + crit * se[0]), model=model, predictor=predictor,
        )  # fmt: skip
    raise ValueError("model must be 'rma' or 'lm'")


def _kendall_exact_cdf(q: int, n: int) -> float:
    """P(T <= q) for T = number of concordant pairs under independence (R's pkendall)."""
    N = n * (n - 1) // 2
    if q < 0:
        return 0.0
    if q >= N:
        return 1.0
    dist = np.zeros(N + 1)
    dist[0] = 1.0
    top = 0
    for i in range(2, n + 1):
        # convolve with the uniform distribution on 0..i-1 (Mahonian numbers, normalized)
        new = np.zeros(N + 1)
        c = np.cumsum(dist[: top + 1])
        for s in range(top + i):
            hi = min(s, top)
            lo = s - (i - 1)
            new[s] = c[hi] - (c[lo - 1] if lo >= 1 else 0.0)
        top += i - 1
        dist = new / i
    return float(dist[: q + 1].sum())


def _kendall_test(x: np.ndarray, y: np.ndarray, exact: bool = True) -> tuple[float, float]:
    """Kendall's tau-b and two-sided p-value as R's cor.test(method="kendall")."""
    n = len(x)
    tau = float(stats.kendalltau(x, y).statistic)
    ties = min(len(np.unique(x)), len(np.unique(y))) < n
    if exact and not ties and n <= 170:
        q = int(round((tau + 1) * n * (n - 1) / 4))
        if q > n * (n - 1) / 4:
            pp = 1 - _kendall_exact_cdf(q - 1, n)
        else:
            pp = _kendall_exact_cdf(q, n)
        return tau, min(2 * pp, 1.0)
    _, xt = np.unique(x, return_counts=True)
    _, yt = np.unique(y, return_counts=True)
    xt, yt = xt[xt > 1].astype(float), yt[yt > 1].astype(float)
    T0 = n * (n - 1) / 2
    T1 = (xt * (xt - 1)).sum() / 2
    T2 = (yt * (yt - 1)).sum() / 2
    S = tau * math.sqrt((T0 - T1) * (T0 - T2))
    v0 = n * (n - 1) * (2 * n + 5)
    vt_ = (xt * (xt - 1) * (2 * xt + 5)).sum()
    vu = (yt * (yt - 1) * (2 * yt + 5)).sum()
    v1 = (xt * (xt - 1)).sum() * (yt * (yt - 1)).sum()
    v2 = (xt * (xt - 1) * (xt - 2)).sum() * (yt * (yt - 1) * (yt - 2)).sum()
    var_s = (v0 - vt_ - vu) / 18 + v1 / (2 * n * (n - 1)) + v2 / (9 * n * (n - 1) * (n - 2))
    z = S / math.sqrt(var_s)
    return tau, float(2 * min(special.ndtr(z), _norm_sf(z)))


def ranktest(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    min_k: int | None = None,
) -> BiasTestResult:
    """Begg & Mazumdar rank correlation test (metafor R/ranktest.r): Kendall's tau between
    standardized deviates (yi - theta_FE)/sqrt(vi - 1/sum(wi)) and vi; exact p-value
    without ties (R's pkendall), normal approximation with tie correction otherwise.
    Reported only when k >= ``min_k`` (default 10)."""
    y, v = _clean(yi, vi)
    keep = ~(np.isnan(y) | np.isnan(v))
    y, v = y[keep], v[keep]
    k = len(y)
    why = _gate("ranktest", k, min_k)
    if why:
        return BiasTestResult("ranktest", k, False, why)
    if k < 3:
        return BiasTestResult("ranktest", k, False, "k < 3: rank correlation undefined")
    if np.ptp(v) == 0:
        return BiasTestResult(
            "ranktest", k, False,
            "not reported: all sampling variances are equal, so the rank correlation with vi "
            "is undefined",
        )  # fmt: skip
    w = 1 / v
    theta = float((w * y).sum() / w.sum())
    vb = 1 / w.sum()
    ys = (y - theta) / np.sqrt(v - vb)
    tau, pv = _kendall_test(ys, v)
    return BiasTestResult("ranktest", k, True, "", pval=pv, estimate=tau)


def rma_table(results: Iterable[RMAResult]) -> pd.DataFrame:
    """Stack several results' to_dict() into a DataFrame."""
    return pd.DataFrame([r.to_dict() for r in results])
