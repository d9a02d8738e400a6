"""Forest plot of one analysis: study rows, subgroup and pooled diamonds, the prediction interval and a footer.

:func:`forest_plot` is pure: it reads the frames it is given, draws one figure and writes it to every path
(``.png`` at 200 dpi or ``.svg``, through :func:`evsynth.common.figures.save_figure`); same inputs give
byte-identical files. Figure sizes are fixed functions of the row counts (no ``bbox_inches="tight"``).

The work is split the way the figure is read: :func:`forest_values` puts every number on the display scale
(the scales are in :mod:`evsynth.report.axes`), :func:`forest_texts` writes the text columns with one number
of decimals for the whole plot (:func:`forest_decimals`), :func:`forest_footer` the lines under the axis,
:func:`forest_layout` the geometry in inches, and the ``_draw_*`` functions put them on the figure. What a
reviewer checks per study (citation labels, each arm's data, timepoint, risk of bias, exact intervals for
proportions) is chosen in :mod:`evsynth.report.forest_rows`.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from evsynth.appraise.plots import PALETTES, SYMBOLS  # noqa: E402
from evsynth.common.figures import save_figure  # noqa: E402
from evsynth.report.axes import (  # noqa: E402
    display_scale, figure_footer, figure_title, finite, fmt_p, fmt_tau2, limits, num, set_axis, text_width_in, wrap,
)
from evsynth.report.style import DPI, FS, FS_SMALL, FS_TITLE, GREY, OKABE_ITO, RC  # noqa: E402

__all__ = ["forest_plot", "forest_values", "forest_texts", "forest_footer", "forest_layout", "forest_decimals",
           "fmt_fixed"]

TEST_LABEL = {"z": "z test", "t": "t test", "knha": "Knapp-Hartung", "hksj": "Knapp-Hartung", "adhoc": "ad hoc KnHa"}
MARGIN = 0.2  # inches around the figure
ROB_LEGEND = ("Risk of bias: the study's worst overall judgement among the tools applied to it (bias_overall.csv): "
              "+ low, − some concerns / moderate, × high / serious, ! critical, ? no information; blank: not appraised.")


@dataclass
class ForestValues:
    """Every number of the plot on the display scale."""

    k: int
    pool: bool  # a diamond is drawn
    t: str  # transform name, lower case
    log: bool  # log x axis
    bounded01: bool  # proportions: the axis stays within 0..1
    yi: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    w: np.ndarray  # weights in percent (NaN allowed)
    pooled: tuple[float, float, float, float, float]  # estimate, ci_lb, ci_ub, pi_lb, pi_ub
    has_pi: bool
    null: float | None
    level: str  # "95"
    groups: dict  # level -> (estimate, ci_lb, ci_ub, k) on the display scale


@dataclass
class ForestTexts:
    labels: list[str]
    notes: dict[str, str]  # note -> letter
    est: list[str]
    weight: list[str]
    pooled: str
    pi: str
    n: list[str]
    groups: dict  # level -> estimate text
    decimals: int


@dataclass
class ForestLayout:
    """Geometry in inches."""

    fig_w: float
    fig_h: float
    label_w: float
    col_w: list[float]  # the text columns between the label and the plot (N, arms, time, RoB)
    plot_w: float
    est_w: float
    wt_w: float
    row_h: float
    n_rows: int
    axis_h: float
    foot_h: float
    footer: list[str]
    caveat: list[str]
    title: list[str]


def forest_plot(
    studies: pd.DataFrame,
    pooled: dict | None,
    paths: list[str],
    *,
    title: str,
    effect_label: str,
    transform: str | None = None,
    null_value: float | None = 0.0,
    caveat: str | None = None,
    columns: list[tuple[str, str]] | None = None,
    subgroups: dict | None = None,
    favours: tuple[str, str] | None = None,
    decimals: int | None = None,
) -> list[Path]:
    """Forest plot of one analysis: study rows, subgroup and pooled diamonds, the prediction interval, a footer.

    ``studies``: columns ``label``, ``yi``, ``ci_lb``, ``ci_ub`` (analysis scale, see
    :mod:`evsynth.report.axes` for ``transform``), ``weight`` (percent; NaN allowed), optional ``n`` (shown
    as a column when no ``columns`` are given; needed for ``transform="ipft"``: study values are
    back-transformed with their own ``n``, pooled values with the harmonic mean), optional ``note`` (e.g.
    "imputed SD": rows get a letter, the footer explains it), optional ``rob`` (a risk-of-bias display category
    of :data:`evsynth.appraise.plots.CATEGORY`, drawn as a robvis circle) and ``group_level`` (the subgroup of
    the row, with ``subgroups``). Rows are drawn in the given order.

    ``pooled``: ``estimate, ci_lb, ci_ub, pi_lb, pi_ub`` (analysis scale; the PI may be NaN and is then not
    drawn), ``k, tau2, i2`` (percent, as metafor), ``q, q_pval, method, test``, optionally ``level`` (95) and
    ``glmm`` (a binomial-normal GLMM: no I² or Q). ``RMAResult.to_dict()`` fits. With one study (or ``pooled``
    None, or ``k`` == 1) no diamond is drawn and the footer says "k = 1: no pooling". ``null_value`` is on the
    analysis scale (None: no null line, for single-group proportions and means).

    ``columns``: (header, column) text columns between the label and the plot; ``subgroups``: ``{"dim",
    "levels": {level: pooled-like dict}, "test": text}``, a diamond per subgroup and the test in the footer;
    ``favours``: (left, right) texts under the axis; ``decimals``: of every estimate in the plot (default
    :func:`forest_decimals`).

    Returns the written paths.
    """
    if studies is None or len(studies) == 0:
        raise ValueError("forest_plot: no studies")
    missing = [c for c in ("label", "yi", "ci_lb", "ci_ub") if c not in studies.columns]
    if missing:
        raise ValueError(f"forest_plot: studies lack columns {missing}")
    st = studies.reset_index(drop=True)
    pooled = dict(pooled or {})
    columns = list(columns or [])
    if not columns and "n" in st.columns:
        columns = [("N", "_n")]
    v = forest_values(st, pooled, transform, null_value, subgroups)
    texts = forest_texts(st, v, decimals)
    if columns == [("N", "_n")]:
        st = st.assign(_n=texts.n)
    footer, model = forest_footer(pooled, v, texts.notes, subgroups)
    has_rob = "rob" in st.columns
    if has_rob:
        footer.append(ROB_LEGEND)
    plan = _row_plan(st, v, subgroups)
    lay = forest_layout(st, v, texts, footer, caveat, title, columns, has_rob, len(plan), favours)
    with plt.rc_context(RC):
        fig = plt.figure(figsize=(lay.fig_w, lay.fig_h))
        x0 = MARGIN + lay.label_w + sum(lay.col_w)
        ax = fig.add_axes((x0 / lay.fig_w, (lay.axis_h + lay.foot_h) / lay.fig_h, lay.plot_w / lay.fig_w,
                           lay.row_h * lay.n_rows / lay.fig_h))
        ax.set_ylim(lay.n_rows - 0.5, -0.5)
        ax.yaxis.set_visible(False)
        for s in ("top", "right", "left"):
            ax.spines[s].set_visible(False)
        ax.tick_params(axis="x", length=3, pad=2)
        ax.set_xlabel(effect_label, fontsize=FS)
        pl, pu, pil, piu = v.pooled[1:]
        lim_vals = list(v.lb) + list(v.ub) + list(v.yi) + ([pl, pu, pil, piu] if v.pool else []) + \
            ([v.null] if v.null is not None else []) + [x for g in v.groups.values() for x in g[:3]]
        lo, hi = limits(lim_vals, v.log, v.bounded01)
        set_axis(ax, lo, hi, v.log)
        cols = _columns(fig, ax, lay, x0)
        _draw_header(ax, cols, v, lay, columns, has_rob)
        for y, (kind, item) in enumerate(plan, start=1):
            if kind == "study":
                _draw_study(ax, cols, v, texts, st, item, y, lo, hi, columns, has_rob)
            elif kind == "group":
                ax.text(cols["label"], y, f"{subgroups['dim'].capitalize()}: {item}", transform=cols["fx"],
                        va="center", ha="left", fontsize=FS, fontstyle="italic", fontweight="bold", clip_on=False)
            elif kind == "subtotal":
                _draw_subtotal(ax, cols, v, texts, item, y)
            elif kind == "pooled":
                _draw_pooled(ax, cols, v, texts, model, y, lay)
            elif kind == "pi":
                _draw_pi(ax, cols, v, texts, y, lo, hi)
        if v.null is not None and lo <= v.null <= hi:
            ax.plot([v.null, v.null], [0.5, lay.n_rows - 0.5], color=GREY, lw=0.8, ls=(0, (4, 3)), zorder=1)
        if favours:
            _draw_favours(ax, favours, v, lo, hi)
        figure_title(fig, lay.title, lay.fig_w, lay.fig_h, MARGIN)
        figure_footer(fig, lay.footer, lay.fig_w, lay.fig_h, lay.foot_h, MARGIN, italic=lay.caveat)
        return save_figure(fig, paths, dpi=DPI)


def _row_plan(st: pd.DataFrame, v: ForestValues, subgroups: dict | None) -> list[tuple[str, object]]:
    """What each row of the plot holds, top to bottom: studies (with subgroup headers and subtotals), the
    pooled diamond and the prediction interval."""
    plan: list[tuple[str, object]] = []
    if subgroups and v.groups and "group_level" in st.columns:
        for level in list(subgroups["levels"]) + ["(other)"]:
            idx = [i for i in range(v.k) if (st["group_level"].iloc[i] == level if level != "(other)"
                                             else st["group_level"].iloc[i] not in subgroups["levels"])]
            if not idx:
                continue
            plan.append(("group", level))
            plan += [("study", i) for i in idx]
            if level in v.groups:
                plan.append(("subtotal", level))
    else:
        plan = [("study", i) for i in range(v.k)]
    if v.pool:
        plan += [("spacer", None), ("pooled", None)]
    if v.has_pi:
        plan.append(("pi", None))
    return plan


def forest_values(st: pd.DataFrame, pooled: dict, transform: str | None, null_value: float | None,
                  subgroups: dict | None = None) -> ForestValues:
    """Study, subgroup and pooled values, the null and the level, on the display scale."""
    k = len(st)
    k_pooled = num(pooled.get("k", k))
    pool = k > 1 and bool(pooled) and finite(pooled.get("estimate")) and not (math.isfinite(k_pooled) and k_pooled <= 1)
    t = "identity" if transform is None else str(transform).lower()
    if t == "ipft":
        if "n" not in st.columns or st["n"].isna().any():
            raise ValueError("forest_plot: transform 'ipft' needs a complete column 'n'")
        n = st["n"].to_numpy(float)
        f_study, log = display_scale(t, n)
        f_pool, _ = display_scale(t, 1.0 / float(np.mean(1.0 / n)))
    else:
        f_study, log = display_scale(t)
        f_pool = f_study
    values = [float("nan")] * 5
    if pool:
        values = [float(f_pool(num(pooled.get(c)))) for c in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")]
    groups = {}
    for level, g in ((subgroups or {}).get("levels") or {}).items():
        groups[level] = tuple(float(f_pool(num(g.get(c)))) for c in ("estimate", "ci_lb", "ci_ub")) + \
            (int(num(g.get("k", 0))) if finite(g.get("k")) else 0,)
    null = None
    if null_value is not None and finite(null_value):
        null = float(f_pool(float(null_value)))
        if log and null <= 0:
            null = None
    level = num(pooled.get("level", 95))
    level = level * 100 if 0 < level <= 1 else level
    return ForestValues(
        k=k, pool=pool, t=t, log=log, bounded01=t in ("ilogit", "iarcsin", "ipft"),
        yi=f_study(st["yi"].to_numpy(float)), lb=f_study(st["ci_lb"].to_numpy(float)),
        ub=f_study(st["ci_ub"].to_numpy(float)),
        w=st["weight"].to_numpy(float) if "weight" in st.columns else np.full(k, np.nan),
        pooled=tuple(values), has_pi=pool and math.isfinite(values[3]) and math.isfinite(values[4]),
        null=null, level=f"{level:g}" if math.isfinite(level) else "95", groups=groups,
    )


def forest_decimals(v: ForestValues) -> int:
    """One number of decimals for every estimate of the plot: 3 for proportions (0 to 1), 2 for ratios, else 2,
    1 or 0 as the largest magnitude shown is below 10, below 100 or larger."""
    if v.bounded01:
        return 3
    if v.log:  # ratios: two decimals whatever their size (0.60, 19.13)
        return 2
    vals = np.concatenate([v.yi, v.lb, v.ub, np.asarray(v.pooled, float)])
    vals = np.abs(vals[np.isfinite(vals)])
    top = float(vals.max()) if vals.size else 0.0
    return 2 if top < 10 else 1 if top < 100 else 0


def fmt_fixed(x, decimals: int) -> str:
    """``x`` with ``decimals`` decimals; a positive value that would print as zero prints as '<0.001' (so a
    pooled proportion of 0.00006 is not shown as 0); no '-0'."""
    v = num(x)
    if not math.isfinite(v):
        return "NA" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    s = f"{v:.{decimals}f}"
    if float(s) == 0:
        if v > 0 and decimals > 0:
            return "<" + f"{10 ** -decimals:.{decimals}f}"
        return s.lstrip("-")
    return s


def _row_notes(st: pd.DataFrame) -> tuple[dict[str, str], list[str]]:
    """Each distinct note gets a letter; the letter of each row ("" without a note)."""
    notes: dict[str, str] = {}
    if "note" not in st.columns:
        return notes, [""] * len(st)
    row_note = []
    for v in st["note"]:
        if isinstance(v, str) and v.strip():
            key = " ".join(v.split())
            if key not in notes:
                notes[key] = "abcdefghijklmnopqrstuvwxyz"[len(notes) % 26]
            row_note.append(notes[key])
        else:
            row_note.append("")
    return notes, row_note


def forest_texts(st: pd.DataFrame, v: ForestValues, decimals: int | None = None) -> ForestTexts:
    """The text columns: labels (with note letters), estimates with CIs, weights, N, subgroup estimates."""
    notes, row_note = _row_notes(st)
    d = forest_decimals(v) if decimals is None else decimals
    k = v.k
    yi, lb, ub, w = v.yi, v.lb, v.ub, v.w
    pe, pl, pu, pil, piu = v.pooled

    def ci(e, a, b):
        return f"{fmt_fixed(e, d)} [{fmt_fixed(a, d)}, {fmt_fixed(b, d)}]"

    return ForestTexts(
        labels=[wrap(str(lab) + (f" [{row_note[i]}]" if row_note[i] else ""), 40) for i, lab in enumerate(st["label"])],
        notes=notes,
        est=[ci(yi[i], lb[i], ub[i]) if math.isfinite(yi[i]) else "NA" for i in range(k)],
        weight=[f"{w[i]:.1f}%" if math.isfinite(w[i]) else "" for i in range(k)],
        pooled=ci(pe, pl, pu) if v.pool else "",
        pi=f"[{fmt_fixed(pil, d)}, {fmt_fixed(piu, d)}]" if v.has_pi else "",
        n=[(f"{int(x)}" if float(x).is_integer() else f"{x:g}") if finite(x) else "" for x in
           (st["n"] if "n" in st.columns else [])],
        groups={g: (ci(*vals[:3]) if vals[3] > 1 else "one study: not pooled") for g, vals in v.groups.items()},
        decimals=d,
    )


def forest_footer(pooled: dict, v: ForestValues, notes: dict[str, str],
                  subgroups: dict | None = None) -> tuple[list[str], str]:
    """Footer sentences (model, heterogeneity, subgroup test, scale, notes) and the model's name."""
    footer = []
    model = ""
    if v.pool:
        model = "Equal-effects model" if str(pooled.get("method", "")).upper() in ("FE", "EE", "CE") else "RE model"
        test = TEST_LABEL.get(str(pooled.get("test", "")).lower(), str(pooled.get("test", "")))
        meth = str(pooled.get("method", ""))
        kk = int(num(pooled.get("k", v.k))) if finite(pooled.get("k", v.k)) else v.k
        i2 = num(pooled.get("i2"))
        if pooled.get("glmm") or "GLMM" in meth:
            footer.append(f"{model} ({meth}, {test}): k = {kk}, {_tau2(pooled.get('tau2'))} (logit scale). "
                          "I² and Q are not defined for the GLMM (it uses the events, not within-study variances); "
                          "the prediction interval shows the heterogeneity.")
        else:
            q = num(pooled.get("q"))
            i2_text = f"{i2:.1f}%" if math.isfinite(i2) else "not estimable"
            q_text = f"{q:.2f} (p {fmt_p(pooled.get('q_pval'))})" if math.isfinite(q) else "not estimable"
            footer.append(f"{model} ({meth}, {test}): k = {kk}, {_tau2(pooled.get('tau2'))}, "
                          f"I² = {i2_text}, Q = {q_text}")
        if not v.has_pi:
            footer.append("Prediction interval not shown (not estimable).")
    else:
        footer.append(f"k = {v.k}: no pooling" if v.k == 1 else f"k = {v.k}: no pooled estimate")
    if subgroups and v.groups:
        footer.append(subgroups.get("test", "") + ". Subgroup diamonds: the model fitted within each subgroup; "
                      "a subgroup of one study is not pooled.")
    if v.t == "exp":
        footer.append("Ratios on a log scale (back-transformed from the log scale of the analysis).")
    elif v.bounded01:
        footer.append("Proportions (back-transformed from the analysis scale).")
    for note, letter in notes.items():
        footer.append(f"[{letter}] {note}")
    return footer, model


