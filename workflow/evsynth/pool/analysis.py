"""Meta-analyses declared in config: the datasets of :mod:`evsynth.pool.datasets` -> pooled rows.

metafor's separation is kept: :func:`evsynth.pool.datasets.analysis_dataset` plays ``escalc`` (one row per
study arm or comparison with ``yi, vi`` and every flag a sensitivity analysis needs), :func:`pool` plays
``rma`` (through :mod:`evsynth.stats`), and :func:`run_analysis` adds subgroups and sensitivity variants;
the multiverse is :mod:`evsynth.pool.multiverse`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import ndtri

from evsynth.common.code import code_name
from evsynth.common.measures import codes, measure
from evsynth.pool.datasets import UNCONTROLLED, Corpus, _definition, analysis_dataset, long_table, variant_dataset
from evsynth.stats import rma_many, rma_mh, subgroup_analysis

POOLED_COLUMNS = [
    "analysis", "outcome", "measure", "subgroup", "variant", "k", "n", "estimate", "ci_lb", "ci_ub",
    "pi_lb", "pi_ub", "tau2", "i2", "q", "pval", "method", "test", "model", "scale", "estimate_bt", "ci_lb_bt",
    "ci_ub_bt", "pi_lb_bt", "pi_ub_bt", "se", "q_pval", "tau2_ci_lb", "tau2_ci_ub", "converged", "message",
    "uncontrolled_only", "designs", "definitions", "studies", "imputed_rows", "confounded_rows", "function", "spec",
]
#: The analysis choices a pooled row repeats in its ``spec`` column (with the analysis name, the row's
#: ``function`` and the config, any number is two hops from the code and the choice that made it).
SPEC_KEYS = ("effect", "method", "test", "level", "prepost_correlation", "imputation", "timepoint")



# --------------------------------------------------------------------------------------------
# pooling


PROPORTIONS = codes(proportion=True)
CONTRAST = {"MC": "MD", "PLO": "OR", "PR": "OR", "PFT": "OR"}
SMALL_STUDY_REF = "Sterne 2011 (BMJ 343:d4002); Cochrane Handbook 13.3.5.4"


def _model(spec: dict, effect: str | None = None) -> str:
    """``glmm`` (binomial-normal) or ``normal`` (normal-normal on the analysis scale) for this analysis."""
    effect = (effect or spec["effect"]).upper()
    return "glmm" if effect == "PLO" and spec.get("proportion_model", "glmm") == "glmm" else "normal"


def _definitions(data: pd.DataFrame) -> str:
    """Which outcome definitions a row pools, with their studies: 'remission: deng2017; ...'."""
    if data.empty or "measure" not in data:
        return ""
    parts = data.assign(d=data["measure"].map(_definition)).groupby("d", sort=True)["study"].agg(
        lambda s: ", ".join(dict.fromkeys(s)))
    return "; ".join(f"{d}: {studies}" for d, studies in parts.items())


def spec_text(spec: dict) -> str:
    """The analysis choices behind a pooled row, as ``key=value; ...`` (keys :data:`SPEC_KEYS`)."""
    def value(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {value(x)}" for k, x in sorted(v.items())) + "}"
        return f"{v:g}" if isinstance(v, float) else str(v)
    return "; ".join(f"{k}={value(spec[k])}" for k in SPEC_KEYS if k in spec)


def study_intervals(yi, vi, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Each study's Wald interval at ``level`` (percent, or a fraction), as metafor's forest draws them."""
    level = level * 100 if 0 < level <= 1 else level
    crit = ndtri(0.5 + level / 200)
    yi, se = np.asarray(yi, dtype=float), np.sqrt(np.asarray(vi, dtype=float))
    return yi - crit * se, yi + crit * se


