"""rma_many (one vectorized pass over groups) against rma() per group, and per-group failures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evsynth.stats.batch as batch
from evsynth.stats import cumulative, leave1out, rma, rma_many

FIX = Path(__file__).parent / "fixtures"


def _nonconvergent_reml_case():
    """A dataset on which metafor's REML Fisher scoring fails (from the R fixtures)."""
    cases = json.loads((FIX / "metafor_rma.json").read_text())["cases"]
    for c in cases:
        for f in c["fits"]:
            if f["method"] == "REML" and f["test"] == "z" and not f["converged"]:
                return c["yi"], c["vi"]
    raise AssertionError("fixture has no REML convergence failure")


def _frame(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    sizes = [2, 2, 3, 4, 5, 7, 10, 12, 20, 30] + list(rng.integers(2, 16, size=25))
    for g, k in enumerate(sizes):
        v = 10 ** rng.uniform(-3, 1, size=k) if g % 4 == 0 else rng.uniform(0.01, 0.5, size=k)
        tau2 = [0.0, 0.05, 0.3, 1.0][g % 4]
        y = rng.normal(0.2, np.sqrt(v + tau2))
        for i in range(k):
            rows.append(("A" if g % 2 else "B", g, y[i], v[i]))
    df = pd.DataFrame(rows, columns=["arm", "study_set", "yi", "vi"])
    # special groups: k = 1, a missing value, a non-positive variance, metafor non-convergence
    extra = [("A", 100, 0.3, 0.1)]
    extra += [("B", 101, 0.1, 0.2), ("B", 101, np.nan, 0.3), ("B", 101, 0.5, 0.1), ("B", 101, -0.2, 0.05)]
    extra += [("A", 102, 0.1, 0.2), ("A", 102, 0.4, 0.0), ("A", 102, 0.3, 0.1)]
    y_nc, v_nc = _nonconvergent_reml_case()
    extra += [("B", 103, a, b) for a, b in zip(y_nc, v_nc)]
    return pd.concat([df, pd.DataFrame(extra, columns=df.columns)], ignore_index=True)


FRAME = _frame()
NUMERIC = ["estimate", "se", "stat", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "tau",
           "tau2_se", "tau2_ci_lb", "tau2_ci_ub", "i2", "i2_ci_lb", "i2_ci_ub", "h2", "h2_ci_lb",
           "h2_ci_ub", "q", "q_df", "q_pval", "qm", "qm_df1", "qm_df2", "qm_pval", "df", "vt", "s2w"]  # fmt: skip


def _same(a: float, b: float, tol: float = 1e-10) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return abs(a - b) <= tol * max(1.0, abs(a))


@pytest.mark.parametrize("method", ["FE", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB"])
@pytest.mark.parametrize("test", ["z", "knha", "adhoc"])
def test_rma_many_equals_rma_per_group(method, test):
    many = rma_many(FRAME, ["arm", "study_set"], method=method, test=test)
    assert len(many) == FRAME.groupby(["arm", "study_set"]).ngroups
    errors = []
    for _, row in many.iterrows():
        sub = FRAME[(FRAME.arm == row.arm) & (FRAME.study_set == row.study_set)]
        one = rma(sub.yi.to_numpy(), sub.vi.to_numpy(), method=method, test=test).to_dict()
        assert bool(row.converged) == one["converged"], (row.study_set, row.message, one["message"])
        assert row.message == one["message"]
        assert row.k == one["k"] and row.iterations == one["iterations"]
        for f in NUMERIC:
            if not _same(one[f], float(row[f])):
                errors.append(f"group {row.study_set} {f}: rma {one[f]!r} vs rma_many {row[f]!r}")
    assert not errors, "\n".join(errors[:20])


def test_rma_many_columns_and_order():
    many = rma_many(FRAME, ["arm", "study_set"])
    keys = list(rma(FRAME.yi[:5], FRAME.vi[:5]).to_dict())
    assert list(many.columns) == ["arm", "study_set"] + keys
    assert many[["arm", "study_set"]].equals(
        many[["arm", "study_set"]].sort_values(["arm", "study_set"]).reset_index(drop=True)
    )
    single = rma_many(FRAME, "study_set")
    assert single["study_set"].is_monotonic_increasing


def test_failures_are_rows_with_reasons_never_silent():
    many = rma_many(FRAME, "study_set").set_index("study_set")
    k1 = many.loc[100]
    assert not k1.converged and "k=1" in k1.message
    assert k1.estimate == pytest.approx(0.3) and k1.tau2 == 0  # metafor's k = 1 model
    na = many.loc[101]
    assert na.converged and na.k == 3 and "1 study with NAs omitted" in na.message
    bad_v = many.loc[102]
    assert not bad_v.converged and "non-positive" in bad_v.message and math.isnan(bad_v.estimate)
    nc = many.loc[103]
    assert not nc.converged and "did not converge" in nc.message and math.isnan(nc.tau2)
    # every row: either converged with finite numbers, or not converged with a message
    for sid, row in many.iterrows():
        if row.converged:
            assert np.isfinite(row[["estimate", "se", "tau2", "q"]].astype(float)).all(), sid
        else:
            assert row.message, sid


def test_rma_many_is_vectorized(monkeypatch):
    calls = []
    real = batch._fit_batch

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "_fit_batch", counting)
    out = batch.rma_many(FRAME, "study_set", method="REML")
    assert len(out) == FRAME.study_set.nunique()
    assert len(calls) == 1 and calls[0][0] == len(out)  # one batched fit over all groups


def test_leave1out_and_cumulative_equal_refits():
    rng = np.random.default_rng(3)
    y = rng.normal(0, 0.6, 9)
    v = rng.uniform(0.02, 0.4, 9)
    for method, test in [("REML", "z"), ("DL", "knha"), ("PM", "adhoc")]:
        l1o = leave1out(y, v, method=method, test=test)
        for i in range(9):
            keep = np.arange(9) != i
            r = rma(y[keep], v[keep], method=method, test=test)
            got = l1o.iloc[i]
            for a, b in [("estimate", r.estimate), ("se", r.se), ("zval", r.stat), ("pval", r.pval),
                         ("ci_lb", r.ci_lb), ("ci_ub", r.ci_ub), ("Q", r.q), ("Qp", r.q_pval),
                         ("tau2", r.tau2), ("I2", r.i2), ("H2", r.h2)]:  # fmt: skip
                assert _same(b, float(got[a])), (method, i, a)
        order = rng.permutation(9)
        cum = cumulative(y, v, order=order, method=method, test=test)
        for j in range(2, 10):
            r = rma(y[order[:j]], v[order[:j]], method=method, test=test)
            assert _same(r.estimate, float(cum.loc[j, "estimate"]))
            assert _same(r.tau2, float(cum.loc[j, "tau2"]))


def test_random_many_groups_against_rma():
    rng = np.random.default_rng(11)
    G, k = 300, 6
    v = rng.uniform(0.01, 1.0, (G, k))
    y = rng.normal(0, np.sqrt(v + 0.2))
    df = pd.DataFrame({"g": np.repeat(np.arange(G), k), "yi": y.ravel(), "vi": v.ravel()})
    many = rma_many(df, "g", method="REML", test="knha")
    for g in range(0, G, 7):
        one = rma(y[g], v[g], method="REML", test="knha").to_dict()
        row = many.iloc[g]
        for f in NUMERIC:
            assert _same(one[f], float(row[f])), (g, f)


def test_subgroup_single_study_enters_q_between():
    from evsynth.stats import subgroup_analysis

    y = np.array([0.1, 0.3, 0.2, 0.9, -0.2])
    v = np.array([0.05, 0.04, 0.06, 0.1, 0.08])
    g = ["a", "a", "a", "b", "c"]
    s = subgroup_analysis(y, v, g, method="DL")
    assert s.df == 2 and "single-study" in s.message
    fa = rma(y[:3], v[:3], method="DL")
    b = np.array([fa.estimate, 0.9, -0.2])
    w = 1 / np.array([fa.se**2, 0.1, 0.08])
    qb = (w * (b - (w * b).sum() / w.sum()) ** 2).sum()
    assert s.q_between == pytest.approx(qb, rel=1e-12)
    common = subgroup_analysis(y, v, g, method="DL", tau2="common")
    assert common.approach == "common" and common.df == 2


def test_size_classes_give_identical_rows(monkeypatch):
    sizes = [1, 2, 3, 5, 9, 17, 40]
    rng = np.random.default_rng(5)
    rows = []
    for g, k in enumerate(sizes):
        v = rng.uniform(0.02, 0.4, k)
        y = rng.normal(0, np.sqrt(v + 0.1))
        rows += [(g, a, b) for a, b in zip(y, v)]
    df = pd.DataFrame(rows, columns=["g", "yi", "vi"])
    one_pass = rma_many(df, "g", method="REML", test="knha")
    monkeypatch.setattr(batch, "_PAD_CELLS", 1)  # force padding within size classes
    classes = batch.rma_many(df, "g", method="REML", test="knha")
    assert list(classes["g"]) == list(range(len(sizes)))
    for f in NUMERIC:
        for a, b in zip(one_pass[f], classes[f]):
            assert _same(float(a), float(b)), f
    assert (one_pass["message"] == classes["message"]).all()
