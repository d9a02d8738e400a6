"""Summary statistics: means and SDs from medians and quantiles, SDs from SEs and CIs, change-score SDs,
imputation of missing summaries (every imputed number flagged with its method) and responders.

Formulas from ``../shared/sources/methods-reference.md`` section 4 (read there in metafor
``R/conv.fivenum.r`` and meta ``R/mean-sd-internal.R``). Notation: a = min, q1, m = median, q3, b = max,
n = sample size; xi(n) = 2 Phi^-1((n - 0.375)/(n + 0.25)), eta(n) = 2 Phi^-1((0.75n - 0.125)/(n + 0.25))
(the Phi^-1 forms, as metafor; meta's small-n tables differ slightly).

Scenarios: S1 = (a, m, b), S2 = (q1, m, q3), S3 = all five. ``method``:

* ``wan2014``: Wan means (S1 eq. 2 ``(a+2m+b)/4 + (a-2m+b)/(4n)``, S2 eq. 14 ``(q1+m+q3)/3``, S3 eq. 10
  ``(a+2q1+2m+2q3+b)/8``) and Wan SDs (S1 ``(b-a)/xi``, S2 ``(q3-q1)/eta``, S3
  ``((b-a)/xi + (q3-q1)/eta)/2``).
* ``luo2018``: Luo means (S1 eq. 7 with w = 4/(4 + n^0.75); S2 eq. 11; S3 eq. 15) with Wan SDs.
* ``shi2020``: Luo means with Shi's S3 SD ``w (b-a)/xi + (1-w)(q3-q1)/eta``, w = 1/(1 + 0.07 n^0.6);
  for S1 and S2 Shi's SD is Wan's.

Reference values (metafor ``conv.fivenum`` docs, n = 20): (2, 6, 14) luo2018 -> 6.594468 / 3.211576;
(4, 6, 10) luo2018 -> 6.719500 / 4.787076; (2, 4, 6, 10, 14) shi2020 -> 6.938841 / 3.679435 (tests).
metafor requires n >= 5 (``min_n``); smaller samples give NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "xi",
    "eta",
    "mean_sd_from_quantiles",
    "sd_from_se",
    "sd_from_ci",
    "change_sd",
    "impute_summary",
    "responders",
    "load_thresholds",
    "METHODS",
]

METHODS = ("wan2014", "luo2018", "shi2020")


def xi(n):
    """xi(n) = 2 Phi^-1((n - 0.375)/(n + 0.25)) (Wan 2014 eq. 7/9)."""
    n = np.asarray(n, dtype=float)
    return 2 * stats.norm.ppf((n - 0.375) / (n + 0.25))


def eta(n):
    """eta(n) = 2 Phi^-1((0.75 n - 0.125)/(n + 0.25)) (Wan 2014 eq. 15/16)."""
    n = np.asarray(n, dtype=float)
    return 2 * stats.norm.ppf((0.75 * n - 0.125) / (n + 0.25))


def _arr(x, shape):
    if x is None:
        return np.full(shape, np.nan)
    return np.broadcast_to(np.asarray(x, dtype=float), shape).astype(float)


def mean_sd_from_quantiles(n, *, min=None, q1=None, median=None, q3=None, max=None, method: str = "luo2018",
                           min_n: int = 5):
    """Estimated mean and SD (arrays) from a median with a range and/or an IQR, vectorized.

    Each element uses the richest scenario its non-NaN inputs allow (S3 > S2 > S1); NaN where the median,
    n, or both a range and an IQR are missing, or n < ``min_n``. Returns ``(mean, sd, scenario)`` where
    scenario is an array of ``'S1'``, ``'S2'``, ``'S3'`` or ``''``.
    """
    if method not in METHODS:
        raise ValueError(f"method {method!r}: expected one of {METHODS}")
    shape = np.broadcast_shapes(*[np.shape(v) for v in (n, min, q1, median, q3, max) if v is not None])
    n, a, q1, m, q3, b = (_arr(v, shape) for v in (n, min, q1, median, q3, max))
    ok = ~np.isnan(m) & ~np.isnan(n) & (n >= min_n)
    has_r = ok & ~np.isnan(a) & ~np.isnan(b)
    has_q = ok & ~np.isnan(q1) & ~np.isnan(q3)
    s3, s2, s1 = has_r & has_q, has_q & ~has_r, has_r & ~has_q
    with np.errstate(invalid="ignore", divide="ignore"):
        x, e = xi(n), eta(n)
        sd1 = (b - a) / x
        sd2 = (q3 - q1) / e
        if method == "wan2014":
            m1 = (a + 2 * m + b) / 4 + (a - 2 * m + b) / (4 * n)
            m2 = (q1 + m + q3) / 3
            m3 = (a + 2 * q1 + 2 * m + 2 * q3 + b) / 8
        else:
            w = 4 / (4 + n**0.75)
            m1 = w * (a + b) / 2 + (1 - w) * m
            m2 = (0.7 + 0.39 / n) * (q1 + q3) / 2 + (0.3 - 0.39 / n) * m
            w1 = 2.2 / (2.2 + n**0.75)
            w2 = 0.7 - 0.72 / n**0.55
            m3 = w1 * (a + b) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * m
        if method == "shi2020":
            ws = 1 / (1 + 0.07 * n**0.6)
            sd3 = ws * (b - a) / x + (1 - ws) * (q3 - q1) / e
        else:
            sd3 = 0.5 * ((b - a) / x + (q3 - q1) / e)
    mean = np.select([s3, s2, s1], [m3, m2, m1], np.nan)
    sd = np.select([s3, s2, s1], [sd3, sd2, sd1], np.nan)
    scen = np.select([s3, s2, s1], ["S3", "S2", "S1"], "")
    return mean, sd, scen


def sd_from_se(se, n):
    """SD = SE x sqrt(n) (the SE of a mean)."""
    return np.asarray(se, dtype=float) * np.sqrt(np.asarray(n, dtype=float))


def sd_from_ci(lower, upper, n, level: float = 0.95, dist: str = "t"):
    """SD from a confidence interval of a mean: sqrt(n) (upper - lower) / (2 q), q the ``level`` quantile of
    t with n - 1 df (``dist='t'``, default, right for small samples) or of the normal (``dist='z'``)."""
    n = np.asarray(n, dtype=float)
    p = 0.5 + level / 2
    q = stats.t.ppf(p, n - 1) if dist == "t" else stats.norm.ppf(p) * np.ones_like(n)
    return np.sqrt(n) * (np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)) / (2 * q)


def change_sd(sd_pre, sd_post, r):
    """SD of the change score: sqrt(sd_pre^2 + sd_post^2 - 2 r sd_pre sd_post)."""
    a = np.asarray(sd_pre, dtype=float)
    b = np.asarray(sd_post, dtype=float)
    return np.sqrt(a**2 + b**2 - 2 * np.asarray(r, dtype=float) * a * b)


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
    import yaml

    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
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
