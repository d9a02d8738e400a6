"""Specification curve: the pooled estimates of every specification of the multiverse, sorted, over a dot
matrix of the analytic choices that produced each (Simonsohn, Simmons and Nelson 2020).

What a reader must not be misled by:

- specifications that give the same result (same studies, same estimate and interval: an estimator that
  finds no heterogeneity, an exclusion that excludes nobody) are one column; its dots mark every choice that
  gives it and the number above it says how many specifications it stands for (:func:`collapse_specifications`);
- a specification left with one study is that study's own estimate, drawn hollow and called "single study",
  not "did not converge"; one with no study is counted as such;
- the null line belongs to the effect measure (:func:`null_for`): 0 for differences, 1 for ratios (drawn on a
  log axis), none for the proportion of one group, where nothing is coloured "CI excludes the null".

Pure and deterministic like :mod:`evsynth.report.forest`; the scales are in :mod:`evsynth.report.axes`.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from evsynth.common.figures import save_figure  # noqa: E402
from evsynth.common.measures import measure  # noqa: E402
from evsynth.report.axes import (  # noqa: E402
    display_scale, figure_footer, figure_title, finite, fmt, limits, nice_log_ticks, text_width_in, tick_label,
)
from evsynth.report.style import DPI, FS, FS_SMALL, FS_TITLE, GREY, LIGHT, OKABE_ITO, RC  # noqa: E402

__all__ = ["specification_curve", "collapse_specifications", "null_for", "pooled_label", "specification_status"]

def _options(col: pd.Series) -> list[str]:
    """Display values of one choice column in a stable order (categories, numbers ascending, else first seen)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        order = [str(c) for c in col.cat.categories]
        return order + (["n/a"] if col.isna().any() else [])
    vals = col.map(_opt_label)
    nums = pd.to_numeric(col, errors="coerce")
    if nums.notna().all() and not pd.api.types.is_bool_dtype(col):
        return [_opt_label(v) for v in sorted(set(nums.tolist()))]
    return list(dict.fromkeys(vals.tolist()))


def _opt_label(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return f"{int(v)}"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)


def null_for(effect: str) -> tuple[str | None, float | None]:
    """(transform, null on the analysis scale) of a specification curve for an effect measure, from the measure
    registry (:mod:`evsynth.common.measures`): differences ``(None, 0)``, ratios ``("exp", 0)`` (a log axis with
    the null at 1), proportions of one group ``(None, None)``: a proportion has no value that means 'no effect'."""
    m = measure(effect)
    return ("exp" if m.ratio else None), m.null


def pooled_label(effect: str) -> str:
    """The y-axis label of a specification curve: what the estimates are, on the scale drawn (the registry's
    short name; the curve's title names the outcome and what is compared)."""
    m = measure(effect)
    return f"Pooled {m.label.lower()}" + (" (log scale)" if m.ratio else "")


def specification_status(mv: pd.DataFrame) -> pd.Series:
    """Per specification: ``pooled`` (a fit of two or more studies), ``single study`` (one study: its own
    estimate, not pooled), ``no data`` (no study, or no estimate) or ``not converged``."""
    est = np.isfinite(pd.to_numeric(mv["estimate"], errors="coerce").to_numpy(float))
    k = pd.to_numeric(mv["k"], errors="coerce").to_numpy(float) if "k" in mv.columns else np.full(len(mv), np.nan)
    conv = (mv["converged"].fillna(False).astype(bool).to_numpy() if "converged" in mv.columns
            else np.ones(len(mv), bool))
    status = np.where(~est | (k == 0), "no data",
                      np.where(k == 1, "single study", np.where(conv, "pooled", "not converged")))
    return pd.Series(status, index=mv.index)


