"""Funnel plot of one analysis, drawn only where small-study tests are meaningful (k >= ``small_study_min_k``,
default 10; Sterne et al. 2011, BMJ 343:d4002): each study's estimate on the analysis scale against its standard
error (inverted axis), the pooled estimate, the pseudo 95% confidence region, the studies trim-and-fill adds
(hollow) and, in the footer, Egger's regression test and trim-and-fill's result as pooled.csv has them.

Where k is below the threshold nothing is drawn: pooled.csv's "Egger's regression test" and "trim-and-fill"
rows, the summary of findings and the evidence page say "not assessable" and why. Pure and deterministic like
:mod:`evsynth.report.forest` (metafor ``funnel()`` is the model).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from evsynth.common.figures import save_figure  # noqa: E402
from evsynth.report.axes import figure_footer, figure_title  # noqa: E402
from evsynth.report.style import DPI, FS, FS_SMALL, FS_TITLE, GREY, OKABE_ITO, RC  # noqa: E402

__all__ = ["funnel_plot"]


def funnel_plot(yi, vi, estimate: float, paths: list, *, title: str, effect_label: str,
                filled_yi=(), filled_vi=(), notes: list[str] | tuple[str, ...] = (), level: float = 95) -> list[Path]:
    """Estimates (x, analysis scale) against standard errors (y, 0 at the top), the pooled ``estimate`` and the
    pseudo ``level``% region ``estimate ± z * se``; ``filled_*``: the studies trim-and-fill imputes (hollow);
    ``notes``: footer lines (Egger's test, trim-and-fill). Returns the written paths."""
    yi, se = np.asarray(yi, float), np.sqrt(np.asarray(vi, float))
    fy, fse = np.asarray(filled_yi, float), np.sqrt(np.asarray(filled_vi, float))
    if yi.size == 0:
        raise ValueError("funnel_plot: no studies")
    from scipy.special import ndtri

    z = float(ndtri(0.5 + level / 200))
    top = float(np.nanmax(np.concatenate([se, fse]))) * 1.05
    fig_w, plot_h = 6.0, 3.6
    wrap_chars = int((fig_w - 0.4) / (FS_SMALL * 0.6 / 72))
    foot = [line for s in notes for line in textwrap.wrap(s, wrap_chars)]
    title_lines = textwrap.wrap(title, int((fig_w - 0.4) / (FS_TITLE * 0.6 / 72))) or [""]
    title_h = 0.15 + 0.22 * len(title_lines) + 0.3
    foot_h = 0.17 * len(foot) + 0.15
    axis_h = 0.55
    fig_h = round(title_h + plot_h + axis_h + foot_h, 2)
    with plt.rc_context(RC):
        fig = plt.figure(figsize=(fig_w, fig_h))
        ax = fig.add_axes((0.9 / fig_w, (axis_h + foot_h) / fig_h, (fig_w - 1.2) / fig_w, plot_h / fig_h))
        ax.fill([estimate - z * top, estimate, estimate + z * top], [top, 0, top], color="#F2F2F2", zorder=0)
        ax.plot([estimate - z * top, estimate, estimate + z * top], [top, 0, top], color=GREY, lw=0.8, ls=":")
        ax.axvline(estimate, color=OKABE_ITO["vermillion"], lw=1.0, zorder=1)
        ax.plot(yi, se, ls="none", marker="o", ms=5, color=OKABE_ITO["blue"], zorder=3)
        if fy.size:
            ax.plot(fy, fse, ls="none", marker="o", ms=5, mfc="white", mec=OKABE_ITO["blue"], zorder=3)
        ax.set_ylim(top, 0)
        ax.set_ylabel("Standard error", fontsize=FS)
        ax.set_xlabel(effect_label, fontsize=FS)
        for s in ("top", "right"):
            ax.spines[s].set_visible(False)
        handles = [Line2D([], [], ls="none", marker="o", color=OKABE_ITO["blue"], label="study"),
                   Line2D([], [], color=OKABE_ITO["vermillion"], label="pooled estimate"),
                   Line2D([], [], color=GREY, ls=":", label=f"pseudo {level:g}% region")]
        if fy.size:
            handles.insert(1, Line2D([], [], ls="none", marker="o", mfc="white", mec=OKABE_ITO["blue"],
                                     label="added by trim-and-fill"))
        fig.legend(handles=handles, loc="upper left", ncol=len(handles), frameon=False, fontsize=FS_SMALL,
                   bbox_to_anchor=(0.2 / fig_w, 1 - (0.15 + 0.22 * len(title_lines) + 0.02) / fig_h),
                   handlelength=1.4, columnspacing=1.0, borderaxespad=0.0)
        figure_title(fig, title_lines, fig_w, fig_h)
        figure_footer(fig, foot, fig_w, fig_h, foot_h)
        return save_figure(fig, paths, dpi=DPI)