def _tau2(x) -> str:
    """'τ² = 0.0321', or 'τ² < 0.0001' for an estimate at the boundary."""
    t = fmt_tau2(x)
    return f"τ² {t}" if t.startswith("<") else f"τ² = {t}"


def forest_layout(st: pd.DataFrame, v: ForestValues, texts: ForestTexts, footer: list[str], caveat: str | None,
                  title: str, columns: list[tuple[str, str]] | None = None, has_rob: bool = False,
                  n_plan: int | None = None, favours: tuple[str, str] | None = None) -> ForestLayout:
    """Column widths, row heights and the wrapped footer, caveat and title (inches, fixed by the content)."""
    columns = list(columns or [])
    two_line = any("\n" in s for s in texts.labels)
    group_labels = [f"Xxxxxxxxxx: {g}" for g in v.groups]
    label_chars = max(len(line) for s in texts.labels + ["Study", "Pooled estimate"] + group_labels
                      for line in s.split("\n"))
    label_w = min(max(text_width_in(label_chars) + 0.15, 1.4), 3.8)
    col_w = []
    for header, col in columns:
        cells = [str(x) for x in (st[col] if col in st.columns else [])]
        chars = max([len(line) for line in header.split("\n")] + [len(c) for c in cells])
        col_w.append(text_width_in(chars) + 0.2)
    if has_rob:
        col_w.append(0.45)
    plot_w = 3.2
    est_chars = max(len(s) for s in texts.est + [texts.pooled, f"Estimate [{v.level}% CI]"] + list(texts.groups.values()))
    est_w = text_width_in(est_chars) + 0.2
    wt_w = 0.65 if v.pool and np.isfinite(v.w).any() else 0.0  # weights only mean something when pooled
    fig_w = MARGIN + label_w + sum(col_w) + plot_w + 0.15 + est_w + wt_w + MARGIN
    n_rows = 1 + (n_plan if n_plan is not None else v.k + (2 if v.pool else 0) + (1 if v.has_pi else 0))
    wrap_chars = int((fig_w - 2 * MARGIN) / (FS_SMALL * 0.6 / 72))
    footer = [line for f in footer for line in textwrap.wrap(f, wrap_chars)]
    cav = textwrap.wrap(" ".join(caveat.split()), wrap_chars) if caveat else []
    title_lines = textwrap.wrap(title, int((fig_w - 2 * MARGIN) / (FS_TITLE * 0.6 / 72))) or [""]
    two_line = two_line or any("\n" in h for h, _ in columns)
    row_h = 0.36 if two_line else 0.26
    top = 0.15 + 0.22 * len(title_lines) + 0.1
    axis_h = 0.55 + (0.2 if favours else 0.0)  # ticks + x label (+ favours)
    foot_h = 0.17 * (len(footer) + len(cav)) + 0.15
    fig_h = round(top + row_h * n_rows + axis_h + foot_h, 2)
    return ForestLayout(fig_w=round(fig_w, 2), fig_h=fig_h, label_w=label_w, col_w=col_w, plot_w=plot_w,
                        est_w=est_w, wt_w=wt_w, row_h=row_h, n_rows=n_rows, axis_h=axis_h, foot_h=foot_h,
                        footer=footer, caveat=cav, title=title_lines)


