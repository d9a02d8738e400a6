"""The batched engine: G normal-normal models fitted at once on padded (G, K) arrays
(metafor's rma.uni model fitting, predict.rma's prediction interval and confint.rma.uni's
Q-profile CIs)."""

from __future__ import annotations

import numpy as np

from evsynth.stats.linalg import (
    _EPS, _Ptraces, _chi2_isf, _chi2_ppf, _chi2_sf, _f_sf, _inv, _norm_isf, _norm_sf, _q_root, _qe,
    _t_isf, _t_sf, _wls, _xdx,
)
from evsynth.stats.options import _level
from evsynth.stats.tau2 import _estimate_tau2

_FIELDS = [
    "estimate", "se", "stat", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub",
    "tau2", "tau", "tau2_se", "tau2_ci_lb", "tau2_ci_ub", "tau2_ci_null",
    "i2", "i2_ci_lb", "i2_ci_ub", "h2", "h2_ci_lb", "h2_ci_ub",
    "q", "q_df", "q_pval", "qm", "qm_df1", "qm_df2", "qm_pval", "r2",
    "k", "p", "df", "vt", "s2w", "method", "test", "level", "iterations", "converged", "message",
]  # fmt: skip


def _rows_with(cells: np.ndarray) -> np.ndarray:
    """Rows of a (G, K) boolean array with any True cell (a flat any() first: in the common case
    of no True cell this skips the per-row reduction, which is slow along a short axis)."""
    if not cells.any():
        return np.zeros(cells.shape[0], bool)
    return cells.any(1)


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
    # v is 1 and y is 0 in padded cells (above); each check is one elementwise pass and a flat
    # any() per batch, and is resolved per row only if some cell fails it
    bad_v = _rows_with(~((v > 0) & (v < np.inf)))
    tiny_v = ~bad_v & _rows_with(~np.isfinite(1.0 / v))
    bad_y = _rows_with(~np.isfinite(y))
    for cond, text in [
        (k == 0, "k=0: no studies"),
        (bad_y, "non-finite effect sizes"),
        (bad_v, "non-positive or non-finite sampling variances are not supported"),
        (tiny_v, "a sampling variance below 1/DBL_MAX (~5.6e-309): its weight 1/vi overflows"),
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

    # Knapp-Hartung with a zero scale factor (identical effects, or a perfect fit): metafor
    # reports se = 0 and z = Inf for the coefficients, but QM = NA (its vb is singular)
    kh_zero = np.isin(test, ("knha", "adhoc")) & ok & ~k1 & (s2w == 0)

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

    qm = np.where(kh_zero, np.nan, qm)
    qm_p = np.where(kh_zero, np.nan, qm_p)
    for g in np.flatnonzero(kh_zero):
        msg[g] = (msg[g] + "; " if msg[g] else "") + (
            "Knapp-Hartung scale factor is 0 (no residual variation): QM not computable (NA as in metafor)"
        )

    # --- heterogeneity test, I^2, H^2 (always inverse-variance, W = 1/vi) ---
    w0 = m / v
    pt0 = _Ptraces(X, w0)
    _, _, r0 = _wls(X, y, w0)
    qe = np.maximum(0.0, (w0 * r0 * r0).sum(1))
    q_at0 = qe  # Q(tau^2 = 0) of the Q-profile below: the same numbers (W = 1/vi), computed once
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
            qmin = q_at0
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
    out["vb"] = np.where(ok[:, None, None], vb, np.nan)  # (G, p, p) covariance of the coefficients
    if k1.any():
        for key in ("tau2_se", "tau2_ci_lb", "tau2_ci_ub", "i2_ci_lb", "i2_ci_ub", "h2_ci_lb",
                    "h2_ci_ub", "df", "qm_df2", "pi_lb", "pi_ub"):  # fmt: skip
            if key in ("pi_lb", "pi_ub"):
                continue  # metafor's k=1 PI equals the CI (tau2 = 0)
            out[key] = np.where(k1, np.nan, out[key])
    # a fit whose numbers are not finite did not succeed, whatever the iteration said
    nonfinite = good & ~(np.isfinite(out["estimate"]) & np.isfinite(out["se"]) & np.isfinite(out["tau2"]))
    for g in np.flatnonzero(nonfinite):
        msg[g] = (msg[g] + "; " if msg[g] else "") + (
            "numerical failure: non-finite estimate, SE or tau^2 (sampling variances spanning too many "
            "orders of magnitude?)"
        )
    good = good & ~nonfinite
    out["r2"] = np.full(G, np.nan)  # filled by rma() for meta-regressions
    out["converged"] = good
    out["message"] = msg
    return out
