"""tau^2 estimators of metafor's rma.uni (R/rma.uni.r, "heterogeneity estimation"), vectorized
over groups: FE, DL, HS, SJ, HE, PM, and the Fisher scoring loop of ML, REML and EB."""

from __future__ import annotations

import numpy as np

from evsynth.stats.linalg import _p1_traces, _Ptraces, _q_root, _qe, _wls, _wls1, _xdx

# metafor's control defaults (R/rma.uni.r)
_THRESHOLD = 1e-5  # convergence threshold of the Fisher scoring loop
_MAXITER = 100  # maximum number of Fisher scoring iterations
_LL0_TOL = np.finfo(float).eps ** 0.25  # 'con$tol' used in the ll0 check


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
        if int_only:
            _, _, r, sw = _wls1(m[ii], ymc[ii], w)
        else:
            _, _, r = _wls(X[ii], ymc[ii], w)
        Py = w * r
        if method == "EB":
            ki, kpi = k[ii], kp[ii]
            adj = ((Py * r).sum(1) * ki / kpi - ki) / w.sum(1)
        elif method == "ML":
            adj = ((Py**2).sum(1) - w.sum(1)) / (w**2).sum(1)
        elif int_only:
            trP, trPP = _p1_traces(w, sw)
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
        _, _, r = _wls(Xi, y[ii], w)
        u = w * r  # P y
        if method == "ML":
            trP, trPP = w.sum(1), (w**2).sum(1)
        else:
            pt = _Ptraces(Xi, w)
            trP, trPP = pt.tr_P(), pt.tr_PP()
        _, _, ru = _wls(Xi, u, w)  # P u = W r_u, so u'Pu = r_u' W r_u (no cancellation)
        uPu = (w * ru * ru).sum(1)
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
