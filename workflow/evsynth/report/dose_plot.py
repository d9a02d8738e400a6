"""Dose per kg by study and route: MSC doses (cells/kg, log axis) grouped by population, coloured by route.

Pure and deterministic like :mod:`evsynth.report.forest`. :func:`dose_plot_rows` chooses which dose rows the
plot shows (the administrations of cell products, each study's population beside it).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedLocator, LogFormatterMathtext  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from evsynth.common.figures import save_figure  # noqa: E402
from evsynth.harmonize.tables import selected_doses  # noqa: E402
from evsynth.report.axes import figure_footer, figure_title, text_width_in  # noqa: E402
from evsynth.report.style import DPI, FS, FS_SMALL, FS_TITLE, GREY, LIGHT, OKABE_ITO, RC  # noqa: E402

__all__ = ["ROUTE_STYLE", "dose_plot", "dose_plot_rows"]

# Route of administration (resources/vocabulary/terms.yaml `route`) -> (display label, colour, marker).
ROUTE_STYLE: dict[str, tuple[str, str, str]] = {
    "iv": ("intravenous", OKABE_ITO["blue"], "o"),
    "intra_articular": ("intra-articular", OKABE_ITO["vermillion"], "s"),
    "intraosseous": ("intraosseous", OKABE_ITO["green"], "^"),
    "lymph_node": ("lymph node", OKABE_ITO["orange"], "D"),
    "intrathecal": ("intrathecal", OKABE_ITO["purple"], "v"),
    "intranasal": ("intranasal", OKABE_ITO["skyblue"], "P"),
    "subcutaneous": ("subcutaneous", "#7F6A00", "X"),
    "unspecified": ("route not reported", GREY, "h"),
}
_EXTRA_STYLE = [(OKABE_ITO["black"], "*"), (OKABE_ITO["yellow"], "p"), ("#666666", "<"), ("#B35806", ">")]
POPULATION_ORDER = ["pediatric", "adult", "mixed", "unspecified", "dosing reference"]
POPULATION_LABEL = {"dosing reference": "Dosing references (GVHD, not the question's conditions)"}


def dose_reason(rule: str) -> str:
    """Why a dose row gives no dose per kg, in words, from the harmonizer's ``rule`` (doses.csv)."""
    rule = str(rule or "")
    if rule.startswith("not read") or "not read:" in rule:
        return "dose unreadable in the source"
    if "dose not reported" in rule:
        return "dose not reported"
    if "total" in rule and "per-kg" not in rule:
        return "total cells only, no body weight to divide by"
    return "no dose per kg"


def dose_plot_rows(doses: pd.DataFrame, studies: dict, conditions=None) -> pd.DataFrame:
    """The rows the dose plot draws and lists, one per study, arm (``group``), route and dose.

    The selected rows (:func:`evsynth.harmonize.tables.selected_doses`: one per administration, never another
    report's copy of it) of cell products (placebo arms are not doses). Per study and arm: the administrations with a dose
    per kg; where an arm has none, its summary rows with one (liang2010, sun2010 and wang2014 report the dose
    only as a summary); identical rows are one, with ``count``. An arm with no dose per kg at all is one row
    with ``reason`` (:func:`dose_reason`), so the plot lists it instead of dropping it. ``population`` comes
    from study.yaml ("unspecified" where it has none); studies not about ``conditions`` (config
    ``summaries.conditions``; the GVHD dosing references) are grouped as ``dosing reference``.
    """
    from evsynth.appraise.tools import in_question

    doses = selected_doses(doses)
    d = doses.loc[~doses["rule"].astype(str).eq("not a cell product")].copy()
    d["population"] = d["study"].map(lambda s: (studies.get(s) or {}).get("population") or "unspecified")
    if conditions is not None:
        ref = ~d["study"].map(lambda s: in_question(studies.get(s), conditions))
        d.loc[ref, "population"] = "dosing reference"
    d["group"] = d["group"].fillna("").astype(str)
    value = ["cells_per_kg", "cells_per_kg_low", "cells_per_kg_high"]
    for c in value:
        v = pd.to_numeric(d[c], errors="coerce").astype(float)
        d[c] = v.where(v > 0)
    d["_has"] = d[value].notna().any(axis=1)
    d["_summary"] = d["summary"].astype(str).str.lower().isin(["true", "1"])
    out = []
    for (study, group), g in d.groupby(["study", "group"], sort=True):
        shown = g.loc[g["_has"] & ~g["_summary"]]
        if shown.empty:
            shown = g.loc[g["_has"]]
        if shown.empty:
            first = g.sort_values("_summary", kind="stable").iloc[0]
            out.append({**first.to_dict(), "count": 0, "reason": dose_reason(first["rule"])})
            continue
        shown = shown.assign(route=shown["route"].fillna("unspecified"))
        for _, same in shown.groupby(["route", *value], sort=False, dropna=False):
            out.append({**same.iloc[0].to_dict(), "count": len(same), "reason": ""})
    cols = ["study", "group", "route", *value, "population", "count", "reason"]
    return pd.DataFrame(out, columns=cols).reset_index(drop=True)


