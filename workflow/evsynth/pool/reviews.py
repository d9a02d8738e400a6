"""Our pooled estimates beside the pooled results the reviews in the corpus published (rule combine_pooled)."""

from __future__ import annotations

import pandas as pd


def review_comparison(pooled: pd.DataFrame, analyses: dict[str, dict], outcomes_h: pd.DataFrame) -> pd.DataFrame:
    """Each analysis' main estimate beside the pooled results its ``compare_with`` reviews published.

    The review's estimate is shown as published (its metric, e.g. a mean difference or an odds ratio,
    and its unit); ours on our scale. Where the metrics differ the row says so: they are context, not a
    like-for-like check.
    """
    rows = []
    o = outcomes_h
    for name, spec in sorted(analyses.items()):
        main = pooled.loc[(pooled["analysis"] == name) & (pooled["variant"] == "main") & (pooled["subgroup"] == "all")]
        if main.empty:
            continue
        m = main.iloc[0]
        for ref in spec.get("compare_with", []):
            rev = o.loc[(o["study"] == ref["study"]) & (o["measure"] == ref["measure"]) & (o["group"] == "pooled")]
            if rev.empty:
                rows.append({"analysis": name, "review": ref["study"], "measure": ref["measure"],
                             "note": "the review reports no pooled result for this measure in the records"})
                continue
            for (metric, tp, unit), g in rev.groupby(["metric", "timepoint", "unit"], dropna=False):
                stats = dict(zip(g["stat"], g["value"]))
                rows.append({
                    "analysis": name, "ours_effect": m["measure"], "ours_k": m["k"], "ours_estimate": m["estimate_bt"],
                    "ours_ci_lb": m["ci_lb_bt"], "ours_ci_ub": m["ci_ub_bt"], "ours_studies": m["studies"],
                    "review": ref["study"], "measure": ref["measure"], "review_metric": metric,
                    "review_timepoint": tp, "review_unit": unit, "review_k": stats.get("k"),
                    "review_estimate": stats.get("estimate"), "review_ci_lb": stats.get("ci_lb"),
                    "review_ci_ub": stats.get("ci_ub"),
                    "note": ("same kind of estimate" if _same_kind(m["measure"], metric) else
                             f"different estimands: ours is {m['measure']}, the review's is {metric}"),
                })
    cols = ["analysis", "ours_effect", "ours_k", "ours_estimate", "ours_ci_lb", "ours_ci_ub", "ours_studies", "review",
            "measure", "review_metric", "review_timepoint", "review_unit", "review_k", "review_estimate",
            "review_ci_lb", "review_ci_ub", "note"]
    return pd.DataFrame(rows, columns=cols)


def _same_kind(effect: str, metric: str) -> bool:
    return {"MD": "md", "OR": "or", "RR": "rr", "RD": "rd"}.get(effect.upper()) == str(metric).lower()
