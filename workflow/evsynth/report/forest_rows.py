"""What a forest plot shows for each study of an analysis, on the scale a reader checks against the paper.

:func:`forest_rows` turns an analysis' study rows (``studies.csv``, role ``main``) and its pooled rows into a
:class:`ForestInput`, what :func:`evsynth.report.forest.forest_plot` draws:

- study labels from the citation (first author and year, ``Wong 2021``), never internal arm ids; several
  arms combined are named (``He 2020 (2 arms)``);
- one column per arm with the study's own data: events/total for proportions and events, mean (SD) and n
  for means; a timepoint column; the study's overall risk of bias (the worst overall judgement of the tools
  applied to it, ``bias_overall.csv``) drawn as a robvis circle;
- single proportions drawn as the observed proportion with its exact (Clopper-Pearson) interval, whatever
  the model used (a 0/3 study is 0 [0, 0.71], not the continuity-corrected 0.125); the pooled values are the
  model's, back-transformed (``estimate_bt`` ...), so the plot needs no transform;
- the analysis' first subgroup dimension (``subgroups:`` in its config), one diamond per subgroup and the
  test for subgroup differences as ``pooled.csv`` has it;
- the axis label says the scale, the unit and which way is which; the favours labels under it say which side
  is better for MSC-treated patients (from the outcome's direction).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evsynth.appraise.overall import CATEGORY
from evsynth.common.measures import codes, measure

__all__ = ["ForestInput", "forest_rows", "study_label", "axis_label", "favours_labels", "overall_risk_of_bias",
           "scale_shown"]

PROPORTIONS = codes(proportion=True)
COMPARISONS = codes(paired=True)
#: worst first: the study's risk-of-bias circle shows the worst overall judgement among its tools
SEVERITY = ["critical", "high", "some_concerns", "no_information", "unclear", "low"]
TOOL_NAMES = {"murad": "Murad", "jbi_case_series": "JBI", "jbi_case_report": "JBI", "rob2": "RoB 2",
              "robins_i": "ROBINS-I"}


@dataclass
class ForestInput:
    """The rows, pooled values and texts one forest plot draws (see :func:`evsynth.report.forest.forest_plot`)."""

    rows: pd.DataFrame
    pooled: dict
    transform: str | None
    null: float | None
    columns: list[tuple[str, str]] = field(default_factory=list)  # (header, column of rows) text columns
    subgroups: dict | None = None  # {"dim", "levels": {level: pooled dict}, "test": text}
    favours: tuple[str, str] | None = None  # (left, right) under the axis
    decimals: int | None = None  # of every estimate shown (None: the plot's default)


def study_label(study: str, meta: dict | None) -> str:
    """'Wong 2021' from the citation's first author and the study id's year (with its letter: 'Wang 2013a')."""
    meta = meta or {}
    citation = str(meta.get("citation") or "").strip()
    author = re.split(r"[ ,]", citation, maxsplit=1)[0] if citation else ""
    year = re.search(r"(\d{4}[a-z]?)$", study)
    if not author or not year:
        return study
    return f"{author} {year.group(1)}"


def _fmt(x: float, digits: int = 3) -> str:
    """``digits`` significant digits, no trailing zeros, no scientific notation for ordinary values."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "NA"
    if not np.isfinite(x):
        return "NA"
    return f"{float(f'{x:.{digits}g}'):g}"


def _count(x) -> str:
    return _fmt(x, 6)


def _timepoint(tp) -> str:
    text = str(tp or "")
    if text in ("", "nan", "None"):
        return "not stated"
    return "not stated (after MSC)" if text == "post" else text.replace(";", ", ")


def axis_label(effect: str, unit: str = "", direction: str = "") -> str:
    """The x-axis label: the measure as the registry words it (:attr:`~evsynth.common.measures.Measure.words`),
    the unit and which way is which."""
    m = measure(effect)
    name = m.words[:1].upper() + m.words[1:]
    u = f" ({unit})" if unit and unit not in ("patients", "nan", "rr") else ""
    if m.code == "MC":
        side = {"lower_better": "; < 0: lower after MSC", "higher_better": "; > 0: higher after MSC"}.get(direction, "")
        return f"{name}{u}{side}"
    if m.code == "MD":
        return f"{name}{u}; < 0: lower with MSC"
    if m.proportion:
        return f"{name} (observed, exact 95% CI per study)"
    if m.ratio:
        return f"{name} (log scale); > 1: more patients with the outcome on MSC"
    return f"{name}; > 0: more patients with the outcome on MSC"