def _row(spec_name: str, spec: dict, data: pd.DataFrame, fit: dict, subgroup: str, variant: str,
         effect: str | None = None, function=None) -> dict:
    """One pooled.csv row; ``function`` computed ``fit`` (default :func:`pool`)."""
    effect = (effect or spec["effect"]).upper()
    ni = data["n"].to_numpy(float) if len(data) else None
    bt = {f"{c}_bt": float(measure(effect).backtransform([fit.get(c, np.nan)], ni)[0])
          for c in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")}
    bt.update({k: fit[k] for k in bt if k in fit})  # a fit may give its natural-scale values (exact CIs)
    designs = sorted(set(data["design"])) if len(data) else []
    return {
        "analysis": spec_name, "outcome": ";".join(spec["outcome"].get("measures", ["adverse_event"])),
        "measure": effect, "subgroup": subgroup, "variant": variant, "k": int(len(data)),
        "n": float(data["n"].sum()) if len(data) else 0.0,
        **{c: fit.get(c, np.nan) for c in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "i2", "q", "pval",
                                           "se", "q_pval", "tau2_ci_lb", "tau2_ci_ub")},
        "method": fit.get("method", spec.get("method")), "test": fit.get("test", spec.get("test")),
        "model": fit.get("model", "normal-normal"),
        "scale": measure(effect).scale, **bt,
        "converged": bool(fit.get("converged", False)), "message": fit.get("message", ""),
        "uncontrolled_only": bool(designs) and set(designs) <= UNCONTROLLED,
        "designs": ";".join(designs), "definitions": _definitions(data),
        "studies": ";".join(data["label"]) if len(data) else "",
        "imputed_rows": int(data["imputed"].sum()) if len(data) else 0,
        "confounded_rows": int(data["confounded"].sum()) if len(data) else 0,
        "function": code_name(function or pool), "spec": spec_text(spec),
    }


def _single_proportion(data: pd.DataFrame, level: float) -> dict:
    """A single study's observed proportion with its exact (Clopper-Pearson) interval: nothing is pooled."""
    from evsynth.describe.summaries import clopper_pearson

    x, n = float(data["events1"].iloc[0]), float(data["n"].iloc[0])
    lo, hi = clopper_pearson([x], [n], level=level / 100)
    p = x / n
    logit = math.log(p / (1 - p)) if 0 < p < 1 else np.nan
    return {"estimate": logit, "estimate_bt": p, "ci_lb_bt": float(lo[0]), "ci_ub_bt": float(hi[0]),
            "converged": False, "model": "single study",
            "message": f"k = 1: a single study, not pooled; its observed proportion {x:g}/{n:g} with an exact "
                       "(Clopper-Pearson) interval"}


def pool(data: pd.DataFrame, method: str, test: str, level: float = 95, model: str = "normal") -> dict:
    """One fit of ``data``: random-effects (or FE) on ``yi, vi``, or the binomial-normal GLMM on events/n.

    k < 2 gives a row saying why. ``model="glmm"`` (``PLO`` only) is metafor's ``rma.glmm(measure="PLO")``
    (ML, z-based Wald CI and prediction interval; no continuity correction).
    """
    if len(data) == 0:
        return {"converged": False, "message": "no study has data for this analysis", "method": method, "test": test}
    if model == "glmm":
        if len(data) == 1:
            return {**_single_proportion(data, level), "method": "ML", "test": "z"}
        from evsynth.stats.glmm import pool_proportions_glmm

        g = pool_proportions_glmm(data["events1"].to_numpy(float), data["n"].to_numpy(float), level=level)
        return {"estimate": g.estimate, "se": g.se, "ci_lb": g.ci_lb, "ci_ub": g.ci_ub, "pi_lb": g.pi_lb,
                "pi_ub": g.pi_ub, "tau2": g.tau2, "pval": g.pval, "converged": g.converged, "method": "ML",
                "test": "z", "model": "binomial-normal GLMM",
                "message": "" if g.message == "converged" else f"GLMM: {g.message}"}
    fit = rma_many(data.assign(_all=0), "_all", method=method, test=test, level=level).iloc[0].to_dict()
    if len(data) == 1:
        fit["message"] = "k = 1: a single study, not pooled"
    return fit


