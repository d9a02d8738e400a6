"""Harmonization of doses and outcomes: pure, vectorized functions the Snakemake rules call.

Doses (``doses.csv``): :func:`harmonize_doses` reads each administration's ``dose_text`` with
:func:`evsynth.harmonize.units.parse_dose`; :func:`cumulative_doses` sums per patient or arm;
:func:`implied_weight_conflicts` lists weights implied by different administrations of the same patient
that disagree beyond rounding.

Outcomes (``outcomes.csv``): :func:`harmonize_outcomes` converts units and scales as ``units.yaml`` and
``measures.yaml`` say (a new unit or measure is data, not code), checks instrument ranges, and turns
timepoints into months since the first MSC (:func:`evsynth.common.timepoints.time_months`).

Every output row keeps ``study, file, line`` of its input row, and a ``rule`` column says what was done.
Problems are collected and raised together as one :class:`HarmonizeError` listing every bad record by
file, line, column, value and expectation.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Iterable

import numpy as np
import pandas as pd

from evsynth.common.timepoints import time_months
from evsynth.harmonize.units import Dose, DoseListError, DoseParseError, parse_dose

__all__ = [
    "HarmonizeError",
    "harmonize_doses",
    "harmonize_curated_doses",
    "mark_selected",
    "cumulative_doses",
    "selected_doses",
    "implied_weight_conflicts",
    "weight_interval",
    "harmonize_outcomes",
    "DOSE_COLUMNS",
    "OUTCOME_COLUMNS",
]


class HarmonizeError(ValueError):
    """Every bad record of one harmonization step. ``problems`` is a list of dicts with
    ``file, line, column, value, expected``."""

    MAX_LISTED = 200

    def __init__(self, problems: list[dict], what: str = "records"):
        self.problems = problems
        lines = [
            f"{p.get('file', '?')}:{_line(p.get('line'))}: column '{p['column']}' = {_show(p['value'])}: "
            f"{p['expected']}"
            for p in problems[: self.MAX_LISTED]
        ]
        more = len(problems) - self.MAX_LISTED
        if more > 0:
            lines.append(f"... and {more} more")
        super().__init__(f"{len(problems)} problem(s) harmonizing {what}:\n" + "\n".join(lines))


def _line(v: Any) -> str:
    try:
        return str(int(v))
    except (TypeError, ValueError):
        return str(v)


def _show(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return "(empty)" if np.isnan(v) else f"{float(v):g}"
    if isinstance(v, (np.integer,)):
        return str(int(v))
    return repr(v)


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def _col(frame: pd.DataFrame, name: str, default: Any = np.nan) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(default, index=frame.index, dtype=object if isinstance(default, str) else float)


# =============================================================================================
# Doses

DOSE_COLUMNS = [
    "study", "file", "line", "group", "seq", "count", "n", "timepoint", "agent", "route", "cell_source",
    "donor", "summary", "summary_kind", "cells", "cells_low", "cells_high", "cells_per_kg", "cells_per_kg_low",
    "cells_per_kg_high", "volume_ml", "weight_kg", "weight_basis", "implied_weight_kg",
    "implied_weight_low", "implied_weight_high", "dose_text", "rule",
]


def weight_interval(cells, cells_round, per_kg, per_kg_round):
    """Interval of body weights (kg) consistent with a total and a per-kg figure as printed.

    Each printed figure stands for the interval ``value ± half`` (half a unit of its last printed digit,
    e.g. ``1.8 × 10^6`` → 1.75–1.85 × 10^6). The weight ``total / per-kg`` then lies in
    ``[(total − h_t)/(per-kg + h_p), (total + h_t)/(per-kg − h_p)]``. Vectorized; NaN where unknown.
    """
    c = np.asarray(cells, dtype=float)
    hc = np.nan_to_num(np.asarray(cells_round, dtype=float), nan=0.0)
    p = np.asarray(per_kg, dtype=float)
    hp = np.nan_to_num(np.asarray(per_kg_round, dtype=float), nan=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = (c - hc) / (p + hp)
        hi = np.where(p - hp > 0, (c + hc) / (p - hp), np.inf)
    hi = np.where(np.isnan(lo), np.nan, hi)
    return lo, hi


def _is_cell_agent(agent: Any) -> bool:
    return isinstance(agent, str) and agent.strip().lower().startswith("msc")


def harmonize_doses(interventions: pd.DataFrame, participants: pd.DataFrame | None = None,
                    on_error: str = "raise") -> pd.DataFrame:
    """One row per intervention row (administration or summary) with the dose read from ``dose_text``.

    Columns :data:`DOSE_COLUMNS`. Rules:

    * ``agent`` not an MSC product (not starting with ``msc``, e.g. placebo): cells NaN, rule
      ``not a cell product``. An empty ``dose_text``: NaN, rule ``dose not reported`` (absent, not zero).
    * A text that lists several doses (``379 × 106, 256 × 106, and 393 × 106 cells``) repeated on the
      rows of one group is split in ``seq`` order when the number of rows equals the number of items;
      otherwise it is an error.
    * ``weight_basis``: ``reported`` when ``participants.weight_kg`` gives the group's weight; else
      ``implied`` when the row prints a total and a per-kg figure (weight = total / per-kg, with the
      rounding interval in ``implied_weight_low/high``) or, for a single patient (``n`` = 1 or a ``P<k>``
      group), when other administrations of the same patient imply it (the median of their implied
      weights; the rule names the rows); else ``unknown``.
    * Where the weight is known, a missing total is derived as per-kg × weight and a missing per-kg as
      total / weight; the rule says so.
    * Summary rows (``seq`` empty) are parsed too and carry ``summary = True``.

    Raises :class:`HarmonizeError` listing every ``dose_text`` that cannot be read (``on_error='raise'``,
    the default). With ``on_error='flag'`` such rows are kept with cells NaN and the rule
    ``unreadable dose: <reason>`` instead (for a pipeline that reports rather than stops).
    """
    iv = interventions.reset_index(drop=True)
    n = len(iv)
    out = pd.DataFrame(
        {
            c: _col(iv, c)
            for c in ["study", "file", "line", "group", "seq", "count", "n", "timepoint", "agent", "route",
                      "cell_source", "donor", "dose_text"]
        }
    )
    out["summary"] = _col(iv, "seq").isna().to_numpy()
    kind = _col(iv, "summary", "").map(lambda v: "" if _empty(v) else str(v))
    out["summary_kind"] = np.where(out["summary"], kind.where(kind.ne(""), "per_administration"), "")
    num = {c: np.full(n, np.nan) for c in ["cells", "cells_low", "cells_high", "cells_per_kg", "cells_per_kg_low",
                                            "cells_per_kg_high", "volume_ml", "implied_weight_kg",
                                            "cells_round", "cells_per_kg_round"]}
    rules = [""] * n
    problems: list[dict] = []
    parsed: dict[int, Dose] = {}
    lists: dict[tuple, list[int]] = {}

    for i in range(n):
        agent, text = out.at[i, "agent"], out.at[i, "dose_text"]
        if not _is_cell_agent(agent):
            rules[i] = "not a cell product"
            continue
        if _empty(text):
            rules[i] = "dose not reported"
            continue
        try:
            parsed[i] = parse_dose(text)
        except DoseListError:
            lists.setdefault((out.at[i, "study"], out.at[i, "group"], str(text)), []).append(i)
        except DoseParseError as e:
            problems.append(_problem(out, i, "dose_text", text, e.reason))

    for (study, group, text), rows in lists.items():
        try:
            parse_dose(text)
        except DoseListError as e:
            items = e.doses
            if len(items) == 2 and all(out.at[r, "summary_kind"] == "range" for r in rows):
                # a reported range ("ranged from A to B") read as its two ends, never as two administrations
                lo, hi = items
                for r in rows:
                    parsed[r] = Dose(text=text, cells_low=lo.cells, cells_high=hi.cells,
                                     cells_per_kg_low=lo.cells_per_kg, cells_per_kg_high=hi.cells_per_kg,
                                     rule="reported range: its two ends (low, high)")
                continue
            order = sorted(rows, key=lambda r: (np.inf if pd.isna(out.at[r, "seq"]) else out.at[r, "seq"]))
            if len(order) != len(items) or any(out.at[r, "summary"] for r in order):
                for r in rows:
                    problems.append(
                        _problem(
                            out, r, "dose_text", text,
                            f"{e.reason}; {len(rows)} administration row(s) of group {group!r} carry this text, "
                            f"so the items cannot be assigned to administrations",
                        )
                    )
                continue
            for k, (r, d) in enumerate(zip(order, items), start=1):
                parsed[r] = d
                rules[r] = f"item {k} of {len(items)} of a list, assigned in seq order"

    for i, d in parsed.items():
        for c in num:
            v = getattr(d, c)
            num[c][i] = np.nan if v is None else v
        rules[i] = "; ".join(x for x in (rules[i], d.rule) if x)

    if problems and on_error == "raise":
        raise HarmonizeError(problems, "doses")
    flagged = {}
    for p in problems:
        hit = out.index[(out["file"] == p["file"]) & (out["line"] == p["line"])]
        for j in hit:
            flagged[j] = f"unreadable dose: {p['expected']}"
    for j, msg in flagged.items():
        rules[j] = msg

    for c, v in num.items():
        out[c] = v
    lo, hi = weight_interval(out["cells"], out["cells_round"], out["cells_per_kg"], out["cells_per_kg_round"])
    out["implied_weight_low"], out["implied_weight_high"] = lo, hi

    # weights
    reported = _reported_weights(participants)
    single = _single_patient_groups(out, participants)
    weight = np.full(n, np.nan)
    basis = np.array(["unknown"] * n, dtype=object)
    for i in range(n):
        if rules[i] in ("not a cell product", "dose not reported") or rules[i].startswith("unreadable dose"):
            continue
        key = (out.at[i, "study"], out.at[i, "group"])
        if key in reported:
            weight[i], basis[i] = reported[key], "reported"
        elif not np.isnan(num["implied_weight_kg"][i]):
            weight[i], basis[i] = num["implied_weight_kg"][i], "implied"
        elif key in single:
            same = out.index[(out["study"] == key[0]) & (out["group"] == key[1])]
            imp = [(j, num["implied_weight_kg"][j]) for j in same if not np.isnan(num["implied_weight_kg"][j])]
            if imp:
                weight[i] = float(np.median([w for _, w in imp]))
                basis[i] = "implied"
                rules[i] += f"; weight implied by line(s) {','.join(_line(out.at[j, 'line']) for j, _ in imp)} (median)"
    for i in range(n):
        if basis[i] == "unknown" or np.isnan(weight[i]):
            continue
        c, p = out.at[i, "cells"], out.at[i, "cells_per_kg"]
        if np.isnan(c) and not np.isnan(p):
            out.at[i, "cells"] = p * weight[i]
            rules[i] += f"; cells = per-kg x {basis[i]} weight {weight[i]:.4g} kg"
        elif np.isnan(p) and not np.isnan(c):
            out.at[i, "cells_per_kg"] = c / weight[i]
            rules[i] += f"; per-kg = cells / {basis[i]} weight {weight[i]:.4g} kg"
        for a, b in (("cells_low", "cells_per_kg_low"), ("cells_high", "cells_per_kg_high")):
            if np.isnan(out.at[i, a]) and not np.isnan(out.at[i, b]):
                out.at[i, a] = out.at[i, b] * weight[i]
            elif np.isnan(out.at[i, b]) and not np.isnan(out.at[i, a]):
                out.at[i, b] = out.at[i, a] / weight[i]
    out["weight_kg"] = weight
    out["weight_basis"] = basis
    out["rule"] = [("summary row; " + r) if s else r for r, s in zip(rules, out["summary"])]
    return out[DOSE_COLUMNS + ["cells_round", "cells_per_kg_round"]]


def _problem(frame: pd.DataFrame, i: int, column: str, value: Any, expected: str) -> dict:
    return {
        "study": frame.at[i, "study"] if "study" in frame else None,
        "file": frame.at[i, "file"] if "file" in frame else None,
        "line": frame.at[i, "line"] if "line" in frame else None,
        "column": column,
        "value": value,
        "expected": expected,
    }


def _reported_weights(participants: pd.DataFrame | None) -> dict:
    if participants is None or "weight_kg" not in participants or participants.empty:
        return {}
    p = participants.dropna(subset=["weight_kg"])
    return {(s, g): float(w) for s, g, w in zip(p["study"], p["group"], p["weight_kg"])}


def _single_patient_groups(doses: pd.DataFrame, participants: pd.DataFrame | None) -> set:
    keys = set()
    for s, g in zip(doses["study"], doses["group"]):
        if isinstance(g, str) and re.fullmatch(r"P\d+", g):
            keys.add((s, g))
    if participants is not None and "n" in participants:
        for s, g, k in zip(participants["study"], participants["group"], participants["n"]):
            if k == 1:
                keys.add((s, g))
    return keys


def harmonize_curated_doses(interventions: pd.DataFrame, participants: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`harmonize_doses`, except rows a curator marked ``dose_readable: no`` (garbled in the source).

    Those rows are not read: their dose is absent and the rule says so, with the parser's reading of the
    problem. Any other unreadable dose still stops the run with an error naming the row.
    (``harmonize_doses(on_error="flag")`` is not used: it would also let unmarked unreadable doses through,
    and would read a marked dose the parser happens to accept.)
    """
    iv = interventions.copy()
    garbled = _col(iv, "dose_readable", "").fillna("").astype(str).eq("no")
    texts = iv.loc[garbled, "dose_text"]
    iv.loc[garbled, "dose_text"] = ""
    doses = harmonize_doses(iv, participants)
    if garbled.any():
        keyed = dict(zip(zip(iv.loc[garbled, "file"], iv.loc[garbled, "line"]), texts))
        for i in doses.index:
            key = (doses.at[i, "file"], doses.at[i, "line"])
            if key in keyed:
                doses.at[i, "dose_text"] = keyed[key]
                doses.at[i, "rule"] = ("not read: marked dose_readable=no (garbled in source); "
                                       + _why_unreadable(keyed[key]))
    return doses


