"""Batched linear algebra of the engine: arrays are (G, K) and model matrices (G, K, p);
the traces of metafor's P matrix, the generalized Q statistic and its root finder, and the
distribution functions as fast ufuncs."""

from __future__ import annotations

import numpy as np
from scipy import special

_EPS = np.finfo(float).eps


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