def _columns(fig, ax, lay: ForestLayout, x0: float) -> dict:
    """x positions (inches) of the text columns and the transform that places them."""
    x_est = x0 + lay.plot_w + 0.15
    starts = list(np.cumsum([MARGIN + lay.label_w] + lay.col_w[:-1])) if lay.col_w else []
    return {"fx": blended_transform_factory(fig.dpi_scale_trans, ax.transData), "label": MARGIN,
            "cols": [(s, w) for s, w in zip(starts, lay.col_w)], "est": x_est,
            "wt": x_est + lay.est_w + lay.wt_w - 0.05}


def _draw_header(ax, cols: dict, v: ForestValues, lay: ForestLayout, columns: list[tuple[str, str]],
                 has_rob: bool) -> None:
    hdr = dict(transform=cols["fx"], va="center", fontsize=FS, fontweight="bold", clip_on=False)
    ax.text(cols["label"], 0, "Study", ha="left", **hdr)
    for (header, _), (x, w) in zip(columns, cols["cols"]):
        ax.text(x + w - 0.1, 0, header, ha="right", linespacing=1.0, **hdr)
    if has_rob:
        x, w = cols["cols"][-1]
        ax.text(x + w / 2, 0, "RoB", ha="center", **hdr)
    ax.text(cols["est"], 0, f"Estimate [{v.level}% CI]", ha="left", **hdr)
    if lay.wt_w:
        ax.text(cols["wt"], 0, "Weight", ha="right", **hdr)
    ax.plot([0, 1], [0.5, 0.5], transform=blended_transform_factory(ax.transAxes, ax.transData),
            color=GREY, lw=0.6, clip_on=False)