def _small_study_rows(name: str, spec: dict, data: pd.DataFrame, model: str,
                      funnel: dict | None = None) -> list[dict]:
    """Egger's regression test and trim-and-fill where k >= ``small_study_min_k`` (default 10), else why not.

    ``funnel`` (a dict, filled in place where assessable): what the funnel plot draws, so the report recomputes
    nothing: ``yi, vi`` (the studies), ``estimate`` (the normal-normal fit they centre on), ``filled_yi,
    filled_vi`` (trim-and-fill's imputed studies) and ``notes`` (Egger's test and trim-and-fill in words)."""
    min_k = int(spec.get("small_study_min_k", 10))
    method, test, level = spec["method"], spec["test"], spec.get("level", 95)
    rows = []
    if len(data) < min_k:
        why = (f"not assessable: k = {len(data)} < {min_k} studies; small-study tests and funnel plots are not "
               f"meaningful with fewer studies ({SMALL_STUDY_REF})")
        for variant in ("Egger's regression test", "trim-and-fill"):
            rows.append(_row(name, spec, data, {"converged": False, "message": why, "method": method, "test": test,
                                                "model": ""}, "all", variant))
        return rows
    from evsynth.stats import regtest
    from evsynth.stats.trimfill import trimfill

    note = " (on the normal-normal model's yi, vi)" if model == "glmm" else ""
    eg = regtest(data["yi"], data["vi"], model="rma", method=method, test="z", level=level, min_k=min_k)
    rows.append(_row(name, spec, data, {"estimate": eg.estimate, "ci_lb": eg.ci_lb, "ci_ub": eg.ci_ub,
                                        "pval": eg.pval, "converged": eg.reported, "method": method, "test": "z",
                                        "message": (f"Egger's test z = {eg.stat:.3f}, p = {eg.pval:.3g}; estimate = "
                                                    f"limit estimate{note}" if eg.reported else eg.reason)},
                     "all", "Egger's regression test", function=regtest))
    try:
        tf = trimfill(data["yi"], data["vi"], method=method, test=test, level=level)
    except ValueError as exc:
        rows.append(_row(name, spec, data, {"converged": False, "method": method, "test": test, "model": "",
                                            "message": f"trim-and-fill not computed: {exc}"}, "all", "trim-and-fill"))
        return rows
    rows.append(_row(name, spec, data, {**{c: getattr(tf.fit, c) for c in (
        "estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "i2", "q", "pval", "se")},
        "converged": tf.fit.converged, "method": method, "test": test,
        "message": f"trim-and-fill ({tf.estimator}): {tf.k0} studies imputed on the {tf.side} side{note}"},
        "all", "trim-and-fill", function=trimfill))
    rows[-1]["k"] = len(data) + tf.k0
    if funnel is not None:
        funnel.update(yi=data["yi"].to_numpy(float), vi=data["vi"].to_numpy(float),
                      estimate=float(pool(data, method, test, level, "normal")["estimate"]),
                      filled_yi=tf.filled_yi, filled_vi=tf.filled_vi, level=level,
                      notes=[rows[-2]["message"], rows[-1]["message"]])
    return rows


def _unknown_seriousness(spec: dict) -> tuple[str, dict | None] | None:
    """For an analysis of serious adverse events: how events of unknown seriousness are treated (a
    sentence for the main row) and the spec of the variant that counts them as serious; else None."""
    if "death" in (spec["outcome"].get("measures") or []):
        return ("every recorded death counts (serious by definition); adverse events of unknown seriousness are "
                "not deaths and are listed in harms.csv"), None
    want = spec["outcome"].get("adverse_events") or {}
    serious = list(want.get("serious") or [])
    if not serious or "unknown" in serious:
        return None
    variant = {**spec, "outcome": {**spec["outcome"], "adverse_events": {**want, "serious": serious + ["unknown"]}}}
    return ("events of unknown seriousness are not counted as serious (listed in harms.csv; the variant "
            "'seriousness unknown counted as serious' counts them)"), variant


def pool_mh(data: pd.DataFrame, effect: str, level: float = 95) -> dict:
    """Mantel-Haenszel equal-effects fit of the 2x2 tables (``events1, n1, events2, n2``) of an
    OR/RR/RD analysis (metafor ``rma.mh``): the sparse-data alternative to inverse-variance pooling
    (no continuity correction in the estimate)."""
    fit = rma_mh(data["events1"], data["n1"], data["events2"], data["n2"], measure=effect, level=level)
    ok = bool(np.isfinite(fit.estimate))
    return {"estimate": fit.estimate, "se": fit.se, "ci_lb": fit.ci_lb, "ci_ub": fit.ci_ub, "pval": fit.pval,
            "q": fit.q, "q_pval": fit.q_pval, "i2": fit.i2, "tau2": 0.0 if ok else np.nan, "method": "MH",
            "test": "z", "model": "Mantel-Haenszel (2x2 tables)", "converged": ok and len(data) >= 2,
            "message": fit.message or ("k = 1: a single study, not pooled" if len(data) == 1 else "")}


def run_analysis(name: str, spec: dict, corpus: Corpus) -> dict[str, pd.DataFrame]:
    """The main fit, its subgroups, its sensitivity variants and its controlled contrast, as rows of ``pooled.csv``.

    Returns ``pooled`` (rows with :data:`POOLED_COLUMNS`), ``studies`` (the dataset with weights and
    CIs, for the forest plot), ``excluded`` (studies considered and why they are out) and ``funnel`` (what
    the funnel plot draws; empty where k < ``small_study_min_k``, see :func:`_small_study_rows`).
    """
    method, test, level = spec["method"], spec["test"], spec.get("level", 95)
    r, imputation = spec.get("prepost_correlation", 0.5), spec.get("imputation", "wan2014")
    effect = spec["effect"].upper()
    model = _model(spec)
    data, excluded = analysis_dataset(corpus, spec, r=r, imputation=imputation)
    main = pool(data, method, test, level, model)
    rows = [_row(name, spec, data, main, "all", "main")]
    for dim in spec.get("subgroups", []):
        if len(data) < 2 or data[dim].nunique() < 2:
            rows.append({**_row(name, spec, data, {"converged": False, "method": method, "test": test,
                         "message": f"subgroups by {dim}: fewer than two subgroups with data"}, f"{dim}: test", "main")})
            continue
        sub = subgroup_analysis(data["yi"], data["vi"], data[dim], method=method, test=test, level=level)
        for rec in sub.fits.to_dict("records"):
            part = data.loc[data[dim] == rec["group"]]
            fit = pool(part, method, test, level, model) if model == "glmm" else rec
            rows.append(_row(name, spec, part, fit, f"{dim}={rec['group']}", "main",
                             function=pool if model == "glmm" else subgroup_analysis))
        note = f"test for subgroup differences ({sub.approach} tau^2 per subgroup), df={sub.df}"
        if model == "glmm":
            note += ("; computed on the normal-normal logit model (0.5 added to zero cells), since the GLMM has no "
                     "finite estimate for a single zero-event study")
        rows.append(_row(name, spec, data, {"converged": bool(np.isfinite(sub.q_between)), "method": method,
                                            "test": test, "q": sub.q_between, "pval": sub.pval,
                                            "message": note + (f"; {sub.message}" if sub.message else "")},
                         f"{dim}: test", "main", function=subgroup_analysis))
    # outcome definitions other than the one pooled: each on its own row, never mixed in
    measures = spec["outcome"].get("measures", [])
    if measures and not spec["outcome"].get("combine_definitions", False):
        pooled_def = {_definition(m) for m in data["measure"]} if len(data) else set()
        for m in measures:
            if m in pooled_def or (m == "death" and "survival" in pooled_def):
                continue
            one = {**spec, "outcome": {**spec["outcome"], "measures": [m]}}
            part, _ = analysis_dataset(corpus, one, r=r, imputation=imputation)
            if len(part):
                rows.append(_row(name, spec, part, pool(part, method, test, level, model), f"definition={m}", "main"))
    # variants of a single study would only repeat it
    sens = spec.get("sensitivity", []) if len(data) >= 2 else []
    if "leave1out" in sens and len(data) >= 3:
        for i in range(len(data)):
            part = data.drop(index=data.index[i])
            rows.append(_row(name, spec, part, pool(part, method, test, level, model), "all",
                             f"leave out {data['label'].iloc[i]}"))
    variants = []
    if "exclude_confounded" in sens:
        variants.append(("exclude confounded by co-interventions", data.loc[~data["confounded"]]))
    if "exclude_imputed" in sens:
        variants.append(("exclude imputed or derived values", data.loc[~data["imputed"]]))
    if "exclude_high_risk" in sens:
        variants.append(("exclude high risk of bias", data.loc[~data["high_risk"]]))
    if "exclude_uncontrolled" in sens:
        variants.append(("exclude case reports and series", data.loc[~data["design"].isin(UNCONTROLLED)]))
    for label, part in variants:
        rows.append(_row(name, spec, part, pool(part, method, test, level, model), "all", label))
    if "proportion_model" in sens and effect == "PLO":
        if model == "glmm":
            rows.append(_row(name, spec, data, pool(data, method, test, level, "normal"), "all",
                             f"normal-normal logit model ({method}, {test}; 0.5 added to zero-event and all-event studies)"))
        else:
            rows.append(_row(name, spec, data, pool(data, method, test, level, "glmm"), "all", "binomial-normal GLMM"))
    unknown = _unknown_seriousness(spec)
    if unknown is not None:
        rows[0]["message"] = "; ".join(x for x in (rows[0]["message"], unknown[0]) if x)
        if unknown[1] is not None and "unknown_as_serious" in spec.get("sensitivity", []):
            d2, _ = analysis_dataset(corpus, unknown[1], r=r, imputation=imputation)
            rows.append(_row(name, spec, d2, pool(d2, method, test, level, model), "all",
                             "seriousness unknown counted as serious"))
    if "estimators" in sens:
        prefix = "normal-normal logit, " if model == "glmm" else ""
        for m in spec.get("estimators", ["FE", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB"]):
            if m != method:
                rows.append(_row(name, spec, data, pool(data, m, test, level), "all", f"{prefix}estimator {m}"))
    if "mantel_haenszel" in sens and effect in ("OR", "RR", "RD"):
        rows.append(_row(name, spec, data, pool_mh(data, effect, level), "all", "Mantel-Haenszel (equal effects)",
                         function=pool_mh))
    if "correlation" in sens and effect == "MC":  # the other correlations' datasets: one long table
        others = [rr for rr in spec.get("correlations", [0.3, 0.5, 0.7]) if rr != r]
        table, _ = long_table(corpus, spec, [(rr, imputation) for rr in others])
        for v, rr in enumerate(others):
            d2 = variant_dataset(table, v)
            rows.append(_row(name, spec, d2, pool(d2, method, test, level), "all", f"pre-post correlation {rr:g}"))
    if "include_small_series" in spec.get("sensitivity", []) and effect == "MC":
        d2, _ = analysis_dataset(corpus, spec, r=r, imputation=imputation, min_patients=2)
        if len(d2) > len(data):
            rows.append(_row(name, spec, d2, pool(d2, method, test, level), "all",
                             "include individual-level series of 2 or more patients (mean and SD of their changes)"))
    funnel: dict = {}
    rows += _small_study_rows(name, spec, data, model, funnel)
    contrast_data = pd.DataFrame()
    if spec.get("controlled_contrast", True) and effect in CONTRAST:
        contrast_rows, contrast_data = _contrast_rows(name, spec, corpus, r, imputation)
        rows += contrast_rows
    pooled = pd.DataFrame(rows)[POOLED_COLUMNS]
    if len(data) and model == "normal" and main.get("converged"):
        w = 1 / (data["vi"] + (main.get("tau2") or 0.0))
        data["weight"] = 100 * w / w.sum()
    else:  # a GLMM has no inverse-variance weights; a single study has none to share
        data["weight"] = np.nan if len(data) else pd.Series(dtype=float)
    if len(data):
        data["ci_lb"], data["ci_ub"] = study_intervals(data["yi"], data["vi"], level)
        if effect in PROPORTIONS:  # what a reader sees per study: observed proportion, exact interval
            from evsynth.describe.summaries import clopper_pearson

            lo, hi = clopper_pearson(data["events1"], data["n"], level=level / 100)
            data["prop"] = data["events1"] / data["n"]
            data["prop_ci_lb"], data["prop_ci_ub"] = lo, hi
        data.insert(0, "analysis", name)
        data.insert(1, "role", "main")
    if len(contrast_data):  # the randomized comparisons behind the contrast row, after the main studies
        lb, ub = study_intervals(contrast_data["yi"], contrast_data["vi"], level)
        contrast_data = contrast_data.assign(ci_lb=lb, ci_ub=ub)
        contrast_data.insert(0, "analysis", name)
        contrast_data.insert(1, "role", "controlled contrast")
        data = pd.concat([data, contrast_data], ignore_index=True) if len(data) else contrast_data
    return {"pooled": pooled, "studies": data, "excluded": excluded.assign(analysis=name), "funnel": funnel}


def _contrast_rows(name: str, spec: dict, corpus: Corpus, r: float, imputation: str) -> tuple[list[dict], pd.DataFrame]:
    """MSC vs placebo in the randomized studies of a single-arm analysis, and the placebo arms' own change.

    ``MC`` analyses get a mean difference (``MD``), proportions an odds ratio (``OR``), both from the
    randomized (``rct``) studies among the analysis' records: a ``main`` row of subgroup ``all`` whose
    ``measure`` is the comparative one and whose message says what it is. The placebo arms are also
    pooled on the analysis' own scale (variant 'placebo arms ...'), so a reader sees how much the
    comparator changed. Returns the rows and the comparisons (for ``studies.csv``).
    """
    method, test, level = spec["method"], spec["test"], spec.get("level", 95)
    records = {**spec.get("records", {}), "designs": ["rct"]}
    contrast = {**spec, "effect": CONTRAST[spec["effect"].upper()], "records": records}
    data, _ = analysis_dataset(corpus, contrast, r=r, imputation=imputation)
    if data.empty:
        return [], data
    fit = pool(data, method, test, level)
    what = f"controlled contrast: MSC vs placebo ({contrast['effect']}, randomized studies only)"
    fit["message"] = what + (f"; {fit['message']}" if fit.get("message") else "")
    rows = [_row(name, contrast, data, fit, "all", "main", effect=contrast["effect"])]
    single = {**spec, "records": records}
    placebo, _ = analysis_dataset(corpus, single, r=r, imputation=imputation, arm="comparator")
    if len(placebo):
        rows.append(_row(name, single, placebo, pool(placebo, method, test, level, _model(spec)), "all",
                         "placebo arms of the randomized studies (their own change)"))
    return rows, data

