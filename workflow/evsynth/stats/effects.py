"""Effect sizes and sampling variances, following R metafor's ``escalc``.

Every formula here was taken from metafor's ``R/escalc.r`` (the outcome
measures), ``R/misc.func.hidden.escalc.r`` (the exact small-sample correction
``c(m)``) and ``R/transf.r`` (the back-transformations). The code is a
vectorized re-implementation, checked value by value against metafor in
``tests/test_effects.py`` (fixtures written by ``tests/r/make_escalc_fixtures.R``).

Conventions shared with metafor:

* ``add``/``to``/``drop00`` control the continuity correction of count data.
  The default is ``add=1/2, to="only0"``: 1/2 is added to every cell of a study
  that has a zero cell (for single proportions: ``xi == 0`` or ``xi == ni``).
  For PFT and PAS nothing is added unless ``add`` is given explicitly.
* A ``yi`` or ``vi`` that is infinite or NaN makes both NaN (metafor's NA), and
  a negative ``vi`` becomes NaN.
* Missing inputs (NaN) propagate to NaN outputs; they are not errors.

Input checks follow metafor 3.8-1 (sample sizes > 0; counts >= 0 and not
above their group size; |ri| <= 1), raising ValueError that names the
argument, the first offending index and its value. Deliberate difference: a
standard deviation of exactly 0 is rejected here (metafor only rejects
negative SDs), because it gives a zero or undefined sampling variance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
from scipy.special import expit, gammaln

__all__ = [
    "MEASURES",
    "EffectSizes",
    "escalc",
    "cmicalc",
    "transf_exp",
    "transf_ilogit",
    "transf_iarcsin",
    "transf_pft",
    "transf_ipft",
    "transf_ipft_hm",
    "backtransform",
]

ArrayLike = Any

# measure -> (required arguments, optional arguments)
_TWO_BY_TWO = ("RR", "OR", "RD")
_PROPORTIONS = ("PR", "PLN", "PLO", "PAS", "PFT")
_TWO_GROUP_MEANS = ("MD", "SMD", "ROM")
_CHANGE = ("MC", "SMCC", "SMCR")

MEASURES: tuple[str, ...] = ("MN",) + _CHANGE + _TWO_GROUP_MEANS + _PROPORTIONS + _TWO_BY_TWO

# vtype values accepted per measure (first one is metafor's default "LS").
_VTYPES: dict[str, tuple[str, ...]] = {
    "MD": ("LS", "UB", "HO"),
    "SMD": ("LS", "UB", "LS2", "AV"),
    "SMCC": ("LS", "LS2"),
    "SMCR": ("LS", "LS2"),
    "ROM": ("LS", "HO"),
    "PR": ("LS", "UB", "AV"),
    "PLN": ("LS", "AV"),
    "PLO": ("LS", "AV"),
    "RD": ("LS", "UB", "AV"),
}

_TO_OPTIONS = ("only0", "all", "if0all", "none")


@dataclass(frozen=True)
class EffectSizes:
    """Observed outcomes ``yi`` with sampling variances ``vi`` (one per study).

    ``ni`` is the unadjusted total sample size of each study (metafor's
    ``attr(yi, "ni")``), used e.g. by the Freeman-Tukey back-transformation.
    """

    measure: str
    yi: np.ndarray
    vi: np.ndarray
    ni: np.ndarray
    index: pd.Index | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return int(self.yi.shape[0])

    @property
    def sei(self) -> np.ndarray:
        """Standard errors ``sqrt(vi)``."""
        return np.sqrt(self.vi)

    def to_frame(self) -> pd.DataFrame:
        """DataFrame with columns ``yi`` and ``vi`` (index of the input data if any)."""
        return pd.DataFrame({"yi": self.yi, "vi": self.vi}, index=self.index)


# ---------------------------------------------------------------------------
# input handling


def _column(name: str, value: Any, data: pd.DataFrame | None) -> np.ndarray:
    """Resolve one argument: a column name of ``data`` or array-like values."""
    if isinstance(value, str):
        if data is None:
            raise ValueError(f"argument '{name}' is the column name {value!r} but no data= was given")
        if value not in data.columns:
            raise ValueError(f"argument '{name}': column {value!r} not found in data")
        value = data[value]
    if isinstance(value, (pd.Series, pd.Index)):
        value = value.to_numpy()
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"argument '{name}' must be numeric: {exc}") from None
    return np.atleast_1d(arr).astype(float, copy=True)


def _fmt(v: Any) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def _first_bad(name: str, bad: np.ndarray, values: np.ndarray, rule: str) -> None:
    """Raise ValueError naming argument, first offending index and its value."""
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        n_bad = int(np.count_nonzero(bad))
        more = f" ({n_bad} values in total)" if n_bad > 1 else ""
        raise ValueError(f"argument '{name}' at index {i} has invalid value {_fmt(values[i])}: {rule}{more}")


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean over pairs where neither value is missing (metafor ``.wmean``)."""
    ok = ~(np.isnan(x) | np.isnan(w))
    return float(np.sum(x[ok] * w[ok]) / np.sum(w[ok])) if ok.any() else float("nan")