def _draw_study(ax, cols: dict, v: ForestValues, texts: ForestTexts, st: pd.DataFrame, i: int, y: int,
                lo: float, hi: float, columns: list[tuple[str, str]], has_rob: bool) -> None:
    """One study row: label, text columns, RoB circle, CI line (arrows where it leaves the axis), square sized
    by weight, estimate and weight."""
    yi, lb, ub, w = v.yi, v.lb, v.ub, v.w
    wt_shown = v.pool and np.isfinite(w).any()
    wmax = np.nanmax(w) if np.isfinite(w).any() else float("nan")
    col = OKABE_ITO["blue"]
    txt = dict(transform=cols["fx"], va="center", fontsize=FS, clip_on=False)
    ax.text(cols["label"], y, texts.labels[i], ha="left", linespacing=1.0, **txt)
    for (_, name), (x, wd) in zip(columns, cols["cols"]):
        ax.text(x + wd - 0.1, y, str(st[name].iloc[i]), ha="right", **txt)
    if has_rob:
        cat = str(st["rob"].iloc[i] or "")
        if cat in PALETTES["cochrane"] and cat != "not_applicable":
            x, wd = cols["cols"][-1]
            ax.plot([x + wd / 2], [y], marker="o", ms=11, color=PALETTES["cochrane"][cat], mec="black", mew=0.6,
                    transform=cols["fx"], clip_on=False, ls="none")
            ax.text(x + wd / 2, y, SYMBOLS[cat], ha="center", fontweight="bold", **txt)
    ax.text(cols["est"], y, texts.est[i], ha="left", **txt)
    if wt_shown:
        ax.text(cols["wt"], y, texts.weight[i], ha="right", **txt)
    if math.isfinite(lb[i]) and math.isfinite(ub[i]):
        a, b = max(lb[i], lo), min(ub[i], hi)
        ax.plot([a, b], [y, y], color="black", lw=1.0, solid_capstyle="butt")
        for edge, lim, mk in ((lb[i], lo, "<"), (ub[i], hi, ">")):
            if (edge < lim) if mk == "<" else (edge > lim):
                ax.plot([lim], [y], marker=mk, color="black", ms=4, clip_on=False)
    if math.isfinite(yi[i]) and lo <= yi[i] <= hi:
        ms = 4.0 + 7.0 * math.sqrt(w[i] / wmax) if math.isfinite(w[i]) and wmax > 0 else 5.0
        ax.plot([yi[i]], [y], marker="s", ms=ms, color=col, mec=col, ls="none", zorder=3)