def scale_shown(effect: str) -> str:
    """The scale a forest plot of ``effect`` draws, in words (captions on the evidence page and in the
    Snakemake report, ``workflow/report/forest.rst``)."""
    m = measure(effect)
    if m.proportion:
        return (f"{m.words}, 0 to 1, no null line; each study its observed proportion with an exact "
                "(Clopper-Pearson) 95% CI, the pooled value and prediction interval the model's, back-transformed")
    if m.ratio:
        return f"{m.words}, on a log axis; 1 is no difference"
    if m.code == "MC":
        return f"{m.words} in the outcome's units; 0 is no change"
    if m.code == "MD":
        return f"{m.words}, in the outcome's units; 0 is no difference"
    return f"{m.words}; 0 is no difference"


def favours_labels(effect: str, direction: str) -> tuple[str, str] | None:
    """(left, right) labels under the axis: which side is better for patients on MSC; None for proportions of
    one group (no comparison, no side) or an outcome without a direction."""
    effect = effect.upper()
    if effect in PROPORTIONS or direction not in ("lower_better", "higher_better"):
        return None
    lower_better = direction == "lower_better"
    if effect == "MC":
        return ("improved after MSC", "worsened after MSC") if lower_better else \
            ("worsened after MSC", "improved after MSC")
    return ("favours MSC", "favours placebo") if lower_better else ("favours placebo", "favours MSC")