def _route_styles(routes: list[str]) -> dict[str, tuple[str, str, str]]:
    out = {}
    extra = 0
    for r in routes:
        if r in ROUTE_STYLE:
            out[r] = ROUTE_STYLE[r]
        else:
            c, m = _EXTRA_STYLE[extra % len(_EXTRA_STYLE)]
            out[r] = (r.replace("_", " "), c, m)
            extra += 1
    return out


def dose_plot(doses: pd.DataFrame, paths: list[str], *, title: str = "MSC dose per kg by study and route") -> list[Path]:
    """Dose per kg (cells/kg, log10 axis) by study, studies grouped by population, colour and marker by route.

    ``doses``: columns ``study, group, route, cells_per_kg, cells_per_kg_low, cells_per_kg_high`` (NaN where
    not derivable) and ``population`` (pediatric / adult / mixed / unspecified; other values are listed
    after these). Each row of ``doses`` (an administration or an arm) is a marker at ``cells_per_kg``; its
    ``cells_per_kg_low``..``_high`` range is a horizontal bar. A study with one plotted row takes one line
    labelled with the study; a study with several takes one line per row, labelled with the ``group`` (an
    administration's dose range without a point value is drawn as the bar alone; optional ``count``: identical
    rows it stands for, shown as "×3"). Rows without any per-kg value are not drawn: the footnote lists every
    one, "study (group): reason" (optional column ``reason``), the studies with no dose at all apart from the
    arms of drawn studies, so nothing is dropped silently and no study is both drawn and called not
    derivable. Routes are the vocabulary keys (iv, intra_articular, ...; see ``ROUTE_STYLE``); missing routes
    count as "unspecified". Studies are sorted by id within a population; rows keep their input order within
    a study.
    """
    need = ["study", "group", "route", "cells_per_kg", "cells_per_kg_low", "cells_per_kg_high", "population"]
    missing = [c for c in need if c not in doses.columns]
    if missing:
        raise ValueError(f"dose_plot: doses lack columns {missing}")
    d = doses.reset_index(drop=True).copy()
    for c in ("cells_per_kg", "cells_per_kg_low", "cells_per_kg_high"):
        v = pd.to_numeric(d[c], errors="coerce").astype(float)
        d[c] = v.where(v > 0)
    blank = lambda r: not isinstance(r, str) or not r.strip()  # noqa: E731
    d["route"] = d["route"].map(lambda r: "unspecified" if blank(r) else r.strip())
    d["population"] = d["population"].map(lambda r: "unspecified" if blank(r) else r.strip())
    d["study"] = d["study"].astype(str)
    d["group"] = d["group"].map(lambda g: "" if blank(g) else " ".join(str(g).split()))
    d["_has"] = d[["cells_per_kg", "cells_per_kg_low", "cells_per_kg_high"]].notna().any(axis=1)
    d["why"] = d["reason"].fillna("").astype(str) if "reason" in d.columns else ""
    d["_count"] = pd.to_numeric(d["count"], errors="coerce").fillna(1).astype(int) if "count" in d.columns else 1
    nd = d[~d["_has"]]
    drawn = set(d.loc[d["_has"], "study"])

    def _listed(rows: pd.DataFrame) -> list[str]:
        return list(dict.fromkeys((f"{r.study} ({r.group})" if r.group else r.study) + (f": {r.why}" if r.why else "")
                                  for r in rows.itertuples()))

    nd_studies = _listed(nd.loc[~nd["study"].isin(drawn)])
    nd_arms = _listed(nd.loc[nd["study"].isin(drawn)])
    d = d.loc[d["_has"]].reset_index(drop=True)

    pops = [p for p in POPULATION_ORDER if (d["population"] == p).any()] + \
        sorted(set(d["population"]) - set(POPULATION_ORDER))
    # lines: ("pop", population) | ("study", study, row or None) | ("arm", study, row, first?)
    lines: list[tuple] = []
    for p in pops:
        lines.append(("pop", p))
        for s in sorted(d.loc[d["population"] == p, "study"].unique()):
            shown = d[(d["population"] == p) & (d["study"] == s) & d["_has"]]
            if len(shown) <= 1:
                lines.append(("study", s, None if shown.empty else shown.iloc[0]))
            else:
                for j, (_, r) in enumerate(shown.iterrows()):
                    lines.append(("arm", s, r, j == 0))
    routes_present = sorted(d["route"].unique(), key=lambda r: (list(ROUTE_STYLE).index(r) if r in ROUTE_STYLE
                                                                else len(ROUTE_STYLE), r))
    styles = _route_styles(routes_present)

    row_h = 0.26
    study_chars = max([len(ln[1]) for ln in lines if ln[0] != "pop"] + [10])
    arm_chars = max([len(textwrap.shorten(ln[2]["group"] or "-", 26, placeholder="…")) for ln in lines
                     if ln[0] == "arm"] + [0])
    study_w = text_width_in(study_chars) + 0.15
    arm_w = text_width_in(arm_chars, FS_SMALL) + 0.15 if arm_chars else 0.0
    left = 0.35 + study_w + arm_w
    plot_w = 5.2
    right = 0.3
    fig_w = round(left + plot_w + right, 2)
    wrap_chars = int((fig_w - 0.4) / (FS_SMALL * 0.55 / 72))
    foot = ["Markers: dose per kg as reported or derived; bars: reported ranges (low to high)."]
    if (d["_count"] > 1).any():
        foot.append("×n: n administrations with the same dose and route.")
    if nd_studies:
        n_nd = nd.loc[~nd["study"].isin(drawn), "study"].nunique()
        foot.append(f"Not shown, no dose per kg derivable ({n_nd} stud{'y' if n_nd == 1 else 'ies'}): "
                    + "; ".join(nd_studies) + ".")
    if nd_arms:
        foot.append("Arms of the studies shown without a dose per kg: " + "; ".join(nd_arms) + ".")
    foot = [line for s in foot for line in textwrap.wrap(s, wrap_chars)]
    title_lines = textwrap.wrap(title, int((fig_w - 0.4) / (FS_TITLE * 0.6 / 72))) or [""]
    leg_cols = max(1, min(len(routes_present), int(plot_w / 1.45)))
    n_leg_rows = math.ceil(len(routes_present) / leg_cols)
    title_h = 0.15 + 0.22 * len(title_lines) + 0.2 * n_leg_rows + 0.15
    plot_h = row_h * len(lines)
    axis_h = 0.5
    foot_h = 0.17 * len(foot) + 0.15
    fig_h = round(title_h + plot_h + axis_h + foot_h, 2)

    with plt.rc_context(RC):
        fig = plt.figure(figsize=(fig_w, fig_h))
        ax = fig.add_axes((left / fig_w, (axis_h + foot_h) / fig_h, plot_w / fig_w, plot_h / fig_h))
        ax.set_ylim(len(lines) - 0.5, -0.5)
        vals = d[["cells_per_kg", "cells_per_kg_low", "cells_per_kg_high"]].to_numpy(float).ravel()
        vals = vals[np.isfinite(vals)]
        if vals.size:
            llo, lhi = math.floor(math.log10(vals.min()) - 0.15), math.ceil(math.log10(vals.max()) + 0.15)
        else:
            llo, lhi = 5, 8
        if lhi - llo < 2:
            lhi = llo + 2
        ax.set_xscale("log")
        ax.set_xlim(10.0 ** llo, 10.0 ** lhi)
        ax.xaxis.set_major_locator(FixedLocator([10.0 ** e for e in range(llo, lhi + 1)]))
        ax.xaxis.set_minor_locator(FixedLocator([m * 10.0 ** e for e in range(llo, lhi) for m in range(2, 10)]))
        ax.xaxis.set_major_formatter(LogFormatterMathtext())
        ax.grid(axis="x", which="major", color=LIGHT, lw=0.6, zorder=0)
        ax.set_xlabel("MSC dose (cells/kg body weight, log scale)", fontsize=FS)
        ax.set_yticks([])
        for sp in ("top", "right", "left"):
            ax.spines[sp].set_visible(False)
        ax.tick_params(axis="x", which="minor", length=2)
        lab_tf = blended_transform_factory(fig.dpi_scale_trans, ax.transData)
        ax_tf = blended_transform_factory(ax.transAxes, ax.transData)
        x_study, x_arm = 0.2 + 0.15, left - 0.08
        for i, ln in enumerate(lines):
            if ln[0] == "pop":
                ax.text(0.2, i, POPULATION_LABEL.get(ln[1], ln[1].replace("_", " ").capitalize()), transform=lab_tf,
                        ha="left", va="center", fontsize=FS, fontweight="bold", clip_on=False)
                if i:
                    ax.plot([0, 1], [i - 0.5, i - 0.5], transform=ax_tf, color=GREY, lw=0.6)
                continue
            r = ln[2]
            if ln[0] == "study" or ln[3]:
                ax.text(x_study, i, ln[1], transform=lab_tf, ha="left", va="center", fontsize=FS, clip_on=False)
                if lines[i - 1][0] != "pop":
                    ax.plot([0, 1], [i - 0.5, i - 0.5], transform=ax_tf, color=LIGHT, lw=0.5)
            if ln[0] == "arm":
                ax.text(x_arm, i, textwrap.shorten(r["group"] or "-", 26, placeholder="…"), transform=lab_tf,
                        ha="right", va="center", fontsize=FS_SMALL, color="#444444", clip_on=False)
            if r is None:
                ax.text(0.01, i, "not derivable", transform=ax_tf, ha="left", va="center", fontsize=FS_SMALL,
                        style="italic", color=GREY)
                continue
            _, colr, mk = styles[r["route"]]
            lo_, hi_, pt = r["cells_per_kg_low"], r["cells_per_kg_high"], r["cells_per_kg"]
            if math.isfinite(lo_) and math.isfinite(hi_):
                ax.plot([lo_, hi_], [i, i], color=colr, lw=3.0, alpha=0.5, solid_capstyle="butt", zorder=2)
                for xv in (lo_, hi_):
                    ax.plot([xv, xv], [i - 0.22, i + 0.22], color=colr, lw=1.2, zorder=2)
            elif math.isfinite(lo_) or math.isfinite(hi_):
                xv = lo_ if math.isfinite(lo_) else hi_
                ax.plot([xv, xv], [i - 0.22, i + 0.22], color=colr, lw=1.2, zorder=2)
            if math.isfinite(pt):
                ax.plot([pt], [i], marker=mk, ms=6.5, color=colr, mec="black", mew=0.4, ls="none", zorder=3)
            if r["_count"] > 1:
                xv = pt if math.isfinite(pt) else (hi_ if math.isfinite(hi_) else lo_)
                ax.annotate(f"×{r['_count']}", (xv, i), xytext=(6, 0), textcoords="offset points", ha="left",
                            va="center", fontsize=FS_SMALL, color="#444444")

        figure_title(fig, title_lines, fig_w, fig_h)
        handles = [Line2D([], [], ls="none", marker=styles[r][2], ms=6.5, color=styles[r][1], mec="black", mew=0.4,
                          label=styles[r][0]) for r in routes_present]
        fig.legend(handles=handles, loc="upper left", ncol=leg_cols, frameon=False, fontsize=FS_SMALL,
                   bbox_to_anchor=(left / fig_w, 1 - (0.15 + 0.22 * len(title_lines) + 0.02) / fig_h),
                   handlelength=1.2, columnspacing=1.2, borderaxespad=0.0)
        figure_footer(fig, foot, fig_w, fig_h, foot_h)
        return save_figure(fig, paths, dpi=DPI)