def _diamond(ax, e: float, a: float, b: float, y: float, face: str) -> None:
    dh = 0.34
    ax.add_patch(Polygon([(a, y), (e, y - dh), (b, y), (e, y + dh)], closed=True, facecolor=face,
                         edgecolor="black", lw=0.6, zorder=3, clip_on=True))


def _draw_subtotal(ax, cols: dict, v: ForestValues, texts: ForestTexts, level: str, y: int) -> None:
    """A subgroup's diamond (its own fit) with its estimate; a subgroup of one study has none."""
    e, a, b, k = v.groups[level]
    txt = dict(transform=cols["fx"], va="center", fontsize=FS, clip_on=False)
    ax.text(cols["label"], y, f"Subtotal, {level} (k = {k})", ha="left", **txt)
    if k > 1 and math.isfinite(e) and math.isfinite(a) and math.isfinite(b):
        _diamond(ax, e, a, b, y, OKABE_ITO["skyblue"])
    ax.text(cols["est"], y, texts.groups[level], ha="left", **txt)


def _draw_pooled(ax, cols: dict, v: ForestValues, texts: ForestTexts, model: str, y: int, lay: ForestLayout) -> None:
    """The pooled diamond and its text."""
    pe, pl, pu = v.pooled[:3]
    _diamond(ax, pe, pl, pu, y, OKABE_ITO["vermillion"])
    txt = dict(transform=cols["fx"], va="center", fontsize=FS, clip_on=False, fontweight="bold")
    ax.text(cols["label"], y, "Pooled estimate" if model == "RE model" else "Pooled (equal effects)", ha="left", **txt)
    ax.text(cols["est"], y, texts.pooled, ha="left", **txt)
    if lay.wt_w:
        ax.text(cols["wt"], y, "100%", ha="right", **txt)
    ax.plot([0, 1], [y - 1, y - 1], transform=blended_transform_factory(ax.transAxes, ax.transData),
            color=GREY, lw=0.6, clip_on=False)


