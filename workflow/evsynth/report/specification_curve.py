"""Specification curve: the pooled estimates of every specification of the multiverse, sorted, over a dot
matrix of the analytic choices that produced each (Simonsohn, Simmons and Nelson 2020).

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
from evsynth.report.axes import (  # noqa: E402
    display_scale, figure_footer, figure_title, finite, fmt, limits, nice_log_ticks, text_width_in, tick_label, wrap,
)
from evsynth.report.style import DPI, FS, FS_SMALL, FS_TITLE, GREY, LIGHT, OKABE_ITO, RC  # noqa: E402

__all__ = ["specification_curve"]


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
    """Specification curve: estimates (sorted, with CIs) over a dot matrix of the analytic choices.

    ``multiverse``: one row per specification with ``estimate, ci_lb, ci_ub`` (analysis scale) and the
    columns named in ``choice_columns``. Optional ``converged`` (bool): False rows are skipped and counted in
    the footnote, as are rows without a finite estimate. Optional ``primary`` (bool): the pre-specified
    specification(s) are marked. ``transform``: as in :func:`forest_plot` except ``"ipft"`` (back-transform
    first and pass ``"none-precomputed"``). A specification is coloured "CI excludes the null" when its
    interval lies entirely on one side of ``null_value`` (analysis scale; None: no colouring, no null line).
    Options of a choice are listed in category order, numerically, or in order of first appearance.
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
    conv = mv["converged"].fillna(False).astype(bool) if "converged" in mv.columns else pd.Series(True, index=mv.index)
    est_ok = np.isfinite(pd.to_numeric(mv["estimate"], errors="coerce").to_numpy(float))
    n_failed = int((~conv).sum())
    n_noest = int((conv & ~est_ok).sum())
    keep = conv.to_numpy() & est_ok
    options = {c: _options(mv[c]) for c in choice_columns}
    d = mv[keep].copy()
    d["_est"] = f(d["estimate"].to_numpy(float))
    d["_lb"] = f(d["ci_lb"].to_numpy(float))
    d["_ub"] = f(d["ci_ub"].to_numpy(float))
    d = d.sort_values("_est", kind="mergesort").reset_index(drop=True)
    n = len(d)
    null = None
    if null_value is not None and finite(null_value):
        null = float(f(float(null_value)))
        if log and null <= 0:
            null = None
    if null is not None:
        excl = ((d["_lb"] > null) | (d["_ub"] < null)).to_numpy()
    else:
        excl = np.zeros(n, dtype=bool)
    c_ex, c_in = OKABE_ITO["vermillion"], GREY
    colours = np.where(excl, c_ex, c_in)

    # matrix rows: per choice a header row, then its options
    mrows: list[tuple[str, str | None]] = []
    for c in choice_columns:
        mrows.append((c, None))
        mrows.extend((c, o) for o in options[c])
    row_of = {(c, o): i for i, (c, o) in enumerate(mrows) if o is not None}

    # geometry
    label_chars = max([len(wrap(o, 28, 1)) + 2 for (_, o) in mrows if o is not None] +
                      [len(c.replace("_", " ")) for c in choice_columns] + [10])
    left = min(max(text_width_in(label_chars, FS_SMALL) + 0.35, 1.4), 3.0)
    plot_w = min(max(0.09 * n, 4.5), 11.0)
    right = 0.25
    fig_w = round(left + plot_w + right, 2)
    top_h = 2.6
    mat_row = 0.17
    mat_h = mat_row * len(mrows)
    foot = []
    foot.append(f"{n} of {total} specifications shown, sorted by estimate; bars: confidence intervals.")
    if n_failed:
        foot.append(f"{n_failed} specification{'s' if n_failed != 1 else ''} did not converge and "
                    f"{'are' if n_failed != 1 else 'is'} not shown.")
    if n_noest:
        foot.append(f"{n_noest} specification{'s' if n_noest != 1 else ''} gave no estimate and "
                    f"{'are' if n_noest != 1 else 'is'} not shown.")
    if t == "exp":
        foot.append("Ratios on a log scale.")
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
        ax.set_xlim(-0.5 - 0.01 * n, max(n, 1) - 0.5 + 0.01 * n)
        ms = float(min(5.0, max(1.5, 0.6 * plot_w * 72 / max(n, 1))))
        lw = float(min(1.2, max(0.4, 0.25 * plot_w * 72 / max(n, 1))))
        if n:
            lims = limits(list(d["_lb"]) + list(d["_ub"]) + ([null] if null is not None else []), log, bounded01)
            if log:
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(FixedLocator(nice_log_ticks(*lims)))
                ax.yaxis.set_minor_locator(NullLocator())
            ax.set_ylim(*lims)
            ax.yaxis.set_major_formatter(FuncFormatter(tick_label))
            if "primary" in d.columns:
                for xp in xs[d["primary"].fillna(False).astype(bool).to_numpy()]:
                    for a in (ax, axm):
                        a.axvspan(xp - 0.5, xp + 0.5, color=OKABE_ITO["yellow"], alpha=0.35, lw=0, zorder=0)
            for colr in (c_in, c_ex):
                m = colours == colr
                if m.any():
                    ax.vlines(xs[m], np.clip(d["_lb"].to_numpy()[m], *lims), np.clip(d["_ub"].to_numpy()[m], *lims),
                              color=colr, lw=lw, zorder=2)
                    ax.plot(xs[m], d["_est"].to_numpy()[m], ls="none", marker="o", ms=ms, color=colr, zorder=3)
            if null is not None and lims[0] <= null <= lims[1]:
                ax.axhline(null, color="black", lw=0.8, ls=(0, (4, 3)), zorder=1)
            med = float(np.median(d["_est"]))
            ax.axhline(med, color=OKABE_ITO["blue"], lw=0.8, ls=":", zorder=1)
        else:
            ax.text(0.5, 0.5, "no specification converged", transform=ax.transAxes, ha="center", va="center")
            ax.set_yticks([])
        ax.set_ylabel(effect_label, fontsize=FS)
        ax.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
        for s in ("top", "right"):
            ax.spines[s].set_visible(False)

        # dot matrix
        axm.set_ylim(len(mrows) - 0.5, -0.5)
        yrows = []
        for c in choice_columns:
            col = d[c]
            lab = col.astype(object).map(_opt_label) if isinstance(col.dtype, pd.CategoricalDtype) else col.map(_opt_label)
            yrows.append(np.array([row_of.get((c, v), -1) for v in lab]))
        for colr in (c_in, c_ex):
            m = colours == colr
            if m.any():
                for yr in yrows:
                    ok = m & (yr >= 0)
                    axm.plot(xs[ok], yr[ok], ls="none", marker="o", ms=ms * 0.9, color=colr)
        ticks, tlabels = [], []
        for i, (c, o) in enumerate(mrows):
            if o is None:
                axm.text(-0.04 - (left - 0.3) / plot_w, i, c.replace("_", " "), transform=blended_transform_factory(
                    axm.transAxes, axm.transData), ha="left", va="center", fontsize=FS_SMALL, fontweight="bold")
                if i:
                    axm.axhline(i - 0.5, color=LIGHT, lw=0.6)
            else:
                ticks.append(i)
                tlabels.append(wrap(o, 28, 1))
                axm.axhline(i, color=LIGHT, lw=0.4, zorder=0)
        axm.set_yticks(ticks)
        axm.set_yticklabels(tlabels, fontsize=FS_SMALL)
        axm.tick_params(axis="y", length=0, pad=3)
        axm.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
        for s in ("top", "right", "bottom"):
            axm.spines[s].set_visible(False)

        figure_title(fig, title_lines, fig_w, fig_h)
        handles = [Line2D([], [], ls="none", marker="o", color=c_ex, label="CI excludes the null"),
                   Line2D([], [], ls="none", marker="o", color=c_in, label="CI includes the null")] \
            if null is not None else [Line2D([], [], ls="none", marker="o", color=c_in, label="specification")]
        if n:
            handles.append(Line2D([], [], color=OKABE_ITO["blue"], ls=":", label=f"median ({fmt(med)})"))
        if "primary" in d.columns and d["primary"].fillna(False).astype(bool).any():
            handles.append(Patch(color=OKABE_ITO["yellow"], alpha=0.35, label="pre-specified"))
        fig.legend(handles=handles, loc="upper left", ncol=len(handles), frameon=False, fontsize=FS_SMALL,
                   bbox_to_anchor=(left / fig_w, 1 - (0.15 + 0.22 * len(title_lines) + 0.02) / fig_h),
                   handlelength=1.5, columnspacing=1.2, borderaxespad=0.0)
        figure_footer(fig, foot, fig_w, fig_h, foot_h)
        return save_figure(fig, paths, dpi=DPI)