def _positive_n(name: str, x: np.ndarray) -> None:
    with np.errstate(invalid="ignore"):
        _first_bad(name, x <= 0, x, "sample sizes must be > 0")


def _nonneg(name: str, x: np.ndarray, what: str) -> None:
    with np.errstate(invalid="ignore"):
        _first_bad(name, x < 0, x, f"{what} must not be negative")


def _positive_sd(name: str, x: np.ndarray) -> None:
    with np.errstate(invalid="ignore"):
        _first_bad(name, x <= 0, x, "standard deviations must be > 0")


def _correlation(name: str, x: np.ndarray) -> None:
    with np.errstate(invalid="ignore"):
        _first_bad(name, np.abs(x) > 1, x, "correlations must lie in [-1, 1]")


def _not_above(name: str, x: np.ndarray, limit: np.ndarray, limit_name: str) -> None:
    with np.errstate(invalid="ignore"):
        _first_bad(name, x > limit, x, f"event count larger than the group size '{limit_name}'")


def cmicalc(mi: ArrayLike) -> np.ndarray:
    """Exact bias-correction factor c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)).

    Computed on the log scale; NaN where m <= 1 (metafor ``.cmicalc`` in
    ``R/misc.func.hidden.escalc.r``). m = n1 + n2 - 2 for SMD, n - 1 for SMCC/SMCR.
    """
    m = np.asarray(mi, dtype=float)
    out = np.full(m.shape, np.nan)
    ok = m > 1
    mo = m[ok]
    out[ok] = np.exp(gammaln(mo / 2) - 0.5 * np.log(mo / 2) - gammaln((mo - 1) / 2))
    return out


def _zero_cell_adjust(cells: list[np.ndarray], add: float, to: str) -> list[np.ndarray]:
    """Continuity correction of count cells as in metafor escalc (add/to)."""
    if to == "none" or add == 0:
        return cells
    if to == "all":
        return [c + add for c in cells]
    has0 = np.zeros(cells[0].shape, dtype=bool)
    for c in cells:
        has0 |= c == 0  # NaN compares False, as metafor's id0[is.na(id0)] <- FALSE
    if to == "only0":
        return [np.where(has0, c + add, c) for c in cells]
    # "if0all": add to every study as soon as one study has a zero cell
    return [c + add for c in cells] if has0.any() else cells


# ---------------------------------------------------------------------------
# measure families