def collapse_specifications(mv: pd.DataFrame, choice_columns: list[str]) -> pd.DataFrame:
    """One row per distinct result (status, studies, estimate and interval to 10 significant digits) among the
    drawable specifications (pooled or single study), with ``n_specs`` (how many it stands for), ``primary``
    (any of them pre-specified) and, per choice column, the set of its option labels."""
    d = mv.assign(_status=specification_status(mv))
    d = d.loc[d["_status"].isin(["pooled", "single study"])].copy()
    if d.empty:
        return d.assign(n_specs=pd.Series(dtype=int))
    key = [d["_status"], d["studies"].astype(str) if "studies" in d.columns else pd.Series("", index=d.index)]
    for c in ("estimate", "ci_lb", "ci_ub"):
        key.append(pd.to_numeric(d[c], errors="coerce").map(lambda x: f"{x:.10g}"))
    d["_key"] = pd.concat(key, axis=1).astype(str).agg("|".join, axis=1)
    out = []
    for _, g in d.groupby("_key", sort=True):
        row = g.iloc[0].to_dict()
        row["n_specs"] = len(g)
        row["primary"] = bool(g["primary"].fillna(False).astype(bool).any()) if "primary" in g.columns else False
        for c in choice_columns:
            col = g[c]
            labs = col.astype(object).map(_opt_label) if isinstance(col.dtype, pd.CategoricalDtype) else col.map(_opt_label)
            row[c] = frozenset(labs)
        out.append(row)
    return pd.DataFrame(out)


