"""Mantel-Haenszel pooling of 2x2 tables (metafor R/rma.mh.r) for OR, RR and RD, with the
Cochran-Mantel-Haenszel and Tarone tests for the OR.

The pooled estimate uses the tables as they are (no continuity correction; zero cells and
double-zero tables enter the Mantel-Haenszel sums). The heterogeneity statistic Q, I^2 and H^2
are computed, as metafor does, from the per-study yi/vi of escalc with 1/2 added to tables with
a zero cell and double-zero tables dropped (metafor's defaults add = 1/2, to = "only0",
drop00 = TRUE). OR and RR are pooled on the log scale; ``exp_*`` fields back-transform them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from evsynth.stats.effects import escalc
from evsynth.stats.linalg import _chi2_sf, _norm_isf, _norm_sf
from evsynth.stats.options import _level

__all__ = ["FixedEffectsResult", "rma_mh"]

MH_MEASURES = ("OR", "RR", "RD")


@dataclass(frozen=True)
class FixedEffectsResult:
    """Result of :func:`rma_mh` or :func:`evsynth.stats.rma_peto` (metafor's rma.mh / rma.peto).

    ``estimate`` and its CI are on the analysis scale (log OR, log RR, RD); ``exp_estimate``,
    ``exp_ci_lb``, ``exp_ci_ub`` are the back-transforms (equal to the estimate for RD). ``k`` is
    the number of tables used, ``k_yi`` the number with a study-level effect (Q has k_yi - 1 df).
    ``cmh`` and ``tarone`` (OR only): Cochran-Mantel-Haenszel test (continuity-corrected) and
    Tarone's test for heterogeneity of the ORs."""

    method: str
    measure: str
    estimate: float
    se: float
    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    exp_estimate: float
    exp_ci_lb: float
    exp_ci_ub: float
    q: float
    q_df: float
    q_pval: float
    i2: float
    h2: float
    k: int
    k_yi: int
    level: float
    message: str = ""
    cmh: float = float("nan")
    cmh_pval: float = float("nan")
    tarone: float = float("nan")
    tarone_pval: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tables(ai, n1i, ci, n2i):
    """Validated count arrays; tables with a missing count are omitted (message)."""
    arrs = []
    for name, val in (("ai", ai), ("n1i", n1i), ("ci", ci), ("n2i", n2i)):
        a = np.atleast_1d(np.asarray(val, dtype=float))
        if a.ndim != 1:
            raise ValueError(f"argument '{name}' must be one-dimensional, got shape {a.shape}")
        arrs.append(a)
    if len({a.shape for a in arrs}) != 1:
        raise ValueError(
            "arguments 'ai', 'n1i', 'ci', 'n2i' must have the same length, got "
            + ", ".join(str(len(a)) for a in arrs)
        )
    ai, n1i, ci, n2i = arrs
    escalc("OR", ai=ai, n1i=n1i, ci=ci, n2i=n2i)  # validates counts (names argument, row, value)
    na = np.isnan(ai) | np.isnan(n1i) | np.isnan(ci) | np.isnan(n2i)
    msg = ""
    if na.any():
        n = int(na.sum())
        msg = f"{n} {'tables' if n > 1 else 'table'} with missing counts omitted"
    ai, n1i, ci, n2i = (a[~na] for a in (ai, n1i, ci, n2i))
    for name, n in (("n1i", n1i), ("n2i", n2i)):
        bad = np.flatnonzero(~(n > 0))
        if bad.size:
            raise ValueError(f"argument '{name}' has value {n[bad[0]]:g} at position {bad[0]}: group sizes must be > 0")
    if len(ai) == 0:
        raise ValueError("no complete 2x2 table (k = 0): nothing to pool")
    return ai, n1i, ci, n2i, msg


def _heterogeneity(yi, vi, beta):
    """Q, df, p, I^2, H^2 from study-level yi/vi around the pooled estimate (metafor rma.mh)."""
    keep = ~(np.isnan(yi) | np.isnan(vi))
    yi, vi = yi[keep], vi[keep]
    k_yi = len(yi)
    if k_yi > 1:
        df = k_yi - 1
        if not np.isfinite(beta):
            return float("nan"), float(df), float("nan"), float("nan"), float("nan"), k_yi
        with np.errstate(invalid="ignore", divide="ignore"):
            q = max(0.0, float(np.sum((yi - beta) ** 2 / vi)))
            i2 = max(0.0, 100 * (q - df) / q) if q > 0 else 0.0
            return q, float(df), float(_chi2_sf(q, df)), i2, q / df, k_yi
    return 0.0, float(max(k_yi - 1, 0)), 1.0, 0.0, 1.0, k_yi


def _wald(beta, se, alpha):
    beta, se = np.float64(beta), np.float64(se)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = beta / se
        crit = float(_norm_isf(alpha / 2))
        return float(z), float(2 * _norm_sf(abs(z))), beta - crit * se, beta + crit * se


def rma_mh(
    ai: Sequence[float] | np.ndarray,
    n1i: Sequence[float] | np.ndarray,
    ci: Sequence[float] | np.ndarray,
    n2i: Sequence[float] | np.ndarray,
    measure: str = "OR",
    level: float = 95,
    correct: bool = True,
) -> FixedEffectsResult:
    """Mantel-Haenszel equal-effects pooling of 2x2 tables (metafor ``rma.mh``).

    ``ai``/``ci``: events in groups 1/2; ``n1i``/``n2i``: group sizes. ``measure``: "OR"
    (Mantel-Haenszel OR with the Robins-Breslow-Greenland variance), "RR" (Greenland-Robins)
    or "RD". ``correct``: continuity correction of the CMH test. Where the estimate is not
    defined (OR: no event, or no non-event, in one group across all tables; RR: no events in one
    group), the numbers are NaN with a message, as metafor reports NA."""
    if not isinstance(measure, str) or measure.upper() not in MH_MEASURES:
        raise ValueError(f"argument 'measure' has value {measure!r}; expected one of {list(MH_MEASURES)}")
    measure = measure.upper()
    alpha = _level(level)
    ai, n1i, ci, n2i, msg = _tables(ai, n1i, ci, n2i)
    bi, di = n1i - ai, n2i - ci
    N = n1i + n2i
    k = len(ai)
    nan = float("nan")
    beta = se = nan
    extra: dict[str, float] = {}
    notes = [msg] if msg else []
    if measure == "OR":
        P, Q = (ai + di) / N, (bi + ci) / N
        Ri, Si = ai * di / N, bi * ci / N
        R, S = float(Ri.sum()), float(Si.sum())
        if R == 0 or S == 0:
            notes.append("Mantel-Haenszel OR not estimable: the sum of a*d/n or b*c/n over tables is 0 (metafor: NA)")
        else:
            beta = float(np.log(R / S))
            se = float(np.sqrt(0.5 * ((P * Ri).sum() / R**2 + (P * Si + Q * Ri).sum() / (R * S) + (Q * Si).sum() / S**2)))
        extra = _cmh_tarone(ai, n1i, n2i, N, ai + ci, bi + di, beta, correct)
    elif measure == "RR":
        R, S = float((ai * n2i / N).sum()), float((ci * n1i / N).sum())
        if ai.sum() == 0 or ci.sum() == 0:
            notes.append("Mantel-Haenszel RR not estimable: no events in one group across all tables (metafor: NA)")
        else:
            beta = float(np.log(R / S))
            se = float(np.sqrt((n1i * n2i * (ai + ci) / N**2 - ai * ci / N).sum() / (R * S)))
    else:
        W = float((n1i * n2i / N).sum())
        beta = float((ai * n2i / N - ci * n1i / N).sum() / W)
        num = beta * (ci * (n1i / N) ** 2 - ai * (n2i / N) ** 2 + (n1i / N) * (n2i / N) * (n2i - n1i) / 2).sum()
        num += (ai * (n2i - ci) / N + ci * (n1i - ai) / N).sum() / 2
        se = float(np.sqrt(num / W**2))
    zval, pval, lb, ub = _wald(beta, se, alpha)
    es = escalc(measure, ai=ai, n1i=n1i, ci=ci, n2i=n2i, add=0.5, to="only0", drop00=True)
    q, qdf, qp, i2, h2, k_yi = _heterogeneity(es.yi, es.vi, beta)
    back = np.exp if measure in ("OR", "RR") else (lambda x: x)
    return FixedEffectsResult(
        method="MH", measure=measure, estimate=beta, se=se, zval=zval, pval=pval, ci_lb=float(lb),
        ci_ub=float(ub), exp_estimate=float(back(beta)), exp_ci_lb=float(back(lb)),
        exp_ci_ub=float(back(ub)), q=q, q_df=qdf, q_pval=qp, i2=i2, h2=h2, k=k, k_yi=k_yi,
        level=float(level), message="; ".join(notes), **extra,
    )  # fmt: skip


def _cmh_tarone(ai, n1i, n2i, N, xt, yt, beta, correct) -> dict[str, float]:
    """Cochran-Mantel-Haenszel test and Tarone's heterogeneity test (metafor rma.mh, OR)."""
    nan = float("nan")
    out = {"cmh": nan, "cmh_pval": nan, "tarone": nan, "tarone_pval": nan}
    if xt.sum() > 0 and yt.sum() > 0:
        with np.errstate(invalid="ignore", divide="ignore"):
            cmh = (abs((ai - n1i / N * xt).sum()) - (0.5 if correct else 0.0)) ** 2 / (
                (n1i / N * n2i / N * xt * yt / (N - 1))[N > 1].sum()
            )
        out["cmh"], out["cmh_pval"] = float(cmh), float(_chi2_sf(cmh, 1))
    if np.isfinite(beta):
        psi = float(np.exp(beta))
        with np.errstate(invalid="ignore", divide="ignore"):
            if psi == 1:
                n11 = n1i / N * xt
            else:
                A = psi * (n1i + xt) + (n2i - xt)
                B = np.sqrt(A**2 - 4 * n1i * xt * psi * (psi - 1))
                n11 = (A - B) / (2 * (psi - 1))
            pos = (n11 > 0) & (xt > 0) & (yt > 0)
            e11 = n11[pos]
            e12, e21 = n1i[pos] - e11, xt[pos] - e11
            e22 = e11 - n1i[pos] - xt[pos] + N[pos]
            v = 1 / (1 / e11 + 1 / e12 + 1 / e21 + 1 / e22)
            d = ai[pos] - e11
            bd = max(0.0, float((d**2 / v).sum()))
            ta = max(0.0, bd - float(d.sum()) ** 2 / float(v.sum())) if pos.any() else nan
        kp = int(pos.sum())
        out["tarone"] = ta
        if kp > 1:
            out["tarone_pval"] = float(_chi2_sf(ta, kp - 1))
    return out
