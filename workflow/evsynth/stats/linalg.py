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
    """Weighted least squares per group: returns (A=(X'WX)^-1, beta, residuals).

    p = 1 is the intercept-only model of this engine (X is the 0/1 mask of real cells and every
    caller passes w = 0 outside it). Where one weight carries all but 1e-6 of the total, the
    weighted mean is taken relative to that study, so that its residual (tiny when its weight dominates) keeps full relative precision: with
    vi = [4.3, 1e-9] the residual of the second study is ~1e-10 and W r ~ 1, which the
    plain formula rounds to 0."""
    if X.shape[2] == 1:
        a, b, r, _ = _wls1(X[:, :, 0], y, w)
        return a[:, None, None], b[:, None], r
    A = _inv(_xdx(X, w))
    Xty = np.einsum("gkp,gk->gp", X, w * y)
    beta = np.einsum("gpq,gq->gp", A, Xty)
    r = y - np.einsum("gkp,gp->gk", X, beta)
    return A, beta, r


_DOMINANT = 1 - 1e-6  # a weight carrying this share of the total makes _wls recentre at its study


def _dominated_rows(w: np.ndarray, sw: np.ndarray) -> np.ndarray:
    """Rows where one weight carries at least _DOMINANT of the row total sw (or sw is NaN).

    The same rows as ``~(w.max(1) < _DOMINANT * sw)``, found with one elementwise comparison and
    a flat any() per batch (a reduction along a short axis 1 costs ~20 times an elementwise
    pass); the per-row any() runs only when some row qualifies."""
    with np.errstate(invalid="ignore", over="ignore"):
        bound = _DOMINANT * sw
        hit = w >= bound[:, None]
        nan = np.isnan(bound)
    if not (hit.any() or nan.any()):
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(hit.any(1) | nan)


def _wls1(x: np.ndarray, y: np.ndarray, w: np.ndarray):
    """_wls of the intercept-only model (x the 0/1 mask, w = 0 outside it): returns
    (1/sum w, weighted mean, residuals, sum w)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sw = w.sum(1)
        a = 1.0 / sw
        b = a * (w * y).sum(1)
        r = y - x * b[:, None]
    # rows where one weight carries all but a 1e-6 share: recentre at that study
    dom = _dominated_rows(w, sw)
    if dom.size:
        xd, wd, yd = x[dom], w[dom], y[dom]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            j = np.argmax(wd, axis=1)
            yref = np.take_along_axis(yd, j[:, None], 1)
            dev = xd * (yd - yref)
            delta = a[dom] * (wd * dev).sum(1)
        b[dom] = yref[:, 0] + delta
        r[dom] = np.where(xd != 0, dev - xd * delta[:, None], yd)
    return a, b, r, sw


def _excl_sums(a: np.ndarray) -> np.ndarray:
    """sum_{j != i} a_j per row, as prefix + suffix sums (no subtraction, so no cancellation
    when one a_i dominates)."""
    z = np.zeros((a.shape[0], 1))
    pre = np.cumsum(np.concatenate([z, a[:, :-1]], 1), 1)
    suf = np.cumsum(np.concatenate([z, a[:, :0:-1]], 1), 1)[:, ::-1]
    return pre + suf


def _p1_traces(w: np.ndarray, sw: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """tr(P) and tr(PP) of the intercept-only model, P = W - w w'/S.

    The textbook expansions tr(P) = S - sum w^2/S and tr(PP) = sum w^2 - 2 sum w^3/S +
    (sum w^2/S)^2 are differences of terms bounded by S and sum w^2; where the result is
    below 1e-4 of that bound (weights spanning many orders of magnitude) or overflowed
    (weights above ~1e102), the row is recomputed by :func:`_p1_traces_stable`. ``sw``: the row
    sums of w if the caller has them."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sw = w.sum(1) if sw is None else sw
        w2 = w * w
        sw2 = w2.sum(1)
        trP = sw - sw2 / sw
        trPP = sw2 - 2 * (w2 * w).sum(1) / sw + (sw2 / sw) ** 2
        bad = ~((trP >= 1e-4 * sw) & (trPP >= 1e-4 * sw2) & np.isfinite(trPP))
    if bad.any():
        trP, trPP = trP.copy(), trPP.copy()
        trP[bad], trPP[bad] = _p1_traces_stable(w[bad])
    return trP, trPP


