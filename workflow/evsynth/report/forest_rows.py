"""What a forest plot shows for each study of an analysis, on the scale a reader checks against the paper.

:func:`forest_rows` turns an analysis' study rows (``studies.csv``, role ``main``) and its main pooled row into
the frame and pooled values the forest plot draws:

- study labels from the citation (first author and year, ``Wong 2021``), never internal arm ids; several
  arms combined are named (``He 2020 (2 arms)``);
- the data of each study in its label: events/total for proportions and events, mean change (SD) for means;
  the timepoint; the study's overall risk of bias;
- single proportions drawn as the observed proportion with its exact (Clopper-Pearson) interval, whatever
  the model used (a 0/3 study is 0 [0, 0.71], not the continuity-corrected 0.125); the pooled values are the
  model's, back-transformed (``estimate_bt`` ...), so the plot needs no transform;
- the axis label says the scale, the unit and which way is which.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from evsynth.common.measures import codes

__all__ = ["forest_rows", "study_label", "axis_label"]

PROPORTIONS = codes(proportion=True)


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
    if not np.isfinite(x):
        return "NA"
    return f"{float(f'{x:.{digits}g}'):g}"


def _timepoint(tp) -> str:
    text = str(tp or "")
    if text in ("", "nan"):
        return "time not stated"
    return "time not stated (after MSC)" if text == "post" else text.replace(";", ", ")


def axis_label(effect: str, unit: str = "", direction: str = "") -> str:
    """The x-axis label: measure, unit and which way is which."""
    effect = effect.upper()
    u = f" ({unit})" if unit and unit not in ("patients", "nan") else ""
    if effect == "MC":
        side = {"lower_better": "; < 0: lower after MSC (improvement)",
                "higher_better": "; > 0: higher after MSC (improvement)"}.get(direction, "")
        return f"Mean change from baseline{u}{side}"
    if effect == "MD":
        return f"Mean difference, MSC minus placebo{u}; < 0: lower with MSC"
    if effect in PROPORTIONS:
        return "Proportion of MSC-treated patients (observed, exact 95% CI per study)"
    if effect in ("OR", "RR"):
        name = "Odds ratio" if effect == "OR" else "Risk ratio"
        return f"{name}, MSC vs placebo (log scale); > 1: more patients with the outcome on MSC"
    return "Risk difference, MSC minus placebo; > 0: more patients with the outcome on MSC"


def forest_rows(studies: pd.DataFrame, main: dict, effect: str, metas: dict, overall_bias: dict | None = None,
                level: float = 95) -> tuple[pd.DataFrame, dict, str | None, float | None]:
    """Rows (``label``, ``yi``, ``ci_lb``, ``ci_ub``, ``weight``, ``n``), pooled values, transform and null.

    ``studies``: the main analysis' study rows; ``main``: its main pooled row (``pooled.csv``); ``metas``:
    study.yaml contents by id; ``overall_bias``: the overall risk-of-bias judgement by study (shown in the
    label as 'RoB: high'). For proportions every value is returned on the natural scale (transform None).
    """
    effect = effect.upper()
    rows = studies.reset_index(drop=True).copy()
    labels = []
    for r in rows.to_dict("records"):
        label = study_label(r["study"], metas.get(r["study"]))
        group = str(r.get("group", ""))
        if "+" in group.split(" vs ")[0]:
            label += f" ({group.split(' vs ')[0].count('+') + 1} arms)"
        if effect in PROPORTIONS or effect in ("OR", "RR", "RD"):
            data = f"{_fmt(r['events1'], 6)}/{_fmt(r['n1'] if 'n1' in r and np.isfinite(r.get('n1', np.nan)) else r['n'], 6)}"
            if effect in ("OR", "RR", "RD"):
                data += f" vs {_fmt(r['events2'], 6)}/{_fmt(r['n2'], 6)}"
        elif effect == "MC":
            data = f"{_fmt(r['mean1'])} (SD {_fmt(r['sd1'])})"
        else:
            data = (f"{_fmt(r['mean1'])} (SD {_fmt(r['sd1'])}) vs {_fmt(r['mean2'])} (SD {_fmt(r['sd2'])}), "
                    f"n {_fmt(r['n1'], 6)} vs {_fmt(r['n2'], 6)}")
        rob = (overall_bias or {}).get(r["study"])
        extra = f"; RoB {rob}" if rob else ""
        labels.append(f"{label}: {data} · {_timepoint(r.get('timepoint'))}{extra}" + (" *" if r.get("imputed") else ""))
    rows["label"] = labels
    pooled = dict(main)
    if effect in PROPORTIONS:
        rows["yi"], rows["ci_lb"], rows["ci_ub"] = rows["prop"], rows["prop_ci_lb"], rows["prop_ci_ub"]
        for c in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            pooled[c] = main.get(f"{c}_bt", np.nan)
        if main.get("model") == "binomial-normal GLMM":
            pooled["method"] = "binomial-normal GLMM, ML"
        return rows, pooled, None, None
    transform = "exp" if effect in ("OR", "RR") else None
    return rows, pooled, transform, 0.0
