"""Imputed summary rows (mean/SD from median, IQR, range, SE, CI; change SDs) and responder counts
over harmonized outcomes. The formulas live in evsynth.stats.conversions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evsynth.stats.conversions import xi, eta, mean_sd_from_quantiles, sd_from_se, sd_from_ci, change_sd

# ---------------------------------------------------------------------------------------------

_KEYS = ["study", "group", "measure", "timepoint", "metric"]


def _lines(s: pd.Series) -> str:
    return ";".join(str(int(x)) if isinstance(x, (int, float, np.integer, np.floating)) and not pd.isna(x) else str(x)
                    for x in s)


def impute_summary(outcomes_h: pd.DataFrame, method: str = "luo2018", r: float = 0.5, min_n: int = 5,
                   ci_dist: str = "t") -> pd.DataFrame:
    """The harmonized outcome rows plus derived rows, each derived row ``imputed=True`` with
    ``imputation`` naming the method. Per study + group + measure + timepoint + metric (on ``value_h``):

    * mean and SD from median with IQR and/or range and n, where no mean (resp. SD) is reported
      (:func:`mean_sd_from_quantiles`, ``method``);
    * SD from SE and n, or from a 95% CI and n (:func:`sd_from_se`, :func:`sd_from_ci`), where no SD is reported;
    * change from baseline (metric ``change``): mean = follow-up mean - baseline mean, SD by
      :func:`change_sd` with pre-post correlation ``r``, where the change is not reported (or its SD is
      missing); n = the smaller of the two n.

    Derived rows keep ``study`` and ``file``; ``line`` lists the input lines (``12;13;15``).
    """
    df = outcomes_h.copy()
    df["imputed"] = False
    df["imputation"] = ""
    metric = df["metric"].where(df["metric"].notna() & (df["metric"].astype(str) != ""), "level")
    df["metric"] = metric
    new: list[dict] = []
    cont = df[df["stat"].isin(["mean", "sd", "se", "median", "q1", "q3", "min", "max", "n", "ci_lb", "ci_ub", "value"])]
    wide = cont.pivot_table(index=_KEYS, columns="stat", values="value_h", aggfunc="first")
    first = cont.groupby(_KEYS, sort=False).agg(file=("file", "first"), line=("line", _lines), unit_h=("unit_h", "first"),
                                                 domain=("domain", "first"), direction=("direction", "first"),
                                                 time_months=("time_months", "first"))
    wide = wide.join(first)
    for c in ["mean", "sd", "se", "median", "q1", "q3", "min", "max", "n", "ci_lb", "ci_ub"]:
        if c not in wide:
            wide[c] = np.nan

    def add(idx, stat, value, how, nrow=None):
        for key, v in zip(idx, value):
            if np.isnan(v):
                continue
            base = dict(zip(_KEYS, key))
            info = wide.loc[key]
            new.append({**base, "file": info["file"], "line": info["line"], "stat": stat, "value": np.nan,
                        "value_h": float(v), "unit_h": info["unit_h"], "domain": info["domain"],
                        "direction": info["direction"], "time_months": info["time_months"],
                        "imputed": True, "imputation": how, "rule": f"imputed: {how}"})

    need_mean = wide["mean"].isna()
    need_sd = wide["sd"].isna()
    mean, sd, scen = mean_sd_from_quantiles(wide["n"].to_numpy(), min=wide["min"].to_numpy(), q1=wide["q1"].to_numpy(),
                                            median=wide["median"].to_numpy(), q3=wide["q3"].to_numpy(),
                                            max=wide["max"].to_numpy(), method=method, min_n=min_n)
    label = {"S1": "median/range", "S2": "median/IQR", "S3": "median/IQR/range"}
    for s in ("S1", "S2", "S3"):
        sel = (scen == s)
        add(wide.index[sel & need_mean.to_numpy()], "mean", mean[sel & need_mean.to_numpy()], f"{method} mean from {label[s]}")
        add(wide.index[sel & need_sd.to_numpy()], "sd", sd[sel & need_sd.to_numpy()], f"{method} sd from {label[s]}")
    sd_se = np.asarray(sd_from_se(wide["se"], wide["n"]), dtype=float)
    sel = need_sd.to_numpy() & ~np.isnan(sd_se)
    add(wide.index[sel], "sd", sd_se[sel], "sd from se x sqrt(n)")
    with np.errstate(invalid="ignore"):
        sd_ci = np.asarray(sd_from_ci(wide["ci_lb"], wide["ci_ub"], wide["n"], dist=ci_dist), dtype=float)
    sel = need_sd.to_numpy() & np.isnan(sd_se) & ~np.isnan(sd_ci)
    add(wide.index[sel], "sd", np.asarray(sd_ci)[sel], f"sd from 95% CI ({ci_dist})")

    # change scores from baseline and follow-up
    imp = pd.DataFrame(new)
    allw = wide[["mean", "sd", "n"]].copy()
    if len(imp):
        extra = imp.pivot_table(index=_KEYS, columns="stat", values="value_h", aggfunc="first")
        allw = allw.combine_first(extra.reindex(columns=["mean", "sd", "n"]))
    allw = allw.reset_index()
    lvl = allw[allw["metric"] == "level"]
    base = lvl[lvl["timepoint"] == "baseline"].set_index(["study", "group", "measure"])
    fu = lvl[lvl["timepoint"] != "baseline"].join(base[["mean", "sd", "n"]], on=["study", "group", "measure"], rsuffix="_pre")
    fu = fu.dropna(subset=["mean", "mean_pre"])
    if len(fu):
        chg = wide.xs("change", level="metric", drop_level=False) if "change" in wide.index.get_level_values("metric") else None
        for row in fu.itertuples(index=False):
            key = (row.study, row.group, row.measure, row.timepoint, "change")
            have = chg.loc[key] if chg is not None and key in chg.index else None
            lvl_key = (row.study, row.group, row.measure, row.timepoint, "level")
            info = wide.loc[lvl_key] if lvl_key in wide.index else None
            base_key = (row.study, row.group, row.measure, "baseline", "level")
            binfo = wide.loc[base_key] if base_key in wide.index else None
            lines = ";".join(str(x) for x in (binfo["line"] if binfo is not None else "", info["line"] if info is not None else "") if x)
            common = {"study": row.study, "group": row.group, "measure": row.measure, "timepoint": row.timepoint,
                      "metric": "change", "value": np.nan, "imputed": True,
                      "file": (info if info is not None else binfo)["file"], "line": lines,
                      "unit_h": (info if info is not None else binfo)["unit_h"],
                      "domain": (info if info is not None else binfo)["domain"],
                      "direction": (info if info is not None else binfo)["direction"],
                      "time_months": (info if info is not None else binfo)["time_months"]}
            if have is None or np.isnan(have["mean"]):
                how = "change mean = follow-up mean - baseline mean"
                new.append({**common, "stat": "mean", "value_h": row.mean - row.mean_pre, "imputation": how, "rule": f"imputed: {how}"})
            if (have is None or np.isnan(have["sd"])) and not (np.isnan(row.sd) or np.isnan(row.sd_pre)):
                how = f"change sd from baseline and follow-up sd, r={r:g}"
                new.append({**common, "stat": "sd", "value_h": float(change_sd(row.sd_pre, row.sd, r)),
                            "imputation": how, "rule": f"imputed: {how}"})
            if (have is None or np.isnan(have["n"])) and not (np.isnan(row.n) or np.isnan(row.n_pre)):
                how = "change n = min(baseline n, follow-up n)"
                new.append({**common, "stat": "n", "value_h": float(min(row.n, row.n_pre)), "imputation": how,
                            "rule": f"imputed: {how}"})
    if not new:
        return df
    add_df = pd.DataFrame(new)
    return pd.concat([df, add_df.reindex(columns=df.columns)], ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Responders


def load_thresholds(path) -> dict:
    """Read ``resources/vocabulary/responders.yaml`` (measure -> list of thresholds)."""
    from evsynth.common.inputs import yaml_data

    with open(path, encoding="utf-8") as fh:
        data = yaml_data(fh.read()) or {}
    out = {}
    for measure, entry in data.items():
        items = entry.get("thresholds") if isinstance(entry, dict) else entry
        for t in items or []:
            for k in ("name", "direction", "gt", "source", "quote"):
                if k not in t:
                    raise ValueError(f"{path}: threshold of {measure} lacks {k!r}: {t}")
        out[measure] = items or []
    return out


def responders(outcomes_h: pd.DataFrame, thresholds: dict) -> pd.DataFrame:
    """Per patient (stat ``value``) and per arm (stat ``mean``) improvement against ``thresholds``.

    For each threshold of a measure (``direction: decrease|increase``, strict ``gt`` in the measure's
    harmonized unit, e.g. SLEDAI-2K improvement = decrease > 3), the change from baseline to each later
    timepoint is the reported change (metric ``change``) or follow-up minus baseline (same stat). A patient
    meets the threshold when the change exceeds it in the stated direction; an arm row says whether the
    arm's mean change does (``level = 'arm_mean'``, which is not a responder proportion). Columns: study,
    group, measure, threshold, level, timepoint, time_months, baseline, followup, change, met, source,
    quote, files, lines.
    """
    cols = ["study", "group", "measure", "threshold", "level", "timepoint", "time_months", "baseline", "followup",
            "change", "met", "threshold_source", "threshold_quote", "file", "lines"]
    rows = []
    df = outcomes_h
    metric = df["metric"].where(df["metric"].notna() & (df["metric"].astype(str) != ""), "level")
    for measure, ths in thresholds.items():
        sub = df[(df["measure"] == measure) & df["stat"].isin(["value", "mean"])].assign(metric=metric)
        if sub.empty:
            continue
        for (study, group, stat), g in sub.groupby(["study", "group", "stat"], sort=True):
            lvl = g[g["metric"] == "level"]
            base = lvl[lvl["timepoint"] == "baseline"]
            chg = g[g["metric"] == "change"]
            pts = {}
            if len(base):
                b = base.iloc[0]
                for f in lvl[lvl["timepoint"] != "baseline"].itertuples(index=False):
                    pts[f.timepoint] = (b["value_h"], f.value_h, f.value_h - b["value_h"], f.time_months,
                                        f.file, f"{_lines(pd.Series([b['line']]))};{_lines(pd.Series([f.line]))}")
            for f in chg.itertuples(index=False):
                pts[f.timepoint] = (np.nan, np.nan, f.value_h, f.time_months, f.file, _lines(pd.Series([f.line])))
            for tp, (bv, fv, c, tm, file, lines) in pts.items():
                for t in ths:
                    sign = -1 if t["direction"] == "decrease" else 1
                    rows.append({"study": study, "group": group, "measure": measure, "threshold": t["name"],
                                 "level": "patient" if stat == "value" else "arm_mean", "timepoint": tp,
                                 "time_months": tm, "baseline": bv, "followup": fv, "change": c,
                                 "met": bool(sign * c > float(t["gt"])), "threshold_source": t["source"],
                                 "threshold_quote": t["quote"], "file": file, "lines": lines})
    return pd.DataFrame(rows, columns=cols)