def _two_by_two(measure: str, a: Mapping[str, np.ndarray], add: float, to: str, drop00: bool, vtype: str):
    ai, ci = a["ai"], a["ci"]
    bi = a["bi"] if "bi" in a else a["n1i"] - ai
    di = a["di"] if "di" in a else a["n2i"] - ci
    for nm in ("n1i", "n2i", "ai", "bi", "ci", "di"):
        if nm in a:
            _nonneg(nm, a[nm], "sample sizes" if nm.startswith("n") else "counts")
    for n_nm, b_nm, x_nm in (("n1i", "bi", "ai"), ("n2i", "di", "ci")):
        if n_nm in a and b_nm in a:
            with np.errstate(invalid="ignore"):
                _first_bad(n_nm, a[n_nm] != a[x_nm] + a[b_nm], a[n_nm], f"not equal to {x_nm} + {b_nm}")
    if "bi" not in a:
        _not_above("ai", ai, a["n1i"], "n1i")
    if "di" not in a:
        _not_above("ci", ci, a["n2i"], "n2i")
    ni_u = ai + bi + ci + di
    if drop00:
        both = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
        ai, bi, ci, di = (np.where(both, np.nan, v) for v in (ai, bi, ci, di))
    ai, bi, ci, di = _zero_cell_adjust([ai, bi, ci, di], add, to)
    n1, n2 = ai + bi, ci + di
    p1, p2 = ai / n1, ci / n2
    if measure == "RR":
        yi = np.log(p1) - np.log(p2)
        vi = 1 / ai - 1 / n1 + 1 / ci - 1 / n2
    elif measure == "OR":
        yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
        vi = 1 / ai + 1 / bi + 1 / ci + 1 / di
    else:  # RD
        yi = p1 - p2
        if vtype == "LS":
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        elif vtype == "UB":
            vi = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
        else:  # AV: sample-size weighted average proportions of each arm
            q1 = _wmean(p1, n1)
            q2 = _wmean(p2, n2)
            vi = q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2
    return yi, vi, ni_u


def _proportion(measure: str, a: Mapping[str, np.ndarray], add: float, to: str, vtype: str):
    xi, ni = a["xi"], a["ni"]
    _positive_n("ni", ni)
    _nonneg("xi", xi, "counts")
    _not_above("xi", xi, ni, "ni")
    mi = ni - xi
    ni_u = xi + mi
    xi, mi = _zero_cell_adjust([xi, mi], add, to)
    n = xi + mi
    p = xi / n
    if measure == "PR":
        yi = p
        if vtype == "LS":
            vi = p * (1 - p) / n
        elif vtype == "UB":
            vi = p * (1 - p) / (n - 1)
        else:
            q = _wmean(p, n)
            vi = q * (1 - q) / n
    elif measure == "PLN":
        yi = np.log(p)
        if vtype == "LS":
            vi = 1 / xi - 1 / n
        else:
            q = _wmean(p, n)
            vi = 1 / (q * n) - 1 / n
    elif measure == "PLO":
        yi = np.log(p / (1 - p))
        if vtype == "LS":
            vi = 1 / xi + 1 / mi
        else:
            q = _wmean(p, n)
            vi = 1 / (q * n) + 1 / ((1 - q) * n)
    elif measure == "PAS":
        yi = np.arcsin(np.sqrt(p))
        vi = 1 / (4 * n)
    else:  # PFT (Freeman & Tukey 1950 double arcsine)
        yi = 0.5 * (np.arcsin(np.sqrt(xi / (n + 1))) + np.arcsin(np.sqrt((xi + 1) / (n + 1))))
        vi = 1 / (4 * n + 2)
    return yi, vi, ni_u