def specification_curve(
    multiverse: pd.DataFrame,
    paths: list[str],
    *,
    title: str,
    effect_label: str,
    choice_columns: list[str],
    transform: str | None = None,
    null_value: float | None = 0.0,
) -> list[Path]:
    """Specification curve: distinct results (sorted, with CIs) over a dot matrix of the analytic choices.

    ``multiverse``: one row per specification with ``estimate, ci_lb, ci_ub`` (analysis scale) and the
    columns named in ``choice_columns``; optional ``k`` (studies; 1: a single-study specification), ``studies``
    (which ones), ``converged`` (bool) and ``primary`` (bool: the pre-specified specification(s), marked).
    Specifications with the same result are collapsed (:func:`collapse_specifications`). ``transform``: as in
    :func:`forest_plot` except ``"ipft"`` (back-transform first and pass ``"none-precomputed"``). A result is
    coloured "CI excludes the null" when its interval lies entirely on one side of ``null_value`` (analysis
    scale; None: no colouring, no null line; see :func:`null_for`). Options of a choice are listed in category
    order, numerically, or in order of first appearance.
    """
    missing = [c for c in ["estimate", "ci_lb", "ci_ub", *choice_columns] if c not in multiverse.columns]
    if missing:
        raise ValueError(f"specification_curve: multiverse lacks columns {missing}")
    if str(transform).lower() == "ipft":
        raise ValueError("specification_curve: back-transform Freeman-Tukey values first and pass "
                         "transform='none-precomputed'")
    f, log = display_scale(transform)
    t = "identity" if transform is None else str(transform).lower()
    bounded01 = t in ("ilogit", "iarcsin")
    mv = multiverse.reset_index(drop=True)
    total = len(mv)
    status = specification_status(mv)
    counts = status.value_counts()
    options = {c: _options(mv[c]) for c in choice_columns}
    d = collapse_specifications(mv, choice_columns)
    if len(d):
        d["_est"] = f(d["estimate"].to_numpy(float))
        d["_lb"] = f(d["ci_lb"].to_numpy(float))
        d["_ub"] = f(d["ci_ub"].to_numpy(float))
        d = d.sort_values(["_est", "_lb", "_ub"], kind="mergesort").reset_index(drop=True)
    n = len(d)
    single = (d["_status"] == "single study").to_numpy() if n else np.zeros(0, bool)
    null = None
    if null_value is not None and finite(null_value):
        null = float(f(float(null_value)))
        if log and null <= 0:
            null = None
    if null is not None and n:
        excl = ((d["_lb"] > null) | (d["_ub"] < null)).to_numpy()
    else:
        excl = np.zeros(n, dtype=bool)
    c_ex, c_in = OKABE_ITO["vermillion"], GREY
    if null is None:
        c_in = OKABE_ITO["blue"]
    colours = np.where(excl, c_ex, c_in)

    # matrix rows: per choice a header row, then its options
    mrows: list[tuple[str, str | None]] = []
    for c in choice_columns:
        mrows.append((c, None))
        mrows.extend((c, o) for o in options[c])
    row_of = {(c, o): i for i, (c, o) in enumerate(mrows) if o is not None}

    # geometry: the option labels and the bold choice names both fit left of the matrix
    label_chars = max([len(_pretty(o)) + 2 for (_, o) in mrows if o is not None] +
                      [int(len(_pretty(c)) * 1.15) for c in choice_columns] + [10])
    left = max(text_width_in(label_chars, FS_SMALL) + 0.45, 1.4)
    plot_w = min(max(0.12 * n, 4.5), 11.0)
    right = 0.25
    fig_w = round(left + plot_w + right, 2)
    top_h = 2.6
    mat_row = 0.17
    mat_h = mat_row * len(mrows)
    foot = [f"{total} specifications give {n} distinct result{'s' if n != 1 else ''} (columns, sorted by "
            "estimate; bars: confidence intervals); a column's dots mark every choice that gives it, the number "
            "above it how many specifications it stands for."]
    if counts.get("single study", 0):
        foot.append(f"{_specs(counts['single study'], 'leave')} one study: drawn hollow, that study's own "
                    "estimate (not pooled).")
    if counts.get("no data", 0):
        foot.append(f"{_specs(counts['no data'], 'leave')} no study with data (not shown).")
    if counts.get("not converged", 0):
        foot.append(f"{counts['not converged']} specification{'s' if counts['not converged'] != 1 else ''} "
                    "did not converge (not shown).")
    if null is None:
        foot.append("No null line: a proportion of one group has no value that means 'no effect'.")
    if t == "exp":
        foot.append("Ratios on a log scale; the null line is at 1.")
    wrap_chars = int((fig_w - 0.4) / (FS_SMALL * 0.6 / 72))
    foot = [line for s in foot for line in textwrap.wrap(s, wrap_chars)]
    title_lines = textwrap.wrap(title, int((fig_w - 0.4) / (FS_TITLE * 0.6 / 72))) or [""]
    title_h = 0.15 + 0.22 * len(title_lines) + 0.35  # title + legend line
    gap = 0.15
    foot_h = 0.17 * len(foot) + 0.15
    fig_h = round(title_h + top_h + gap + mat_h + 0.1 + foot_h, 2)

    with plt.rc_context(RC):
        fig = plt.figure(figsize=(fig_w, fig_h))
        ax = fig.add_axes((left / fig_w, (foot_h + 0.1 + mat_h + gap) / fig_h, plot_w / fig_w, top_h / fig_h))
        axm = fig.add_axes((left / fig_w, (foot_h + 0.1) / fig_h, plot_w / fig_w, mat_h / fig_h), sharex=ax)
        xs = np.arange(n)
        ax.xaxis.set_major_locator(NullLocator())  # the columns have no x ticks; shared with the dot matrix
        ax.set_xlim(-0.5 - 0.01 * n, max(n, 1) - 0.5 + 0.01 * n)
        ms = float(min(6.0, max(1.5, 0.6 * plot_w * 72 / max(n, 1))))
        lw = float(min(1.2, max(0.4, 0.25 * plot_w * 72 / max(n, 1))))
        if n:
            lims = limits(list(d["_lb"]) + list(d["_ub"]) + ([null] if null is not None else []), log, bounded01)
            if log:
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(FixedLocator(nice_log_ticks(*lims)))
                ax.yaxis.set_minor_locator(NullLocator())
            ax.set_ylim(*lims)
            ax.yaxis.set_major_formatter(FuncFormatter(tick_label))
            for xp in xs[d["primary"].fillna(False).astype(bool).to_numpy()]:
                for a in (ax, axm):
                    a.axvspan(xp - 0.5, xp + 0.5, color=OKABE_ITO["yellow"], alpha=0.35, lw=0, zorder=0)
            for colr in (c_in, c_ex):
                for hollow in (False, True):
                    m = (colours == colr) & (single == hollow)
                    if m.any():
                        ax.vlines(xs[m], np.clip(d["_lb"].to_numpy()[m], *lims),
                                  np.clip(d["_ub"].to_numpy()[m], *lims), color=colr, lw=lw, zorder=2,
                                  linestyles="dotted" if hollow else "solid")
                        ax.plot(xs[m], d["_est"].to_numpy()[m], ls="none", marker="o", ms=ms, zorder=3,
                                mec=colr, mfc="white" if hollow else colr)
            if n <= 60:
                ub = np.clip(d["_ub"].to_numpy(), *lims)
                for x, u, k in zip(xs, ub, d["n_specs"]):
                    ax.annotate(f"{int(k)}", (x, u), xytext=(0, 2), textcoords="offset points", ha="center",
                                va="bottom", fontsize=FS_SMALL - 1, color="#404040")
            if null is not None and lims[0] <= null <= lims[1]:
                ax.axhline(null, color="black", lw=0.8, ls=(0, (4, 3)), zorder=1)
            med = float(np.median(np.repeat(d["_est"].to_numpy(), d["n_specs"].to_numpy(int))))
            ax.axhline(med, color=OKABE_ITO["blue"], lw=0.8, ls=":", zorder=1)
        else:
            ax.text(0.5, 0.5, "no specification has an estimate", transform=ax.transAxes, ha="center", va="center")
            ax.set_yticks([])
        ax.set_ylabel(effect_label, fontsize=FS)
        ax.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
        for s in ("top", "right"):
            ax.spines[s].set_visible(False)

        # dot matrix: one dot per option a column's specifications use
        axm.set_ylim(len(mrows) - 0.5, -0.5)
        # one line of markers per dot style (edge and face colour), not one per column and choice
        dots: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
        for i in range(n):
            xs_i, ys_i = dots.setdefault((colours[i], "white" if single[i] else colours[i]), ([], []))
            for c in choice_columns:
                ys = sorted(row_of[(c, o)] for o in d[c].iloc[i] if (c, o) in row_of)
                xs_i.extend([i] * len(ys))
                ys_i.extend(ys)
        for (edge, face), (xs_i, ys_i) in dots.items():
            axm.plot(xs_i, ys_i, ls="none", marker="o", ms=ms * 0.8, mec=edge, mfc=face)
        ticks, tlabels = [], []
        for i, (c, o) in enumerate(mrows):
            if o is None:
                axm.text(0.2 / fig_w, i, _pretty(c), transform=blended_transform_factory(fig.transFigure, axm.transData),
                         ha="left", va="center", fontsize=FS_SMALL, fontweight="bold")
                if i:
                    axm.axhline(i - 0.5, color=LIGHT, lw=0.6)
            else:
                ticks.append(i)
                tlabels.append(_pretty(o))
                axm.axhline(i, color=LIGHT, lw=0.4, zorder=0)
        axm.set_yticks(ticks)
        axm.set_yticklabels(tlabels, fontsize=FS_SMALL)
        axm.tick_params(axis="y", length=0, pad=3)
        axm.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
        for s in ("top", "right", "bottom"):
            axm.spines[s].set_visible(False)

        figure_title(fig, title_lines, fig_w, fig_h)
        if null is not None:
            handles = [Line2D([], [], ls="none", marker="o", color=c_ex, label="CI excludes the null"),
                       Line2D([], [], ls="none", marker="o", color=c_in, label="CI includes the null")]
        else:
            handles = [Line2D([], [], ls="none", marker="o", color=c_in, label="pooled")] if (~single).any() else []
        if single.any():
            handles.append(Line2D([], [], ls="none", marker="o", mec=GREY, mfc="white", label="single study"))
        if n:
            handles.append(Line2D([], [], color=OKABE_ITO["blue"], ls=":", label=f"median ({fmt(med)})"))
        if n and d["primary"].fillna(False).astype(bool).any():
            handles.append(Patch(color=OKABE_ITO["yellow"], alpha=0.35, label="pre-specified"))
        fig.legend(handles=handles, loc="upper left", ncol=len(handles), frameon=False, fontsize=FS_SMALL,
                   bbox_to_anchor=(0.2 / fig_w, 1 - (0.15 + 0.22 * len(title_lines) + 0.02) / fig_h),
                   handlelength=1.5, columnspacing=1.2, borderaxespad=0.0)
        figure_footer(fig, foot, fig_w, fig_h, foot_h)
        return save_figure(fig, paths, dpi=DPI)


def _specs(n: int, verb: str) -> str:
    """'1 specification leaves' / '3 specifications leave'."""
    return f"{n} specification{'s' if n != 1 else ''} {verb if n != 1 else verb + 's'}"


def _pretty(text: str) -> str:
    """A choice or option id as words ('exclude_high_risk' -> 'exclude high risk')."""
    return str(text).replace("_", " ")
