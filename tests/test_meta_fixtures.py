"""evsynth.stats (rma, leave1out, regtest, ...) against R/metafor on random datasets (fixtures from tests/r/make_metafor_fixtures.R).

Tolerance, for every compared number a (metafor) and b (ours):
    |a - b| <= 1e-6 * max(1, |a|)
i.e. absolute 1e-6 for values up to 1 in magnitude and relative 1e-6 above (tau^2, Q, H^2, I^2
in percent, ... can be large). metafor was run with tight control settings (see tests/r/README.md);
convergence status is taken from its run with default control.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evsynth.stats import cumulative, leave1out, ranktest, regtest, rma

FIX = Path(__file__).parent / "fixtures"
TOL = 1e-6

MAIN = json.loads((FIX / "metafor_rma.json").read_text())
EXTRAS = json.loads((FIX / "metafor_rma_extras.json").read_text())

SCALARS = [
    ("b", "estimate"), ("se", "se"), ("zval", "stat"), ("pval", "pval"),
    ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub"), ("pi_lb", "pi_lb"), ("pi_ub", "pi_ub"),
    ("tau2", "tau2"), ("se_tau2", "tau2_se"), ("I2", "i2"), ("H2", "h2"),
    ("QE", "q"), ("QEp", "q_pval"), ("QM", "qm"), ("QMp", "qm_pval"), ("ddf", "df"),
]  # fmt: skip


def close(a, b, tol: float = TOL) -> bool:
    """metafor value a (None = NA) vs ours b."""
    if a is None:
        return b is None or (isinstance(b, float) and np.isnan(b))
    if b is None or np.isnan(b):
        return False
    return abs(a - b) <= tol * max(1.0, abs(a))


def check(label: str, a, b, errors: list[str], tol: float = TOL) -> None:
    if not close(a, b, tol):
        errors.append(f"{label}: metafor {a!r} vs ours {b!r}")


def test_fixture_provenance():
    info = MAIN["info"]
    assert info["metafor"] and info["R"].startswith("R version")
    assert len(MAIN["cases"]) >= 200
    ks = {c["k"] for c in MAIN["cases"]}
    assert 2 in ks and max(ks) >= 30
    vis = np.concatenate([c["vi"] for c in MAIN["cases"]])
    assert vis.min() < 1e-3 and vis.max() > 50


@pytest.mark.parametrize("case", MAIN["cases"], ids=lambda c: f"data{c['id']}_k{c['k']}")
def test_intercept_only_all_methods_and_tests(case):
    errors: list[str] = []
    for f in case["fits"]:
        tag = f"{f['method']}/{f['test']}"
        r = rma(case["yi"], case["vi"], method=f["method"], test=f["test"])
        if not f["converged"]:
            # metafor stopped with an error: we must report non-convergence too
            assert not r.converged, f"{tag}: metafor failed ({f['error']}) but we converged"
            assert r.message
            continue
        assert f["tight"], "fixture fits are expected to come from the tight run"
        assert r.converged, f"{tag}: metafor converged but we did not: {r.message}"
        d = r.to_dict()
        for a, b in SCALARS:
            if a in f:
                check(f"{tag} {a}", f[a], d[b], errors)
        if "tau2_ci" in f:
            for a, b in [("tau2_ci", "tau2_ci"), ("I2_ci", "i2_ci"), ("H2_ci", "h2_ci")]:
                for j, side in enumerate(("lb", "ub")):
                    check(f"{tag} {a}.{side}", f[a][j], getattr(r, b)[j], errors)
            assert f["ci_null"] == r.tau2_ci_null, tag
    assert not errors, "\n".join(errors[:20])


def test_metafor_nonconvergence_is_present_and_reported():
    failed = [(c, f) for c in MAIN["cases"] for f in c["fits"] if not f["converged"]]
    assert failed, "the fixture should contain at least one metafor convergence failure"
    for c, f in failed:
        r = rma(c["yi"], c["vi"], method=f["method"], test=f["test"])
        assert not r.converged
        assert "did not converge" in r.message


@pytest.mark.parametrize("case", EXTRAS["metareg"], ids=lambda c: f"data{c['id']}")
def test_meta_regression(case):
    X = np.array(case["mods"], dtype=float)
    errors: list[str] = []
    for f in case["fits"]:
        tag = f"{f['method']}/{f['test']}"
        r = rma(case["yi"], case["vi"], method=f["method"], test=f["test"], mods=X)
        assert r.converged == f["converged"], (tag, f.get("error"), r.message)
        if not f["converged"]:
            continue
        for a, b in [("b", "beta"), ("se", "beta_se"), ("zval", "beta_stat"),
                     ("pval", "beta_pval"), ("ci_lb", "beta_ci_lb"), ("ci_ub", "beta_ci_ub")]:  # fmt: skip
            for j, x in enumerate(np.atleast_1d(f[a])):
                check(f"{tag} {a}[{j}]", float(x), getattr(r, b)[j], errors)
        for a, b in [("tau2", "tau2"), ("se_tau2", "tau2_se"), ("I2", "i2"), ("H2", "h2"),
                     ("QE", "q"), ("QEp", "q_pval"), ("QM", "qm"), ("QMp", "qm_pval")]:  # fmt: skip
            check(f"{tag} {a}", f[a], getattr(r, b), errors)
        # R^2 = (tau2_RE - tau2) / tau2_RE. When both tau^2 sit on the boundary, metafor's
        # Fisher scoring leaves remainders ~1e-13 and R^2 becomes a ratio of round-off
        # (any of 0..100); we report the limit (tau^2 = 0 exactly, R^2 = 0). Skip those.
        r0 = rma(case["yi"], case["vi"], method=f["method"], test=f["test"])
        degenerate = f["method"] != "FE" and r0.tau2 == 0 and (f["tau2"] or 0) < 1e-8
        if not degenerate:
            check(f"{tag} R2", f["R2"], r.r2, errors)
    assert not errors, "\n".join(errors[:20])


@pytest.mark.parametrize(
    "case", EXTRAS["leave1out"], ids=lambda c: f"data{c['id']}_{c['method']}_{c['test']}"
)
def test_leave1out(case):
    t = leave1out(case["yi"], case["vi"], method=case["method"], test=case["test"])
    errors: list[str] = []
    names = {"ci.lb": "ci_lb", "ci.ub": "ci_ub", "tval": "zval"}
    for col, vals in case["table"].items():
        ours = t[names.get(col, col)].to_numpy()
        for i, (a, b) in enumerate(zip(vals, ours)):
            check(f"{col}[{i}]", a, float(b), errors)
    assert not errors, "\n".join(errors[:20])


@pytest.mark.parametrize("case", EXTRAS["cumul"], ids=lambda c: f"data{c['id']}")
def test_cumulative(case):
    t = cumulative(case["yi"], case["vi"], method=case["method"], test=case["test"])
    errors: list[str] = []
    names = {"ci.lb": "ci_lb", "ci.ub": "ci_ub"}
    for col, vals in case["table"].items():
        ours = t[names.get(col, col)].to_numpy()
        for i, (a, b) in enumerate(zip(vals, ours)):
            check(f"{col}[{i}]", a, float(b), errors)
    assert not t["converged"].iloc[0]  # the k = 1 row is flagged
    assert t["converged"].iloc[1:].all()
    assert not errors, "\n".join(errors[:20])


@pytest.mark.parametrize(
    "case", EXTRAS["regtest"], ids=lambda c: f"data{c['id']}_{c['model']}_k{len(c['yi'])}"
)
def test_regtest(case):
    r = regtest(case["yi"], case["vi"], model=case["model"], min_k=0)
    if "error" in case:  # metafor: model matrix not of full rank (all vi equal)
        assert not r.reported and "not of full rank" in r.reason
        return
    errors: list[str] = []
    for a, b in [("zval", "stat"), ("pval", "pval"), ("dfs", "df"), ("est", "estimate"),
                 ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub")]:  # fmt: skip
        check(a, case[a], getattr(r, b), errors)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("case", EXTRAS["ranktest"], ids=lambda c: f"data{c['id']}")
def test_ranktest(case):
    r = ranktest(case["yi"], case["vi"], min_k=0)
    if case["tau"] is None:  # R: cor() of a constant vector is NA
        assert not r.reported
        return
    errors: list[str] = []
    check("tau", case["tau"], r.estimate, errors)
    check("pval", case["pval"], r.pval, errors)
    assert not errors, "\n".join(errors)


def test_fixture_counts():
    n_fits = sum(len(c["fits"]) for c in MAIN["cases"])
    assert n_fits >= 5000
    assert len(EXTRAS["metareg"]) >= 30
    assert len(EXTRAS["leave1out"]) >= 30
    assert len(EXTRAS["regtest"]) >= 40
    assert len(EXTRAS["ranktest"]) >= 40


@pytest.mark.parametrize(
    "case",
    EXTRAS.get("levels", []),
    ids=lambda c: f"data{c['id']}_{c['method']}_{c['test']}_{c['level']}",
)
def test_other_confidence_levels(case):
    r = rma(case["yi"], case["vi"], method=case["method"], test=case["test"], level=case["level"])
    assert r.converged == case["converged"], (case.get("error"), r.message)
    if not case["converged"]:
        return
    d = r.to_dict()
    errors: list[str] = []
    for a, b in SCALARS:
        if a in case:
            check(a, case[a], d[b], errors)
    if "tau2_ci" in case:
        for a, b in [("tau2_ci", "tau2_ci"), ("I2_ci", "i2_ci"), ("H2_ci", "h2_ci")]:
            for j in range(2):
                check(f"{a}[{j}]", case[a][j], getattr(r, b)[j], errors)
        assert case["ci_null"] == r.tau2_ci_null
    assert not errors, "\n".join(errors)