def _two_group_means(measure: str, a: Mapping[str, np.ndarray], vtype: str):
    m1, m2, sd1, sd2, n1, n2 = (a[k] for k in ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"))
    _positive_sd("sd1i", sd1)
    _positive_sd("sd2i", sd2)
    _positive_n("n1i", n1)
    _positive_n("n2i", n2)
    ni = n1 + n2
    mi = ni - 2
    sdp = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / mi)
    if measure == "MD":
        yi = m1 - m2
        if vtype == "HO":
            vi = sdp**2 * (1 / n1 + 1 / n2)
        else:  # LS and UB coincide: unpooled variances
            vi = sd1**2 / n1 + sd2**2 / n2
    elif measure == "SMD":
        cmi = cmicalc(mi)
        di = (m1 - m2) / sdp
        yi = cmi * di
        if vtype == "LS":
            vi = 1 / n1 + 1 / n2 + yi**2 / (2 * ni)
        elif vtype == "LS2":
            vi = cmi**2 * (1 / n1 + 1 / n2 + di**2 / (2 * ni))
        elif vtype == "UB":
            vi = 1 / n1 + 1 / n2 + (1 - (mi - 2) / (mi * cmi**2)) * yi**2
        else:  # AV: sample-size weighted mean of yi
            vi = 1 / n1 + 1 / n2 + _wmean(yi, ni) ** 2 / (2 * ni)
    else:  # ROM
        yi = np.log(m1 / m2)
        if vtype == "HO":
            vi = sdp**2 / (n1 * m1**2) + sdp**2 / (n2 * m2**2)
        else:
            vi = sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2)
    return yi, vi, ni


def _single_mean(a: Mapping[str, np.ndarray]):
    mi, sdi, ni = a["mi"], a["sdi"], a["ni"]
    _positive_sd("sdi", sdi)
    _positive_n("ni", ni)
    return mi.copy(), sdi**2 / ni, ni


def _change(measure: str, a: Mapping[str, np.ndarray], vtype: str):
    m1, m2, sd1, ni, ri = (a[k] for k in ("m1i", "m2i", "sd1i", "ni", "ri"))
    _positive_sd("sd1i", sd1)
    if measure != "SMCR":
        _positive_sd("sd2i", a["sd2i"])
    _correlation("ri", ri)
    _positive_n("ni", ni)
    if measure == "MC":
        sd2 = a["sd2i"]
        yi = m1 - m2
        vi = (sd1**2 + sd2**2 - 2 * ri * sd1 * sd2) / ni
    elif measure == "SMCC":
        sd2 = a["sd2i"]
        cmi = cmicalc(ni - 1)
        sdd = np.sqrt(sd1**2 + sd2**2 - 2 * ri * sd1 * sd2)
        di = (m1 - m2) / sdd
        yi = cmi * di
        if vtype == "LS2":
            vi = cmi**2 * (1 / ni + di**2 / (2 * ni))
        else:
            vi = 1 / ni + yi**2 / (2 * ni)
    else:  # SMCR: raw-score standardization by sd1i (the pre-test SD)
        cmi = cmicalc(ni - 1)
        di = (m1 - m2) / sd1
        yi = cmi * di
        if vtype == "LS2":
            vi = cmi**2 * (2 * (1 - ri) / ni + di**2 / (2 * ni))
        else:
            vi = 2 * (1 - ri) / ni + yi**2 / (2 * ni)
    return yi, vi, ni


_REQUIRED: dict[str, tuple[str, ...]] = {
    "MN": ("mi", "sdi", "ni"),
    "MC": ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri"),
    "SMCC": ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri"),
    "SMCR": ("m1i", "m2i", "sd1i", "ni", "ri"),
    "MD": ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"),
    "SMD": ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"),
    "ROM": ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"),
    **{m: ("xi", "ni") for m in _PROPORTIONS},
}
_OPTIONAL: dict[str, tuple[str, ...]] = {"SMCR": ("sd2i",)}
_TWO_BY_TWO_ARGS = ("ai", "bi", "ci", "di", "n1i", "n2i")