def _why_unreadable(text: str) -> str:
    try:
        parse_dose(text)
    except DoseParseError as exc:
        return f"parser: {exc}"
    return "parser could read it; review the dose_readable mark"


def mark_selected(doses: pd.DataFrame, selected: pd.DataFrame | None) -> pd.DataFrame:
    """``doses`` with ``selected`` (the row is one select_evidence kept) and its ``administration`` key.

    ``selected``: the selected interventions; the cumulative doses count only selected rows (an
    administration reported by several sources counts once). ``None``: every row is selected.
    """
    doses = doses.copy()
    if selected is None:
        doses["selected"] = True
        doses["administration"] = ""
        return doses
    administration = selected.get("administration", pd.Series("", index=selected.index))
    keys = {(str(f), str(ln).removesuffix(".0")): a
            for f, ln, a in zip(selected["file"], selected["line"], administration)}
    key = [(str(f), str(ln).removesuffix(".0")) for f, ln in zip(doses["file"], doses["line"])]
    doses["selected"] = [k in keys for k in key]
    doses["administration"] = [keys.get(k, "") for k in key]
    return doses


def selected_doses(doses: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``doses`` (``doses.csv``) the synthesis uses: those :func:`mark_selected` marks ``selected``
    (one per administration; another report of it is not another dose); every row when the column is absent.
    The cumulative doses, the summaries, the case and study tables and the dose plot read doses through this."""
    if doses is None or "selected" not in doses:
        return doses
    chosen = doses["selected"]
    if chosen.dtype != bool:
        chosen = chosen.astype(str).str.strip().str.lower().isin(["true", "1", "1.0"])
    return doses.loc[chosen.to_numpy()]


#: Summary rows that are facts about administrations and never count as administrations themselves.
FACT_SUMMARIES = ("median", "mean", "central", "range", "regimen", "routes")


def cumulative_doses(doses: pd.DataFrame) -> pd.DataFrame:
    """Per study and group: cumulative cells and cells/kg, and administrations by route.

    ``doses`` should hold one row per administration (the selected rows: an administration reported by
    several sources is one row, see :mod:`evsynth.select.evidence`). Administration rows (``seq`` given) are
    summed when the group has any; otherwise its ``per_administration`` summary rows (``count``
    administrations of that dose each, e.g. a review's "100 x 10^6, twice IV"); otherwise a course
    ``total`` (``count`` administrations when stated). Summary rows of kind ``median``, ``mean``, ``range``
    or ``regimen`` (a recommended or planned regimen) are facts about administrations: never counted; a
    group that has only them gets no cumulative dose and no count (the rule says so). ``reported_total_cells``
    is a course total stated by a source (for comparison with the sum). A cumulative figure is given only
    when every counted administration has it (otherwise NaN, and ``n_cells_known`` / ``n_per_kg_known`` say
    how many had it); ranges add up to ``*_low``/``*_high`` (a point counts as both ends). ``routes`` is e.g.
    ``intranasal:1;iv:4;lymph_node:1``. ``partial`` is True when some administrations were given to only
    ``n`` patients of the arm.
    """
    rows = []
    cell = doses[doses["rule"].astype(str) != "not a cell product"]
    kind_all = _col(cell, "summary_kind", "").fillna("").astype(str)
    kind_all = kind_all.where(~(cell["summary"].astype(bool) & kind_all.eq("")), "per_administration")
    cell = cell.assign(summary_kind=kind_all)
    for (study, group), g in cell.groupby(["study", "group"], sort=True, dropna=False):
        summary = g["summary"].astype(bool)
        admin = g[~summary]
        per_admin = g[summary & g["summary_kind"].eq("per_administration")]
        totals = g[summary & g["summary_kind"].eq("total")]
        facts = g[summary & g["summary_kind"].isin(FACT_SUMMARIES)]
        reported_total = float(totals["cells"].iloc[0]) if len(totals) and totals["cells"].notna().any() else np.nan
        if len(admin):
            used, how, mult = admin, "administration rows (one per administration)", np.ones(len(admin))
        elif len(per_admin):
            used, how = per_admin, "summary rows x count"
            mult = per_admin["count"].fillna(1).to_numpy(dtype=float)
        elif len(totals):
            used, how = totals.iloc[:1], "course total as reported"
            mult = np.ones(1)
        else:
            used, how, mult = g.iloc[:0], "", np.ones(0)
        reported = used["rule"].astype(str) != "dose not reported"

        def total(col):
            v = used[col].to_numpy(dtype=float)
            return float(np.sum(v * mult)) if len(v) and not np.isnan(v).any() else np.nan

        def bound(point, end):
            v = used[point].to_numpy(dtype=float)
            e = used[end].to_numpy(dtype=float)
            b = np.where(np.isnan(v), e, v)
            return float(np.sum(b * mult)) if len(b) and not np.isnan(b).any() else np.nan

        routes: dict[str, float] = {}
        for r, m in zip(used["route"].fillna("unspecified"), mult):
            routes[r] = routes.get(r, 0) + m
        n_adm = float(np.sum(mult)) if len(used) else np.nan
        if how == "course total as reported":
            n_adm = float(used["count"].iloc[0]) if used["count"].notna().iloc[0] else np.nan
            routes = {} if np.isnan(n_adm) else routes
        if not len(used):
            kinds = ", ".join(sorted(set(facts["summary_kind"]))) or "no administration"
            rule = f"not counted: only summary facts ({kinds}) are reported, not the administrations given"
        else:
            rule = f"sum of {how}" + ("" if reported.all() else f"; {int((~reported).sum())} without a reported dose")
            if how == "course total as reported":
                rule = "course total as reported" + ("" if np.isfinite(n_adm) else "; number of administrations not stated")
            if len(facts):
                rule += "; summary facts not counted: " + ", ".join(sorted(set(facts["summary_kind"])))
        rows.append(
            {
                "study": study,
                "group": group,
                "n_administrations": n_adm,
                "n_cells_known": int(used["cells"].notna().sum()),
                "n_per_kg_known": int(used["cells_per_kg"].notna().sum()),
                "cum_cells": total("cells"),
                "cum_cells_low": bound("cells", "cells_low"),
                "cum_cells_high": bound("cells", "cells_high"),
                "cum_cells_per_kg": total("cells_per_kg"),
                "cum_cells_per_kg_low": bound("cells_per_kg", "cells_per_kg_low"),
                "cum_cells_per_kg_high": bound("cells_per_kg", "cells_per_kg_high"),
                "reported_total_cells": reported_total,
                "routes": ";".join(f"{k}:{int(v) if float(v).is_integer() else v}" for k, v in sorted(routes.items())),
                "partial": bool(used["n"].notna().any()) if "n" in used else False,
                "files": ";".join(sorted(set(used["file"].astype(str)))),
                "lines": ";".join(_line(x) for x in used["line"]),
                "rule": rule,
            }
        )
    return pd.DataFrame(rows)


def implied_weight_conflicts(doses: pd.DataFrame) -> pd.DataFrame:
    """Pairs of weights of one patient or arm that disagree beyond rounding.

    Each row that prints both a total and a per-kg figure implies a weight interval
    (:func:`weight_interval`). Two implied weights disagree only if their intervals do not overlap. A
    reported weight (``weight_basis == 'reported'``) outside an implied interval is listed as well.
    Columns: ``study, group, quantity='weight_kg', value_a, source_a, value_b, source_b,
    kind='implied_weight', note`` (the note gives both intervals).
    """
    cols = ["study", "group", "quantity", "value_a", "source_a", "value_b", "source_b", "kind", "note"]
    imp = doses[doses["implied_weight_kg"].notna()]
    rows = []
    for (study, group), g in imp.groupby(["study", "group"], sort=True):
        recs = list(g.itertuples(index=False))
        for a in range(len(recs)):
            for b in range(a + 1, len(recs)):
                ra, rb = recs[a], recs[b]
                if ra.implied_weight_high < rb.implied_weight_low or rb.implied_weight_high < ra.implied_weight_low:
                    rows.append(
                        {
                            "study": study, "group": group, "quantity": "weight_kg",
                            "value_a": ra.implied_weight_kg, "source_a": f"{ra.file}:{_line(ra.line)}",
                            "value_b": rb.implied_weight_kg, "source_b": f"{rb.file}:{_line(rb.line)}",
                            "kind": "implied_weight",
                            "note": (
                                f"implied weights {ra.implied_weight_kg:.4g} kg [{ra.implied_weight_low:.4g}, "
                                f"{ra.implied_weight_high:.4g}] and {rb.implied_weight_kg:.4g} kg "
                                f"[{rb.implied_weight_low:.4g}, {rb.implied_weight_high:.4g}] do not overlap "
                                f"within printed rounding"
                            ),
                        }
                    )
        rep = doses[(doses["study"] == study) & (doses["group"] == group) & (doses["weight_basis"] == "reported")]
        if len(rep):
            w = float(rep["weight_kg"].iloc[0])
            for r in recs:
                if not (r.implied_weight_low <= w <= r.implied_weight_high):
                    rows.append(
                        {
                            "study": study, "group": group, "quantity": "weight_kg",
                            "value_a": w, "source_a": "participants.csv weight_kg (reported)",
                            "value_b": r.implied_weight_kg, "source_b": f"{r.file}:{_line(r.line)}",
                            "kind": "implied_weight",
                            "note": (
                                f"reported weight {w:.4g} kg outside the implied interval "
                                f"[{r.implied_weight_low:.4g}, {r.implied_weight_high:.4g}]"
                            ),
                        }
                    )
    return pd.DataFrame(rows, columns=cols)


# =============================================================================================
# Outcomes

OUTCOME_COLUMNS = [
    "study", "file", "line", "group", "measure", "domain", "direction", "timepoint", "time_months", "metric",
    "stat", "value", "unit", "value_h", "unit_h", "range_low", "range_high", "range_low_h", "range_high_h",
    "flag", "rule", "comparator", "source", "quote", "note",
]

_DEFAULT_STAT_KINDS = {
    "location": ["value", "mean", "median", "q1", "q3", "min", "max", "estimate", "ci_lb", "ci_ub", "unspecified"],
    "range_checked": ["value", "mean", "median", "q1", "q3", "min", "max", "estimate", "unspecified"],
    "spread": ["sd", "se"],
    "unitless": ["n", "events", "percent", "pval", "i2", "k", "pval_heterogeneity"],
}
_DEFAULT_METRIC_KINDS = {
    "level": ["level"],
    "difference": ["change", "md"],
    "unitless": ["percent_change", "smd", "or", "rr", "rd"],
}
_UNITLESS_BOUNDS = {"n": (0, np.inf), "events": (0, np.inf), "percent": (0, 100), "pval": (0, 1),
                    "pval_heterogeneity": (0, 1), "i2": (0, 100), "k": (0, np.inf)}


def _factorize(s: pd.Series, fill: str) -> tuple[np.ndarray, np.ndarray]:
    v = s.astype(object).where(s.notna(), fill) if s.dtype == object else s.astype(str).where(s.notna(), fill)
    codes, uniq = pd.factorize(v, sort=False)
    uniq = np.array([fill if (isinstance(u, str) and not u.strip()) else u for u in uniq], dtype=object)
    return codes, uniq


def _combo_spec(measure: str, unit: str, stat: str, metric: str, measures: dict, units: dict) -> dict:
    """What to do with all rows of one (measure, unit, stat, metric): factor, offset, ranges, rule or error."""
    stat_kinds = units.get("stat_kinds") or _DEFAULT_STAT_KINDS
    metric_kinds = units.get("metric_kinds") or _DEFAULT_METRIC_KINDS
    spec = dict(factor=np.nan, offset=0.0, lo=-np.inf, hi=np.inf, check=False, unit_h="", rule="", flag="",
                error=None, rng=(np.nan, np.nan), rng_h=(np.nan, np.nan), domain="", direction="")
    if measure not in measures:
        close = difflib.get_close_matches(measure, list(measures), n=1, cutoff=0.0)
        spec["error"] = ("measure", measure, "a measure of measures.yaml" + (f"; did you mean '{close[0]}'?" if close else ""))
        return spec
    m = measures[measure]
    spec["domain"], spec["direction"] = m.get("domain", ""), m.get("direction", "")
    allowed = m.get("units") or {}
    mkind = next((k for k, v in metric_kinds.items() if metric in v), None)
    skind = next((k for k in ("spread", "unitless", "location") if stat in (stat_kinds.get(k) or [])), None)
    if mkind is None:
        spec["error"] = ("metric", metric, f"one of {sorted({x for v in metric_kinds.values() for x in v})}")
        return spec
    if skind is None:
        spec["error"] = ("stat", stat, f"one of {sorted({x for v in stat_kinds.values() for x in v})}")
        return spec
    if unit and unit not in allowed:
        spec["error"] = ("unit", unit, f"a unit of {measure}: one of {sorted(allowed)}")
        return spec
    uinfo = (allowed.get(unit) or {}) if unit else {}
    rng = uinfo.get("range")
    if rng:
        spec["rng"] = (float(rng[0]), float(rng[1]))
    if skind == "unitless":
        spec.update(factor=1.0, unit_h=unit, rule=f"{stat}: unitless, unchanged")
        spec["lo"], spec["hi"] = _UNITLESS_BOUNDS.get(stat, (-np.inf, np.inf))
        spec["check"] = True
        return spec
    if mkind == "unitless":
        spec.update(factor=1.0, unit_h=metric, rule=f"{metric}: unitless metric, unchanged")
        return spec
    if not unit:
        spec["error"] = ("unit", unit, f"a unit of {measure}: one of {sorted(allowed)}")
        return spec
    unit_h = m.get("unit_h", unit)
    spec["unit_h"] = unit_h
    pos = (units.get("percent_of_scale") or {}).get("unit", "percent_of_scale")
    if unit_h == pos:
        if not rng:
            spec.update(flag="not_converted", rule=f"no range for unit {unit!r}: not rescaled to {pos}")
        else:
            lo, hi = spec["rng"]
            w = hi - lo
            spec["factor"] = 100.0 / w
            if skind == "location" and mkind == "level":
                spec["offset"] = -100.0 * lo / w
                spec["rule"] = f"percent of scale: 100*(x-{lo:g})/{w:g} ({unit} {lo:g}-{hi:g})"
            else:
                spec["rule"] = f"percent of scale: 100*x/{w:g} ({unit} {lo:g}-{hi:g}, {'spread' if skind == 'spread' else 'difference'})"
            spec["rng_h"] = (0.0, 100.0)
    elif unit == unit_h:
        spec.update(factor=1.0, rule="unit already harmonized")
    else:
        f = _find_factor(unit, unit_h, measure, units.get("conversions") or [])
        if f is None:
            spec.update(flag="not_converted", rule=f"no conversion {unit} -> {unit_h} in units.yaml: not converted")
        else:
            spec["factor"] = f[0]
            spec["rule"] = f"{unit} -> {unit_h}: x{f[0]:g} ({f[1]})"
    if skind == "spread":
        spec["factor"] = abs(spec["factor"])
        spec["offset"] = 0.0
        spec["lo"], spec["check"] = 0.0, True
    elif stat in (stat_kinds.get("range_checked") or []) and rng:
        lo, hi = spec["rng"]
        if mkind == "level":
            spec["lo"], spec["hi"] = lo, hi
        else:
            spec["lo"], spec["hi"] = -(hi - lo), hi - lo
        spec["check"] = True
    if rng and not np.isnan(spec["factor"]) and unit_h != pos:
        spec["rng_h"] = (spec["rng"][0] * spec["factor"], spec["rng"][1] * spec["factor"])
    return spec


def _find_factor(u: str, uh: str, measure: str, conversions: Iterable[dict]) -> tuple[float, str] | None:
    for c in conversions:
        ms = c.get("measures")
        if ms and measure not in ms:
            continue
        basis = c.get("source") or c.get("basis") or "units.yaml"
        if c["from"] == u and c["to"] == uh:
            return float(c["factor"]), basis
        if c["to"] == u and c["from"] == uh:
            return 1.0 / float(c["factor"]), basis
    return None


def harmonize_outcomes(outcomes: pd.DataFrame, measures: dict, units: dict, *, raise_errors: bool = True) -> pd.DataFrame:
    """Every outcome row with its original ``value, unit, stat, timepoint`` and harmonized ``value_h,
    unit_h, time_months``, the measure's ``domain``, range and ``direction``, a ``flag`` (``not_converted``
    where no conversion exists, e.g. creatinine mg/dL) and the ``rule`` applied.

    Errors (all collected, then one :class:`HarmonizeError`): unknown measure, metric or stat; a unit that
    does not fit the measure (or none where one is needed); a value outside the instrument's range on its
    unit (for values on the scale: value/mean/median/q1/q3/min/max/estimate of a level; a change or mean
    difference may go down to -(high - low)); a negative SD/SE; counts below 0, percentages outside
    0-100; an unreadable timepoint. Vectorized: per-row work is array arithmetic over codes of the
    distinct (measure, unit, stat, metric) combinations and distinct timepoints.
    """
    df = outcomes
    n = len(df)
    mcodes, muniq = _factorize(_col(df, "measure", ""), "")
    ucodes, uuniq = _factorize(_col(df, "unit", ""), "")
    scodes, suniq = _factorize(_col(df, "stat", ""), "")
    tcodes, tuniq = _factorize(_col(df, "metric", ""), "level")
    nm, nu, ns, nt = len(muniq), len(uuniq), len(suniq), len(tuniq)
    combo = ((mcodes.astype(np.int64) * nu + ucodes) * ns + scodes) * nt + tcodes
    cuniq, cinv = np.unique(combo, return_inverse=True)
    specs = []
    for c in cuniq:
        c = int(c)
        t = c % nt
        c //= nt
        s = c % ns
        c //= ns
        u = c % nu
        m = c // nu
        specs.append(_combo_spec(str(muniq[m]), str(uuniq[u]), str(suniq[s]), str(tuniq[t]), measures, units))

    def arr(key, dtype=float):
        return np.array([sp[key] for sp in specs], dtype=dtype)

    factor = arr("factor")[cinv]
    offset = arr("offset")[cinv]
    value = pd.to_numeric(_col(df, "value"), errors="coerce").to_numpy(dtype=float)
    value_h = value * factor + offset

    problems: list[dict] = []
    err_combo = np.array([sp["error"] is not None for sp in specs])
    if err_combo.any():
        for k in np.flatnonzero(err_combo):
            col, val, exp = specs[k]["error"]
            for i in np.flatnonzero(cinv == k):
                problems.append(_row_problem(df, i, col, val, exp))
    check = arr("check", bool)[cinv]
    lo, hi = arr("lo")[cinv], arr("hi")[cinv]
    with np.errstate(invalid="ignore"):
        bad = check & ~np.isnan(value) & ((value < lo) | (value > hi))
    for i in np.flatnonzero(bad):
        k = cinv[i]
        problems.append(
            _row_problem(
                df, i, "value", value[i],
                f"{suniq[scodes[i]]} of {muniq[mcodes[i]]} ({tuniq[tcodes[i]]}) in [{lo[i]:g}, {hi[i]:g}]"
                + (f" on unit {uuniq[ucodes[i]]!r}" if uuniq[ucodes[i]] else ""),
            )
        )

    months, trule = time_months(_col(df, "timepoint", ""), units)
    tp_err = (trule == "ERROR").to_numpy()
    for i in np.flatnonzero(tp_err):
        problems.append(
            _row_problem(df, i, "timepoint", df["timepoint"].iloc[i],
                         "baseline, post, or '<number>[-<number>] days|weeks|months|years'")
        )
    if problems and raise_errors:
        problems.sort(key=lambda p: (str(p["file"]), _sortable(p["line"])))
        raise HarmonizeError(problems, "outcomes")

    # rule = unit rule + time rule, built once per distinct (combination, timepoint) pair
    tr_codes, tr_uniq = pd.factorize(trule)
    pair = cinv.astype(np.int64) * (len(tr_uniq) + 1) + tr_codes
    puniq, pinv = np.unique(pair, return_inverse=True)
    rule_u = np.array(
        [f"{specs[int(p) // (len(tr_uniq) + 1)]['rule']}; time: {tr_uniq[int(p) % (len(tr_uniq) + 1)]}" for p in puniq],
        dtype=object,
    )
    rng = np.array([sp["rng"] for sp in specs], dtype=float).reshape(-1, 2)[cinv]
    rng_h = np.array([sp["rng_h"] for sp in specs], dtype=float).reshape(-1, 2)[cinv]

    out = pd.DataFrame(
        {
            "study": _col(df, "study", "").to_numpy(),
            "file": _col(df, "file", "").to_numpy(),
            "line": _col(df, "line").to_numpy(),
            "group": _col(df, "group", "").to_numpy(),
            "measure": _col(df, "measure", "").to_numpy(),
            "domain": arr("domain", object)[cinv],
            "direction": arr("direction", object)[cinv],
            "timepoint": _col(df, "timepoint", "").to_numpy(),
            "time_months": months.to_numpy(),
            "metric": tuniq[tcodes],
            "stat": _col(df, "stat", "").to_numpy(),
            "value": value,
            "unit": _col(df, "unit", "").to_numpy(),
            "value_h": value_h,
            "unit_h": arr("unit_h", object)[cinv],
            "range_low": rng[:, 0],
            "range_high": rng[:, 1],
            "range_low_h": rng_h[:, 0],
            "range_high_h": rng_h[:, 1],
            "flag": arr("flag", object)[cinv],
            "rule": rule_u[pinv],
            "comparator": _col(df, "comparator", "").to_numpy(),
            "source": _col(df, "source", "").to_numpy(),
            "quote": _col(df, "quote", "").to_numpy(),
            "note": _col(df, "note", "").to_numpy(),
        }
    )
    return out


def _sortable(v: Any):
    try:
        return (0, int(v))
    except (TypeError, ValueError):
        return (1, str(v))


def _row_problem(df: pd.DataFrame, i: int, column: str, value: Any, expected: str) -> dict:
    def get(c):
        return df[c].iloc[i] if c in df.columns else None

    return {"study": get("study"), "file": get("file"), "line": get("line"), "column": column, "value": value,
            "expected": expected}
