"""Many models in one vectorized pass: ``rma_many`` (one intercept-only model per group of a
data frame) and the subset fits behind leave1out and cumulative."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evsynth.stats.fit import _FIELDS, _fit_batch
from evsynth.stats.options import _norm_method, _norm_test

_PAD_CELLS = 4_000_000  # rma_many pads all groups to the largest k up to this many cells


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


_SUBSET_CELLS = 1_000_000  # subset fits are batched in chunks of at most this many (subset x study) cells


def _na_note(n: int) -> str:
    return f"{n} {'studies' if n > 1 else 'study'} with NAs omitted" if n else ""


def _subsets_frame(y, v, sizes, drop, method, test, level, premsg="") -> pd.DataFrame:
    """Fit one model per subset of the studies (y, v), in chunks so that memory stays O(k)
    per subset (at most _SUBSET_CELLS cells at a time).

    Subset g is the first ``sizes[g]`` studies, without study ``drop[g]`` if that is >= 0
    (leave-one-out: sizes = k, drop = i; cumulative: sizes = j, drop = -1)."""
    sizes = np.asarray(sizes, dtype=int)
    drop = np.asarray(drop, dtype=int)
    G, k = len(sizes), len(y)
    K = max(1, k - 1 if (drop >= 0).any() else k)
    step = max(1, _SUBSET_CELLS // K)
    col = np.arange(K)
    parts = []
    for g0 in range(0, G, step):
        n, d = sizes[g0 : g0 + step, None], drop[g0 : g0 + step, None]
        idx = col + ((d >= 0) & (col >= d))  # skip the dropped study
        M = (col < n - (d >= 0)).astype(float) if k else np.zeros((len(n), K))
        idx = np.minimum(idx, max(k - 1, 0))
        Y = y[idx] if k else np.zeros((len(n), K))
        V = v[idx] if k else np.ones((len(n), K))
        pre = np.full(len(n), premsg, dtype=object)
        out = _fit_batch(Y, V, M, M[:, :, None].copy(), method, test, level, premsg=pre, want_ci=False)
        df = pd.DataFrame({new: out[old] for old, new in _L1O_COLS.items()})
        df["k"] = out["k"]
        df["converged"] = out["converged"]
        df["message"] = out["message"]
        parts.append(df)
    if not parts:
        return pd.DataFrame(columns=list(_L1O_COLS.values()) + ["k", "converged", "message"])
    return pd.concat(parts, ignore_index=True)