def _draw_pi(ax, cols: dict, v: ForestValues, texts: ForestTexts, y: int, lo: float, hi: float) -> None:
    """The prediction interval's bar."""
    pil, piu = v.pooled[3:]
    a, b = max(pil, lo), min(piu, hi)
    ax.plot([a, b], [y, y], color=OKABE_ITO["vermillion"], lw=2.2, solid_capstyle="butt", zorder=2)
    for xv in (a, b):
        ax.plot([xv, xv], [y - 0.2, y + 0.2], color=OKABE_ITO["vermillion"], lw=1.2)
    txt = dict(transform=cols["fx"], va="center", fontsize=FS, clip_on=False)
    ax.text(cols["label"], y, f"{v.level}% prediction interval", ha="left", **txt)
    ax.text(cols["est"], y, texts.pi, ha="left", **txt)


def _draw_favours(ax, favours: tuple[str, str], v: ForestValues, lo: float, hi: float) -> None:
    """'← favours MSC' left of the null, 'favours placebo →' right of it, under the axis label."""
    null = v.null if v.null is not None and lo < v.null < hi else (math.sqrt(lo * hi) if v.log else (lo + hi) / 2)
    tr = blended_transform_factory(ax.transData, ax.transAxes)
    kw = dict(transform=tr, va="top", fontsize=FS_SMALL, color="#404040", clip_on=False)
    y = -(0.45 / (ax.get_position().height * ax.figure.get_size_inches()[1]))
    ax.text(null, y, f"← {favours[0]}  ", ha="right", **kw)
    ax.text(null, y, f"  {favours[1]} →", ha="left", **kw)