def _p1_traces_stable(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tr(P), tr(PP) of the intercept-only model without cancellation or overflow.

    P_ii = w_i S_(-i)/S and P_ij = -w_i w_j/S, so tr(P) = sum_i (w_i/S) S_(-i) and
    tr(PP) = sum_i P_ii^2 + 2 sum_(i<j) (w_i (w_j/S))^2 with the weights sorted ascending:
    sums of positive terms, each bounded by the smaller weight squared."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        S = w.sum(1, keepdims=True)
        diag = (w / S) * _excl_sums(w)
        ws = np.sort(w, 1)
        fs2 = (ws / S) ** 2
        after = np.cumsum(fs2[:, ::-1], 1)[:, ::-1] - fs2  # sum_(j>i) in sorted order
        off = 2 * ((ws * np.sqrt(np.maximum(after, 0.0))) ** 2).sum(1)
        return diag.sum(1), (diag**2).sum(1) + off


def _exact_traces(X: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """tr(P), tr(PP) for one group from a complete QR decomposition of W^(1/2) X.

    I - H = N N' with N the orthonormal complement of the column space, so
    P = W^(1/2) N N' W^(1/2), tr(P) = tr(B) and tr(PP) = ||B||_F^2 for B = N' W N: no
    difference of large terms. Used where the fast formulas cancel (see _Ptraces)."""
    real = w > 0
    Xr, wr = X[real], w[real]
    p = Xr.shape[1]
    q, _ = np.linalg.qr(np.sqrt(wr)[:, None] * Xr, mode="complete")
    N = q[:, p:]
    B = N.T @ (wr[:, None] * N)
    return float(np.trace(B)), float((B * B).sum())


class _Ptraces:
    """Traces involving P = W - W X (X'WX)^-1 X' W for diagonal W (metafor's P matrix).

    tr(P) and tr(PP) are differences of large terms when one weight dominates. For the
    intercept-only model they are computed by :func:`_p1_traces`; for meta-regressions a
    group whose fast result lost more than half of its digits (or overflowed) is recomputed
    by :func:`_exact_traces`."""

    def __init__(self, X: np.ndarray, w: np.ndarray):
        self.X, self.w = X, w
        self._A: np.ndarray | None = None
        self._C2: np.ndarray | None = None
        self._p1_val: tuple[np.ndarray, np.ndarray] | None = None
        self._exact: dict[int, tuple[float, float]] = {}

    # computed on first use: tr(P) and tr(PP) of the intercept-only model need neither A nor C2
    @property
    def A(self) -> np.ndarray:
        if self._A is None:
            self._A = _inv(_xdx(self.X, self.w))
        return self._A

    @property
    def C2(self) -> np.ndarray:
        if self._C2 is None:
            self._C2 = _xdx(self.X, self.w**2)
        return self._C2

    @property
    def _p1(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self.X.shape[2] != 1:
            return None
        if self._p1_val is None:
            self._p1_val = _p1_traces(self.w)
        return self._p1_val

    def _fix(self, val: np.ndarray, scale: np.ndarray, which: int) -> np.ndarray:
        bad = ~np.isfinite(val) | (np.abs(val) < 1e-8 * scale)
        bad &= np.isfinite(self.w).all(1) & (self.w.sum(1) > 0)
        if not bad.any():
            return val
        val = val.copy()
        for g in np.flatnonzero(bad):
            if g not in self._exact:
                try:
                    self._exact[g] = _exact_traces(self.X[g], self.w[g])
                except (np.linalg.LinAlgError, ValueError):
                    self._exact[g] = (float("nan"), float("nan"))
            val[g] = self._exact[g][which]
        return val

    def tr_P(self) -> np.ndarray:
        if self._p1 is not None:
            return self._p1[0]
        with np.errstate(over="ignore", invalid="ignore"):
            val = self.w.sum(1) - _tr(self.A, self.C2)
            return self._fix(val, self.w.sum(1), 0)

    def tr_PP(self) -> np.ndarray:
        if self._p1 is not None:
            return self._p1[1]
        w = self.w
        with np.errstate(over="ignore", invalid="ignore"):
            val = (w**2).sum(1) - 2 * _tr(self.A, _xdx(self.X, w**3)) + _tr4(self.A, self.C2)
            return self._fix(val, (w**2).sum(1), 1)

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
