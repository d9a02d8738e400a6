"""Argument vocabulary shared by the engine's functions: estimator and test names, the
confidence level (metafor's .level()), and the yi/vi input check."""

from __future__ import annotations

import numpy as np

METHODS = ("FE", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB")
TESTS = ("z", "knha", "adhoc", "t")
_ALIASES = {"EE": "FE", "CE": "FE", "HKSJ": "knha"}


def _level(level: float) -> float:
    """metafor's .level(): 95 -> alpha 0.05; 0.95 -> 0.05 (a value <= 0.5 is taken as alpha).

    A level outside (0, 100) is an error naming the argument (metafor warns and returns NaN
    intervals)."""
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"argument 'level' has invalid value {level!r}: expected a number in (0, 100)") from None
    if lv > 1:
        alpha = (100.0 - lv) / 100.0
    elif lv > 0.5:
        alpha = 1.0 - lv
    else:
        alpha = lv
    if not (np.isfinite(lv) and 0 < alpha < 1):
        raise ValueError(
            f"argument 'level' has invalid value {level!r}: expected a confidence level in (0, 100), "
            "e.g. 95 or 0.95"
        )
    return alpha


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


def _clean(yi, vi):
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape:
        raise ValueError("yi and vi must have the same length")
    return y, v