def _gather(measure: str, columns: Mapping[str, Any], data: pd.DataFrame | None) -> dict[str, np.ndarray]:
    if measure in _TWO_BY_TWO:
        allowed = _TWO_BY_TWO_ARGS
        given = {k for k in columns if columns[k] is not None}
        for need in ("ai", "ci"):
            if need not in given:
                raise ValueError(f"measure {measure}: missing required argument '{need}'")
        if "bi" not in given and "n1i" not in given:
            raise ValueError(f"measure {measure}: missing required argument 'bi' (or 'n1i')")
        if "di" not in given and "n2i" not in given:
            raise ValueError(f"measure {measure}: missing required argument 'di' (or 'n2i')")
        required: tuple[str, ...] = ()
    else:
        required = _REQUIRED[measure]
        allowed = required + _OPTIONAL.get(measure, ())
        for need in required:
            if columns.get(need) is None:
                raise ValueError(f"measure {measure}: missing required argument '{need}'")
    unknown = sorted(k for k in columns if k not in allowed and columns[k] is not None)
    if unknown:
        raise ValueError(f"measure {measure}: unexpected argument(s) {unknown}; expected {list(allowed)}")
    out = {k: _column(k, v, data) for k, v in columns.items() if v is not None}
    lengths = {k: v.shape[0] for k, v in out.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"measure {measure}: arguments have different lengths {lengths}")
    for k, v in out.items():
        if v.ndim != 1:
            raise ValueError(f"argument '{k}' must be one-dimensional, got shape {v.shape}")
    return out


def escalc(
    measure: str,
    data: pd.DataFrame | None = None,
    *,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
    vtype: str = "LS",
    **columns: Any,
) -> EffectSizes:
    """Compute effect sizes ``yi`` and sampling variances ``vi`` as metafor ``escalc``.

    ``measure`` is one of :data:`MEASURES`. Columns are passed by metafor's
    argument names (``ai, bi, ci, di, n1i, n2i, xi, ni, mi, sdi, m1i, m2i,
    sd1i, sd2i, ri``) as arrays, or as column names of ``data``.
    ``add`` defaults to 1/2 (0 for PFT and PAS), ``to`` to ``"only0"``; these
    and ``drop00`` only matter for the count measures. ``vtype`` picks the
    variance estimator where metafor offers one (default ``"LS"``).
    Formulas: metafor ``R/escalc.r``.
    """
    if not isinstance(measure, str) or measure.upper() not in MEASURES:
        raise ValueError(f"argument 'measure' has unknown value {measure!r}; expected one of {list(MEASURES)}")
    measure = measure.upper()
    if to not in _TO_OPTIONS:
        raise ValueError(f"argument 'to' has unknown value {to!r}; expected one of {list(_TO_OPTIONS)}")
    allowed_vtypes = _VTYPES.get(measure, ("LS",))
    if vtype not in allowed_vtypes:
        raise ValueError(f"argument 'vtype' has value {vtype!r}; for {measure} expected one of {list(allowed_vtypes)}")
    if data is not None and not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)
    if add is None:
        add = 0.0 if measure in ("PFT", "PAS") else 0.5
    add = float(add)
    if not np.isfinite(add) or add < 0:
        raise ValueError(f"argument 'add' has invalid value {add!r}: must be a finite number >= 0")

    cols = _gather(measure, columns, data)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure in _TWO_BY_TWO:
            yi, vi, ni = _two_by_two(measure, cols, add, to, drop00, vtype)
        elif measure in _PROPORTIONS:
            yi, vi, ni = _proportion(measure, cols, add, to, vtype)
        elif measure in _TWO_GROUP_MEANS:
            yi, vi, ni = _two_group_means(measure, cols, vtype)
        elif measure == "MN":
            yi, vi, ni = _single_mean(cols)
        else:
            yi, vi, ni = _change(measure, cols, vtype)
        yi = np.asarray(yi, dtype=float)
        vi = np.asarray(vi, dtype=float)
        bad = ~np.isfinite(yi) | ~np.isfinite(vi)  # metafor recodes +-Inf and NaN pairs to NA
        yi = np.where(bad, np.nan, yi)
        vi = np.where(bad | (vi < 0), np.nan, vi)
    index = data.index if data is not None else None
    return EffectSizes(measure=measure, yi=yi, vi=vi, ni=np.asarray(ni, dtype=float), index=index)


