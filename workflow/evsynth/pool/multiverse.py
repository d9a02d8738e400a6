"""The multiverse: every combination of a grid's choices for each listed analysis, fitted in batches
(datasets from :mod:`evsynth.pool.datasets`, fits by :func:`evsynth.stats.rma_many`)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from evsynth.common.config import MULTIVERSE_KEYS, multiverse_spec  # noqa: F401  (the multiverse's params)
from evsynth.common.measures import measure
from evsynth.pool.datasets import UNCONTROLLED, Corpus, long_table, uses_correlation
from evsynth.stats import rma_many


MULTIVERSE_ORDER = ["analysis", "method", "test", "correlation", "imputation", "inclusion"]
#: The multiverse table's columns (results/tables/multiverse.csv), in order.
MULTIVERSE_COLUMNS = ["analysis", "effect", "method", "test", "correlation", "imputation", "inclusion", "k", "estimate",
                      "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "i2", "pval", "estimate_bt", "ci_lb_bt", "ci_ub_bt",
                      "converged", "message", "studies"]


def multiverse(corpus: Corpus, analyses: dict[str, dict], grid: dict) -> pd.DataFrame:
    """Every combination of the grid's choices for each listed analysis, fitted in batches.

    Each analysis' datasets are one :func:`evsynth.pool.datasets.long_table` over its (correlation,
    imputation) variants; a specification is a variant and an inclusion rule's mask over its rows; then
    each (estimator, test) pair is one :func:`evsynth.stats.rma_many` call over all specifications at once.
    """
    names = grid.get("analyses") or list(analyses)
    inclusions = grid.get("inclusion", ["all"])
    specs, fitted = [], []
    for name in names:
        spec = analyses[name]
        effect = spec["effect"].upper()
        corrs = grid.get("correlations", [spec.get("prepost_correlation", 0.5)]) if effect == "MC" else [np.nan]
        imps = grid.get("imputation", [spec.get("imputation", "wan2014")]) if effect in ("MC", "MD") else [""]
        cells, variants, index = [], [], {}
        for r, imp in itertools.product(corrs, imps):
            r_used = 0.5 if np.isnan(r) else r
            key = (imp, r_used if uses_correlation(corpus, spec, imp or "wan2014") else None)
            if key not in index:  # a dataset no correlation changes is built once
                index[key] = len(variants)
                variants.append((r_used, imp or "wan2014"))
            cells.append((r, imp, index[key]))
        table, _ = long_table(corpus, spec, variants)
        if table.empty:  # no study has data under any variant
            table = pd.DataFrame(columns=["variant", "label", "yi", "vi", "n"])
        keep = {incl: _inclusion_mask(table, incl) if len(table) else np.zeros(0, bool) for incl in inclusions}
        variant, labels = table["variant"].to_numpy(), table["label"].to_numpy(object)
        columns = {c: table[c].to_numpy() for c in ("yi", "vi", "n")}
        for r, imp, v in cells:
            for incl in inclusions:
                at = np.flatnonzero((variant == v) & keep[incl])
                specs.append({"spec": len(specs), "analysis": name, "effect": effect, "correlation": r,
                              "imputation": imp, "inclusion": incl, "studies": ";".join(labels[at])})
                if len(at):
                    fitted.append((columns, at, specs[-1]["spec"]))
    spec_frame = pd.DataFrame(specs, columns=["spec", "analysis", "effect", "correlation", "imputation", "inclusion",
                                              "studies"])  # columns even when no analysis is listed
    stack = _stack(fitted)
    pairs = list(itertools.product(grid.get("estimators", ["REML"]), grid.get("tests", ["z"])))
    fits = [rma_many(stack, "spec", method=method, test=test).assign(method=method, test=test)
            for method, test in pairs] if len(stack) else [pd.DataFrame(columns=["spec", "method", "test"])]
    cells = spec_frame.iloc[np.tile(np.arange(len(spec_frame)), len(pairs))].assign(
        method=np.repeat([m for m, _ in pairs], len(spec_frame)), test=np.repeat([t for _, t in pairs], len(spec_frame)))
    result = cells.merge(pd.concat(fits, ignore_index=True), on=["spec", "method", "test"], how="left")
    for col in ("k", "estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "i2", "pval", "converged", "message"):
        if col not in result.columns:  # no specification had data
            result[col] = np.nan
    result["converged"] = result["converged"].astype("boolean").fillna(False).astype(bool)
    result["message"] = result["message"].fillna("no study has data for this specification")
    sizes = {k: columns["n"][at].astype(float) for columns, at, k in fitted}
    for c in ("estimate", "ci_lb", "ci_ub"):
        result[f"{c}_bt"] = _backtransformed(result, c, sizes)
    result["k"] = result["k"].fillna(0).astype(int)
    return result[MULTIVERSE_COLUMNS].sort_values(MULTIVERSE_ORDER).reset_index(drop=True)


def _backtransformed(result: pd.DataFrame, column: str, sizes: dict) -> np.ndarray:
    """``column`` on the natural scale: one call per effect (the transforms are elementwise), and per
    specification for Freeman-Tukey (the harmonic mean of that specification's sizes)."""
    out = np.full(len(result), np.nan)
    values = result[column].to_numpy(float)
    for effect, at in result.groupby("effect", sort=False).indices.items():
        m = measure(effect)
        if m.code != "PFT":
            out[at] = m.backtransform(values[at])
            continue
        spec = result["spec"].to_numpy()[at]
        for k in dict.fromkeys(spec):
            one = at[spec == k]
            out[one] = m.backtransform(values[one], sizes.get(k))
    return out


def _stack(fitted: list[tuple[dict, np.ndarray, int]]) -> pd.DataFrame:
    """``yi, vi, n`` of every specification with data, one block per specification (``spec``), from
    (a long table's ``yi, vi, n`` columns, the specification's rows in it, specification id)."""
    if not fitted:
        return pd.DataFrame(columns=["yi", "vi", "n", "spec"])
    stacked = {c: np.concatenate([columns[c][at] for columns, at, _ in fitted]) for c in ("yi", "vi", "n")}
    return pd.DataFrame({**stacked, "spec": np.concatenate([np.full(len(at), k) for _, at, k in fitted])})


def _inclusion_mask(data: pd.DataFrame, inclusion: str) -> np.ndarray:
    """The rows of a dataset a multiverse inclusion rule keeps."""
    if inclusion == "all":
        return np.ones(len(data), dtype=bool)
    return {"exclude_confounded": lambda: ~data["confounded"].to_numpy(bool),
            "exclude_imputed": lambda: ~data["imputed"].to_numpy(bool),
            "exclude_high_risk": lambda: ~data["high_risk"].to_numpy(bool),
            "exclude_uncontrolled": lambda: ~data["design"].isin(UNCONTROLLED).to_numpy()}[inclusion]()


def combine_multiverse(shards: list[pd.DataFrame]) -> pd.DataFrame:
    """The multiverse table from per-analysis shards (each a :func:`multiverse` of one analysis), in the order
    :func:`multiverse` gives all analyses at once; each specification is fitted on its own, so a shard's rows
    equal the rows of a single run. No shards (no multiverse analysis): the table's columns, no rows."""
    if not shards:
        return pd.DataFrame(columns=MULTIVERSE_COLUMNS)
    return pd.concat(shards, ignore_index=True).sort_values(MULTIVERSE_ORDER).reset_index(drop=True)
