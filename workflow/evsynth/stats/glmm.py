"""Random-effects pooling of single proportions with a binomial-normal GLMM.

This reproduces R metafor's ``rma.glmm(measure="PLO", xi, ni)`` with its
defaults (``method="ML"``, ``nAGQ=7``; ``R/rma.glmm.r``), which fits

    xi ~ Binomial(ni, ilogit(beta + theta * u_i)),   u_i ~ N(0, 1),

with ``lme4::glmer(cbind(xi, ni - xi) ~ 1 + (1 | study), nAGQ=7)``. No
continuity correction is applied: zero-event and all-event studies enter the
binomial likelihood as they are.

The marginal likelihood is approximated as lme4 does for a scalar random
effect: adaptive Gauss-Hermite quadrature with 7 nodes, centred at each
study's conditional mode of ``u`` and scaled by the curvature there. It is
maximized over ``(beta, theta >= 0)``; ``tau2 = theta**2``. The standard error of
``beta`` comes from the inverse of the numerical Hessian of the deviance in
``(theta, beta)``, as lme4's ``vcov()`` does by default; where that Hessian is
not positive definite, the variance conditional on theta is used (lme4's
fallback). Wald CI and prediction interval use the normal distribution
(metafor's ``test="z"``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import expit, gammaln, ndtr, ndtri, xlogy

from evsynth.stats.effects import _first_bad

__all__ = ["GlmmResult", "pool_proportions_glmm", "glmm_loglik"]

_THETA_MAX = 30.0  # tau above 30 on the logit scale is treated as divergence


@dataclass(frozen=True)
class GlmmResult:
    """Result of :func:`pool_proportions_glmm` (logit scale unless prefixed ``prop``)."""

    estimate: float
    se: float
    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    pi_lb: float
    pi_ub: float
    tau2: float
    tau: float
    loglik: float  # metafor's logLik(): saturated binomial loglik minus half lme4's deviance
    k: int
    level: float
    prop: float
    prop_ci_lb: float
    prop_ci_ub: float
    prop_pi_lb: float
    prop_pi_ub: float
    converged: bool
    message: str
    se_method: str
    loglik_marginal: float = float("nan")  # the maximized (adaptive Gauss-Hermite) marginal loglik

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __getitem__(self, key: str) -> Any:  # dict-style access for callers
        return getattr(self, key)


@lru_cache(maxsize=8)
def _gh_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite nodes and log-weights (weights sum to 1)."""
    z, w = hermegauss(n)
    return z, np.log(w / np.sqrt(2 * np.pi))


def _log_binom_coef(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    return gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)