# ---------------------------------------------------------------------------
# back-transformations (metafor R/transf.r)


def transf_exp(x: ArrayLike) -> np.ndarray:
    """exp(x): log ratios (RR, OR, ROM, PLN) back to the ratio scale."""
    return np.exp(np.asarray(x, dtype=float))


def transf_ilogit(x: ArrayLike) -> np.ndarray:
    """Inverse logit 1/(1+exp(-x)) for PLO (metafor transf.ilogit = plogis)."""
    return expit(np.asarray(x, dtype=float))


def transf_iarcsin(x: ArrayLike) -> np.ndarray:
    """Inverse arcsine-square-root sin(x)^2 for PAS; 0 below 0, 1 above pi/2 (metafor transf.iarcsin)."""
    x = np.asarray(x, dtype=float)
    z = np.sin(x) ** 2
    z = np.where(x < 0, 0.0, z)
    return np.where(x > np.pi / 2, 1.0, z)


def transf_pft(p: ArrayLike, ni: ArrayLike) -> np.ndarray:
    """Freeman-Tukey double arcsine of a proportion p with sample size ni (metafor transf.pft)."""
    p = np.asarray(p, dtype=float)
    n = np.asarray(ni, dtype=float)
    x = p * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def _ipft(x: np.ndarray, n: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sin(2 * x)
        z = 0.5 * (1 - np.sign(np.cos(2 * x)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2))
        z = np.where(x > transf_pft(1.0, n), 1.0, z)
        z = np.where(x < transf_pft(0.0, n), 0.0, z)
    return np.clip(z, 0.0, 1.0)


def transf_ipft(x: ArrayLike, ni: ArrayLike) -> np.ndarray:
    """Inverse Freeman-Tukey (Miller 1978) for individual proportions (metafor transf.ipft)."""
    return _ipft(np.asarray(x, dtype=float), np.asarray(ni, dtype=float))


def transf_ipft_hm(x: ArrayLike, ni: ArrayLike) -> np.ndarray:
    """Inverse Freeman-Tukey with the harmonic mean of the ``ni`` (metafor transf.ipft.hm).

    Miller (1978) inversion with n = 1/mean(1/ni) (NaNs in ni ignored); values
    beyond the transforms of 0 and 1 map to 0 and 1, and results lie in [0, 1].
    """
    n = np.asarray(ni, dtype=float).ravel()
    n = n[~np.isnan(n)]
    if n.size == 0:
        raise ValueError("argument 'ni' must contain at least one non-missing sample size")
    _first_bad("ni", n <= 0, n, "sample sizes must be > 0 for the harmonic mean")
    nhm = 1.0 / np.mean(1.0 / n)
    return _ipft(np.asarray(x, dtype=float), nhm)


_BACKTRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "RR": transf_exp,
    "OR": transf_exp,
    "ROM": transf_exp,
    "PLN": transf_exp,
    "PLO": transf_ilogit,
    "PAS": transf_iarcsin,
}


def backtransform(measure: str, x: ArrayLike, ni: ArrayLike | None = None) -> np.ndarray:
    """Back-transform values on the ``measure`` scale to the natural scale.

    exp for RR/OR/ROM/PLN, inverse logit for PLO, sin^2 for PAS, the harmonic-mean
    Freeman-Tukey inverse for PFT (needs the study sizes ``ni``), identity otherwise.
    """
    m = measure.upper()
    if m not in MEASURES:
        raise ValueError(f"argument 'measure' has unknown value {measure!r}; expected one of {list(MEASURES)}")
    if m == "PFT":
        if ni is None:
            raise ValueError("argument 'ni' is required to back-transform measure PFT (harmonic mean of study sizes)")
        return transf_ipft_hm(x, ni)
    fn = _BACKTRANSFORMS.get(m)
    arr = np.asarray(x, dtype=float)
    return fn(arr) if fn is not None else arr.copy()
