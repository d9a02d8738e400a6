"""Baujat plot of one analysis: each study's contribution to the heterogeneity statistic Q (x axis) against
its influence on the pooled estimate (y axis) (Baujat et al. 2002, Stat Med 21:2641-52; metafor ``baujat()``).

:func:`baujat_plot` is pure: it draws the numbers it is given (``baujat_x``, ``baujat_y`` of
:func:`evsynth.stats.baujat`, one row per study) and writes one figure to every path through
:func:`evsynth.common.figures.save_figure`; same inputs give byte-identical files. The figure size is fixed.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from evsynth.common.figures import save_figure  # noqa: E402
from evsynth.report.axes import figure_footer, figure_title  # noqa: E402
from evsynth.report.style import FS_SMALL, GREY, OKABE_ITO, RC  # noqa: E402

__all__ = ["baujat_plot"]

FIG_W, FIG_H, FOOT_H, TITLE_H = 6.0, 5.2, 0.75, 0.45  # inches


def baujat_plot(table: pd.DataFrame, paths: Sequence[str | Path], title: str, caveat: str = "") -> list[Path]:
    """Draw the Baujat plot of ``table`` (columns ``label``, ``baujat_x``, ``baujat_y``, and ``influential``
    if known: those studies are drawn in vermillion) to every path (``.png``/``.svg``)."""
    x = table["baujat_x"].to_numpy(float)
    y = table["baujat_y"].to_numpy(float)
    flag = table["influential"].fillna(False).astype(bool).to_numpy() if "influential" in table else np.zeros(len(x), bool)
    ok = np.isfinite(x) & np.isfinite(y)
    with plt.rc_context(RC):
        fig = plt.figure(figsize=(FIG_W, FIG_H))
        ax = fig.add_axes((0.8 / FIG_W, (FOOT_H + 0.45) / FIG_H, (FIG_W - 1.2) / FIG_W,
                           (FIG_H - FOOT_H - TITLE_H - 0.75) / FIG_H))
        ax.scatter(x[ok & ~flag], y[ok & ~flag], s=22, color=OKABE_ITO["blue"], zorder=3)
        ax.scatter(x[ok & flag], y[ok & flag], s=26, color=OKABE_ITO["vermillion"], marker="D", zorder=3)
        for xi, yi, lab in zip(x[ok], y[ok], table["label"].astype(str).to_numpy()[ok]):
            ax.annotate(textwrap.shorten(lab, 28, placeholder="..."), (xi, yi), xytext=(4, 3),
                        textcoords="offset points", fontsize=FS_SMALL)
        hi_x = float(np.max(x[ok])) if ok.any() else 1.0
        hi_y = float(np.max(y[ok])) if ok.any() else 1.0
        ax.set_xlim(0, 1.25 * hi_x if hi_x > 0 else 1.0)
        ax.set_ylim(0, 1.2 * hi_y if hi_y > 0 else 1.0)
        ax.set_xlabel("Contribution to overall heterogeneity (squared Pearson residual)")
        ax.set_ylabel("Influence on overall result")
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(color=GREY, alpha=0.25, linewidth=0.5)
        figure_title(fig, [textwrap.shorten(title, 80, placeholder="..."), "Baujat plot"], FIG_W, FIG_H)
        lines = [f"k = {len(x)} studies; {int(flag.sum())} flagged influential (vermillion) by metafor's influence() "
                 "criteria.",
                 "x: (y_i - fitted)^2 / (v_i + tau^2); y: squared change of the fit without the study, over its "
                 "variance."]
        lines = [textwrap.shorten(s, 110, placeholder="...") for s in lines]
        figure_footer(fig, lines, FIG_W, FIG_H, FOOT_H, italic=[caveat] if caveat else [])
        return save_figure(fig, list(paths))
