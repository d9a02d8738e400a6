"""Argument vocabulary shared by the engine's functions: estimator and test names, the
confidence level (metafor's .level()), and the yi/vi input check."""

from __future__ import annotations

import numpy as np

METHODS = ("FE", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB")
TESTS = ("z", "knha", "adhoc", "t")
_ALIASES = {"EE": "FE", "CE": "FE", "HKSJ": "knha"}


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


def _clean(yi, vi):
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape:
        raise ValueError("yi and vi must have the same length")
    return y, v