def _conditional_modes(
    beta: np.ndarray, theta: np.ndarray, x: np.ndarray, n: np.ndarray, b_start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mode of h(u) = log p(x | u) - u^2/2 and the curvature -h'' there.

    ``beta`` and ``theta`` have shape (m, 1) (m parameter points), ``x`` and
    ``n`` shape (k,); results have shape (m, k). Safeguarded Newton: h' is
    strictly decreasing with its root in [-|theta| n, |theta| n], so a
    bisection bracket is kept and used whenever a Newton step leaves it.
    ``b_start`` (shape (k,)) is a starting guess for the random effects
    ``theta * u`` on the logit scale, e.g. the modes at a nearby point.
    """
    bound = np.abs(theta) * n + 1.0
    lo, hi = -bound, bound.copy()
    u = np.zeros(np.broadcast_shapes(beta.shape, x.shape))
    if b_start is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            guess = np.where(theta != 0, b_start / np.where(theta != 0, theta, 1.0), 0.0)
        u = np.clip(u + guess, 0.999 * lo, 0.999 * hi)
    for _ in range(100):
        p = expit(beta + theta * u)
        g = theta * (x - n * p) - u
        lo = np.where(g > 0, u, lo)
        hi = np.where(g < 0, u, hi)
        step = g / (theta * theta * n * p * (1 - p) + 1.0)
        u_new = u + step
        # a tiny step may leave the (then tiny) bracket through rounding alone
        outside = ((u_new < lo) | (u_new > hi)) & (np.abs(step) > 1e-9)
        u = np.where(outside, 0.5 * (lo + hi), u_new)
        # quadratic convergence: once all Newton steps are below 1e-9 the
        # new iterate is exact to machine precision
        if float(np.max(np.abs(step))) < 1e-9:
            break
    p = expit(beta + theta * u)
    return u, theta * theta * n * p * (1 - p) + 1.0


def _loglik_points(
    beta: np.ndarray, theta: np.ndarray, x: np.ndarray, n: np.ndarray, nagq: int, state: dict | None = None
) -> np.ndarray:
    """Adaptive Gauss-Hermite log-likelihood at m parameter points (arrays of shape (m,)).

    ``state``, if given, carries the random-effect modes of the first point
    from call to call to warm-start the mode search (results do not depend on it).
    """
    z, logw = _gh_rule(nagq)
    b = np.asarray(beta, dtype=float)[:, None]
    t = np.asarray(theta, dtype=float)[:, None]
    start = state.get("b") if state is not None else None
    u_hat, a = _conditional_modes(b, t, x, n, start)
    if state is not None and np.all(np.isfinite(u_hat[0])):
        state["b"] = t[0] * u_hat[0]
    sigma = 1.0 / np.sqrt(a)
    u = u_hat[..., None] + sigma[..., None] * z  # (m, k, nagq)
    eta = b[..., None] + t[..., None] * u
    terms = logw + x[:, None] * eta - n[:, None] * np.logaddexp(0.0, eta) - 0.5 * u * u + 0.5 * z * z
    top = terms.max(axis=-1)
    lse = top + np.log(np.exp(terms - top[..., None]).sum(axis=-1))
    return np.sum(np.log(sigma) + lse, axis=-1) + float(np.sum(_log_binom_coef(x, n)))


def glmm_loglik(params: Any, x: Any, n: Any, nagq: int = 7) -> float:
    """Marginal log-likelihood at ``params = (beta, theta)`` by adaptive Gauss-Hermite quadrature.

    ``theta`` is the random-effect SD (tau) on the logit scale. Includes the
    binomial coefficients, so at theta = 0 it equals the fixed-effect binomial
    log-likelihood. ``nagq=1`` gives the Laplace approximation.
    """
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    return float(_loglik_points(np.array([params[0]]), np.array([params[1]]), x, n, nagq)[0])


# offsets (in units of h) for the central-difference gradient and Hessian in 2-d
_STENCIL = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=float)


def _derivatives(f_points, par: np.ndarray, h: float = 1e-4) -> tuple[float, np.ndarray, np.ndarray]:
    """Value, central-difference gradient and Hessian of f at par, from one vectorized call."""
    pts = par + h * _STENCIL
    v = f_points(pts[:, 0], pts[:, 1])
    f0 = v[0]
    g = np.array([(v[1] - v[2]) / (2 * h), (v[3] - v[4]) / (2 * h)])
    hbb = (v[1] - 2 * f0 + v[2]) / h**2
    htt = (v[3] - 2 * f0 + v[4]) / h**2
    hbt = (v[5] - v[6] - v[7] + v[8]) / (4 * h * h)
    return float(f0), g, np.array([[hbb, hbt], [hbt, htt]])


def _newton(f_points, par: np.ndarray, max_iter: int = 100) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, bool, str]:
    """Minimize f over (beta, theta) by damped Newton steps.

    f is even in theta (theta*u with u ~ N(0,1) is symmetric), so theta is left
    unconstrained and |theta| reported. Where the Hessian is not positive
    definite it is shifted (Levenberg-Marquardt style) until it is.
    """
    f0, g, H = _derivatives(f_points, par)
    for _ in range(max_iter):
        scale = max(1.0, float(np.max(np.abs(H))))
        eigval, eigvec = np.linalg.eigh(H)
        eig_min = float(eigval[0])
        lam = 0.0 if eig_min > 1e-10 * scale else 2 * abs(eig_min) + 1e-3 * scale
        step = -np.linalg.solve(H + lam * np.eye(2), g)
        if eig_min < 0:
            # saddle or concave region (e.g. theta = 0 when tau2 > 0): also
            # move along the direction of negative curvature, downhill
            v = eigvec[:, 0]
            step = step + (0.5 if float(g @ v) <= 0 else -0.5) * v
        longest = float(np.max(np.abs(step)))
        if longest > 1.0:  # trust region: at most one logit unit per step
            step = step / longest
        if lam == 0.0 and float(np.max(np.abs(step))) < 1e-8:
            # at the optimum: a Newton step this small is below what the
            # finite-difference gradient can resolve; take it and stop
            cand = par + step
            if float(f_points(cand[:1], cand[1:])[0]) <= f0 + 1e-12 * max(1.0, abs(f0)):
                par = cand
                f0, g, H = _derivatives(f_points, par)
            return par, f0, g, H, True, "converged"
        t = 1.0
        slack = 1e-13 * max(1.0, abs(f0))  # tolerate rounding noise in f
        for _ in range(40):
            cand = par + t * step
            fc = float(f_points(cand[:1], cand[1:])[0])
            if np.isfinite(fc) and fc <= f0 + 1e-4 * t * float(g @ step) + slack:
                break
            t *= 0.5
        else:
            ok = float(np.max(np.abs(g))) < 1e-6
            return par, f0, g, H, ok, "converged" if ok else "line search failed"
        par = cand
        if abs(par[1]) > _THETA_MAX or abs(par[0]) > 50.0:
            f0, g, H = _derivatives(f_points, par)
            return par, f0, g, H, False, f"estimates diverge (|tau| > {_THETA_MAX:g} or |logit| > 50)"
        f0, g, H = _derivatives(f_points, par)
    return par, f0, g, H, False, f"no convergence in {max_iter} Newton steps"


def _nan_result(k: int, level: float, message: str, **known: float) -> GlmmResult:
    nan = float("nan")
    fields = dict(
        estimate=nan, se=nan, zval=nan, pval=nan, ci_lb=nan, ci_ub=nan, pi_lb=nan, pi_ub=nan,
        tau2=nan, tau=nan, loglik=nan, k=k, level=level, prop=nan, prop_ci_lb=nan, prop_ci_ub=nan,
        prop_pi_lb=nan, prop_pi_ub=nan, converged=False, message=message, se_method="none",
    )
    fields.update(known)
    return GlmmResult(**fields)


def _check_inputs(xi: Any, ni: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.atleast_1d(np.asarray(xi, dtype=float))
    n = np.atleast_1d(np.asarray(ni, dtype=float))
    if x.ndim != 1 or n.ndim != 1 or x.shape != n.shape:
        raise ValueError(f"arguments 'xi' and 'ni' must be 1-d of equal length, got {x.shape} and {n.shape}")
    with np.errstate(invalid="ignore"):
        _first_bad("ni", n <= 0, n, "sample sizes must be > 0")
        _first_bad("xi", x < 0, x, "event counts must not be negative")
        _first_bad("xi", x > n, x, "event count larger than 'ni'")
        _first_bad("ni", ~np.isnan(n) & (n != np.round(n)), n, "binomial sample sizes must be whole numbers")
        _first_bad("xi", ~np.isnan(x) & (x != np.round(x)), x, "binomial event counts must be whole numbers")
    return x, n


def pool_proportions_glmm(xi: Any, ni: Any, level: float = 95, nagq: int = 7) -> GlmmResult:
    """Random-effects (binomial-normal) pooled proportion, as metafor ``rma.glmm(measure="PLO")``.

    ``xi`` events out of ``ni`` per study; studies with a missing count are
    omitted (as metafor with na.omit). ``level`` is a percentage (95) or a
    fraction (0.95). Returns estimates on the logit scale plus the
    back-transformed proportion, CI and prediction interval. Problems in
    fitting give ``converged=False`` with a reason instead of raising.
    """
    if int(nagq) != nagq or nagq < 1:
        raise ValueError(f"argument 'nagq' has invalid value {nagq!r}: must be a positive integer")
    nagq = int(nagq)
    x, n = _check_inputs(xi, ni)
    keep = ~(np.isnan(x) | np.isnan(n))
    x, n = x[keep], n[keep]
    k = int(x.size)
    lvl = float(level)
    alpha = (100.0 - lvl) / 100.0 if lvl > 1 else 1.0 - lvl
    if not 0 < alpha < 1:
        raise ValueError(f"argument 'level' has invalid value {level!r}: must be in (0, 100)")
    crit = float(ndtri(1 - alpha / 2))

    if k < 2:
        return _nan_result(k, lvl, f"need at least 2 studies to estimate tau2 (k = {k})")
    if np.all(x == 0):
        return _nan_result(k, lvl, "all studies have zero events: the ML estimate of the logit diverges to -inf")
    if np.all(x == n):
        return _nan_result(k, lvl, "all studies have only events: the ML estimate of the logit diverges to +inf")

    if np.all(n == 1):
        return _fit_single_patients(x, n, k, lvl, crit)
    try:
        return _fit(x, n, k, lvl, crit, nagq)
    except (np.linalg.LinAlgError, FloatingPointError, ValueError, OverflowError) as exc:
        return _nan_result(k, lvl, f"fitting failed: {type(exc).__name__}: {exc}")


def _metafor_loglik(beta: float, theta: float, x: np.ndarray, n: np.ndarray) -> float:
    """metafor's ``logLik()`` of rma.glmm (R/rma.glmm.r: ``ll.QE - deviance(res.ML)/2``): the
    saturated binomial log-likelihood minus half of lme4's deviance, which for a GLMM is the
    sum of squared deviance residuals at the conditional modes of the random effects. Equal to
    the marginal log-likelihood when tau^2 = 0, larger than it when tau^2 > 0."""
    u_hat, _ = _conditional_modes(np.array([[beta]]), np.array([[theta]]), x, n)
    mu = expit(beta + theta * u_hat[0])
    dev = 2 * (xlogy(x, x / (n * mu)) + xlogy(n - x, (n - x) / (n - n * mu)))
    ll_sat = float(np.sum(_log_binom_coef(x, n) + xlogy(x, x / n) + xlogy(n - x, (n - x) / n)))
    return ll_sat - 0.5 * float(dev.sum())


def _finish(beta, se, tau2, k, lvl, crit, loglik, loglik_marginal, converged, message, se_method):
    zval = beta / se
    ci = (beta - crit * se, beta + crit * se)
    pi_half = crit * np.sqrt(se**2 + tau2)
    pi = (beta - pi_half, beta + pi_half)
    return GlmmResult(
        estimate=beta, se=se, zval=float(zval), pval=float(2 * ndtr(-abs(zval))),
        ci_lb=float(ci[0]), ci_ub=float(ci[1]), pi_lb=float(pi[0]), pi_ub=float(pi[1]),
        tau2=float(tau2), tau=float(np.sqrt(tau2)), loglik=float(loglik), k=k, level=lvl,
        prop=float(expit(beta)), prop_ci_lb=float(expit(ci[0])), prop_ci_ub=float(expit(ci[1])),
        prop_pi_lb=float(expit(pi[0])), prop_pi_ub=float(expit(pi[1])),
        converged=bool(converged), message=message, se_method=se_method,
        loglik_marginal=float(loglik_marginal),
    )


def _fit_single_patients(x: np.ndarray, n: np.ndarray, k: int, lvl: float, crit: float) -> GlmmResult:
    """Every study reports one patient (n = 1, e.g. a meta-analysis of case reports).

    With Bernoulli outcomes the marginal likelihood depends on (beta, tau) only through the
    marginal probability E[ilogit(beta + tau u)], so tau^2 is not identifiable: the maximum is
    a ridge. We report its tau^2 = 0 end (where lme4 also stops, with a 'Hessian is
    numerically singular' warning): beta = logit(sum x / k) and the binomial SE
    1/sqrt(k p (1 - p)). metafor 3.8.1 reports the same beta (x = [0,1,1,0,1]: 0.405) and an SE
    from lme4's singular Hessian (0.930 there, 0.913 here)."""
    p = float(x.sum() / k)
    beta = float(np.log(p / (1 - p)))
    se = float(1 / np.sqrt(k * p * (1 - p)))
    ll = float(np.sum(xlogy(x, p) + xlogy(1 - x, 1 - p)))
    msg = ("all studies have n = 1: tau^2 is not identifiable from single-patient binary outcomes; "
           "tau^2 = 0 reported, SE of the pooled logit given tau^2 = 0")  # fmt: skip
    return _finish(beta, se, 0.0, k, lvl, crit, ll, ll, True, msg, "conditional")


def _fit(x: np.ndarray, n: np.ndarray, k: int, lvl: float, crit: float, nagq: int) -> GlmmResult:
    """ML fit of the intercept-only binomial-normal model (see the module docstring)."""

    state: dict = {}

    def negll_points(beta: np.ndarray, theta: np.ndarray) -> np.ndarray:
        return -_loglik_points(beta, theta, x, n, nagq, state)

    # start where lme4 does: theta = 1, beta at the fixed-effect (pooled) logit
    b0 = float(np.log(x.sum() / (n.sum() - x.sum())))
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        par, fmin, grad, H, converged, why = _newton(negll_points, np.array([b0, 1.0]))
        # theta = 0 is always a stationary point (f is even in theta): when
        # Newton ends there, restart once from a large theta to make sure no
        # interior optimum was missed; when it ends inside, compare with the
        # theta = 0 fit, whose beta is the pooled logit b0
        if abs(par[1]) < 1e-3:
            alt = _newton(negll_points, np.array([b0, 2.0]))
            if np.isfinite(alt[1]) and alt[4] and alt[1] < fmin - 1e-9:
                par, fmin, grad, H, converged, why = alt
        else:
            f_zero = float(negll_points(np.array([b0]), np.array([0.0]))[0])
            if f_zero < fmin - 1e-9:
                par = np.array([b0, 0.0])
                fmin, grad, H = _derivatives(negll_points, par)
                converged, why = True, "converged"
    if not np.all(np.isfinite(par)) or not np.isfinite(fmin):
        return _nan_result(k, lvl, f"optimization failed: {why}")

    beta, theta = float(par[0]), float(abs(par[1]))
    msgs: list[str] = [] if converged else [why]

    # standard error of beta: observed information in (beta, theta), as lme4
    # vcov(); Richardson-extrapolated central differences (steps 1e-3, 2e-3)
    # keep both rounding and truncation error near 1e-7 relative
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        at = np.array([beta, theta])
        H = (4 * _derivatives(negll_points, at, 1e-3)[2] - _derivatives(negll_points, at, 2e-3)[2]) / 3
    se_method = "hessian"
    var_beta = float("nan")
    if np.all(np.isfinite(H)):
        try:
            Hinv = np.linalg.inv(H)
            if np.all(np.linalg.eigvalsh(Hinv) > 0):
                var_beta = float(Hinv[0, 0])
        except np.linalg.LinAlgError:
            pass
    if not (np.isfinite(var_beta) and var_beta > 0):
        # lme4's fallback: variance of beta conditional on theta (from PIRLS)
        se_method = "conditional"
        u_hat, _ = _conditional_modes(np.array([[beta]]), np.array([[theta]]), x, n)
        p = expit(beta + theta * u_hat[0])
        w = n * p * (1 - p)
        var_beta = float(1.0 / np.sum(w / (1 + theta**2 * w)))
        msgs.append("Hessian not positive definite; SE conditional on tau2")
    se = float(np.sqrt(var_beta))
    message = "; ".join(msgs) if msgs else "converged"
    ll_metafor = _metafor_loglik(beta, theta, x, n)
    return _finish(beta, se, theta**2, k, lvl, crit, ll_metafor, -fmin, converged, message, se_method)