def overall_risk_of_bias(bias: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Per study (``bias_overall.csv`` rows): the display category of its worst overall judgement among the
    tools applied to it, and the judgements in words ('high (JBI), high (Murad)'); not-appraised studies are
    left out."""
    bias = bias.loc[~bias["overall"].eq("not applicable")]
    out = {}
    for study, rows in bias.groupby("study", sort=True):
        cats = [CATEGORY.get(str(j), "no_information") for j in rows["overall"]]
        worst = min(cats, key=lambda c: SEVERITY.index(c) if c in SEVERITY else len(SEVERITY))
        text = ", ".join(dict.fromkeys(f"{j} ({TOOL_NAMES.get(t, t)})" for j, t in zip(rows["overall"], rows["tool"])))
        out[str(study)] = (worst, text)
    return out


def _arm_texts(r: dict, effect: str) -> tuple[str, str]:
    """The study's own data, MSC arm and control arm ('' for single-arm analyses)."""
    if effect in PROPORTIONS or effect in ("OR", "RR", "RD"):
        n1 = r.get("n1")
        n1 = n1 if n1 is not None and np.isfinite(float(n1)) else r["n"]
        one = f"{_count(r['events1'])}/{_count(n1)}"
        two = f"{_count(r['events2'])}/{_count(r['n2'])}" if effect in COMPARISONS else ""
        return one, two
    if effect == "MC":
        return f"{_fmt(r['mean1'])} ({_fmt(r['sd1'])}), {_count(r['n'])}", ""
    return (f"{_fmt(r['mean1'])} ({_fmt(r['sd1'])}), {_count(r['n1'])}",
            f"{_fmt(r['mean2'])} ({_fmt(r['sd2'])}), {_count(r['n2'])}")


def _back(row: dict, proportions: bool) -> dict:
    """A pooled.csv row's values on the plot's scale (back-transformed for proportions)."""
    out = dict(row)
    if proportions:
        for c in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            out[c] = row.get(f"{c}_bt", np.nan)
        if row.get("model") == "binomial-normal GLMM":
            out["method"] = f"binomial-normal GLMM, {row.get('method', 'ML')}"
        out["glmm"] = row.get("model") == "binomial-normal GLMM"
    return out


def _subgroups(pooled_rows: pd.DataFrame | None, dims: list[str], rows: pd.DataFrame,
               proportions: bool) -> dict | None:
    """The first subgroup dimension with a test row in pooled.csv: each level's pooled values and the test."""
    if pooled_rows is None or not len(pooled_rows) or not dims:
        return None
    main = pooled_rows.loc[pooled_rows["variant"].eq("main")]
    for dim in dims:
        if dim not in rows.columns:
            continue
        test = main.loc[main["subgroup"].eq(f"{dim}: test")]
        levels = {}
        for rec in main.loc[main["subgroup"].astype(str).str.startswith(f"{dim}=")].to_dict("records"):
            levels[rec["subgroup"].split("=", 1)[1]] = _back(rec, proportions)
        if len(levels) < 2 or test.empty:
            continue
        t = test.iloc[0]
        q, p = float(t.get("q", np.nan)), float(t.get("pval", np.nan))
        df = re.search(r"df=(\d+)", str(t.get("message", "")))
        text = (f"Test for subgroup differences ({dim}): Q = {q:.2f}, df = {df.group(1) if df else len(levels) - 1}, "
                f"p = {p:.2f}" if np.isfinite(q) else f"Test for subgroup differences ({dim}): not computed")
        if "normal-normal logit" in str(t.get("message", "")):
            text += " (on the normal-normal logit model: the GLMM has no estimate for a single zero-event study)"
        return {"dim": dim, "levels": levels, "test": text}
    return None


def forest_rows(studies: pd.DataFrame, main: dict, effect: str, metas: dict,
                overall_bias: dict[str, tuple[str, str]] | None = None, *, direction: str = "",
                pooled_rows: pd.DataFrame | None = None, subgroups: list[str] | None = None) -> ForestInput:
    """What the forest plot of one analysis draws.

    ``studies``: the main analysis' study rows; ``main``: its main pooled row (``pooled.csv``); ``metas``:
    study.yaml contents by id; ``overall_bias``: :func:`overall_risk_of_bias`; ``direction``: the outcome's
    (``lower_better`` ...), for the favours labels; ``pooled_rows`` and ``subgroups``: the analysis' pooled.csv
    rows and its subgroup dimensions, for the subgroup diamonds. For proportions every value is returned on
    the natural scale (transform None).
    """
    effect = effect.upper()
    rows = studies.reset_index(drop=True).copy()
    overall_bias = overall_bias or {}
    labels, arm1, arm2, tps, rob, rob_text = [], [], [], [], [], []
    for r in rows.to_dict("records"):
        label = study_label(r["study"], metas.get(r["study"]))
        group = str(r.get("group", ""))
        if "+" in group.split(" vs ")[0]:
            label += f" ({group.split(' vs ')[0].count('+') + 1} arms)"
        labels.append(label + (" *" if r.get("imputed") in (True, "True") else ""))
        one, two = _arm_texts(r, effect)
        arm1.append(one)
        arm2.append(two)
        tps.append(_timepoint(r.get("timepoint")))
        cat, text = overall_bias.get(r["study"], ("", "not appraised"))
        rob.append(cat)
        rob_text.append(text)
    rows["label"], rows["arm1"], rows["arm2"], rows["time"] = labels, arm1, arm2, tps
    rows["rob"], rows["rob_text"] = rob, rob_text
    if effect in PROPORTIONS:
        columns = [("Events/N", "arm1")]
    elif effect in ("OR", "RR", "RD"):
        columns = [("MSC\nevents/N", "arm1"), ("Placebo\nevents/N", "arm2")]
    elif effect == "MC":
        columns = [("Change, mean\n(SD), n", "arm1")]
    else:
        columns = [("MSC mean\n(SD), n", "arm1"), ("Placebo mean\n(SD), n", "arm2")]
    columns.append(("Time", "time"))
    proportions = effect in PROPORTIONS
    pooled = _back(main, proportions)
    groups = _subgroups(pooled_rows, list(subgroups or []), rows, proportions)
    if groups:
        order = list(groups["levels"])
        rows["group_level"] = rows[groups["dim"]].astype(str)
        rows = rows.assign(_o=rows["group_level"].map({g: i for i, g in enumerate(order)}).fillna(len(order)))
        rows = rows.sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)
    favours = favours_labels(effect, direction)
    if proportions:
        rows["yi"], rows["ci_lb"], rows["ci_ub"] = rows["prop"], rows["prop_ci_lb"], rows["prop_ci_ub"]
        return ForestInput(rows, pooled, None, None, columns, groups, favours, decimals=3)
    transform = "exp" if effect in ("OR", "RR") else None
    return ForestInput(rows, pooled, transform, 0.0, columns, groups, favours)
