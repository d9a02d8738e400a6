"""Result plots of issue 6: forest plots, the specification curve and dose per kg by study and route.

All three functions are pure: they read the data frames they are given, draw one figure and write it to
every path in ``paths`` (the suffix decides the format: ``.png`` at 200 dpi or ``.svg``); they return the
written paths. Nothing else is read or written.

Determinism: the same inputs give byte-identical files. Figure sizes are fixed functions of the row counts
(no ``bbox_inches="tight"``), SVG ids are salted with a constant (``svg.hashsalt``), and the date / software
metadata are dropped. The style is set with ``plt.rc_context`` inside each function, so importing this module
does not change global matplotlib settings. SVG text stays text (``svg.fonttype = "none"``), so labels can be
searched in the SVG and edited in a vector editor.

Colours are the Okabe-Ito colour-blind-safe palette; the smallest font is 8 pt at the saved size.

Scales (argument ``transform`` of :func:`forest_plot` and :func:`specification_curve`); inputs are always
given on the *analysis* scale unless stated otherwise:

* ``None`` / ``"identity"``: drawn as given (mean differences, SMDs); null line at ``null_value`` (0).
* ``"exp"``: log ratios (log RR / OR / ROM); the axis shows the ratios on a log scale, the null becomes
  ``exp(null_value)`` (1).
* ``"ilogit"``: logit proportions, drawn as proportions on a 0-1 axis.
* ``"iarcsin"``: arcsine-square-root proportions, drawn as proportions (``sin(x)^2``).
* ``"ipft"``: Freeman-Tukey double arcsine. Study values are back-transformed with each study's own ``n``
  (column ``n`` is then required) and the pooled values with the harmonic mean of the ``n`` (metafor's
  ``transf.ipft`` / ``transf.ipft.hm``). Forest plots only.
* ``"none-precomputed"``: the caller has already back-transformed everything (studies, pooled, and
  ``null_value``) to the display scale; drawn on a linear axis as given.

``null_value`` is on the analysis scale too (it goes through the same transform), except with
``"none-precomputed"``. Pass ``null_value=None`` for single-group proportions and means (no null line).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any, Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Polygon  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogFormatterMathtext, NullLocator  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

__all__ = ["OKABE_ITO", "ROUTE_STYLE", "forest_plot", "specification_curve", "dose_plot"]

# Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "skyblue": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
GREY = "#8C8C8C"
LIGHT = "#D9D9D9"

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
POPULATION_ORDER = ["pediatric", "adult", "mixed", "unspecified"]

DPI = 200
FS = 9  # body font size (pt)
FS_SMALL = 8  # footers, legends: the minimum
FS_TITLE = 11

_RC = {
    "svg.hashsalt": "evsynth",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": FS,
    "axes.titlesize": FS_TITLE,
    "axes.labelsize": FS,
    "xtick.labelsize": FS_SMALL,
    "ytick.labelsize": FS_SMALL,
    "legend.fontsize": FS_SMALL,
    "axes.unicode_minus": False,
    "path.simplify": False,
    "savefig.dpi": DPI,
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.0,
}

_TEST_LABEL = {"z": "z test", "t": "t test", "knha": "Knapp-Hartung", "hksj": "Knapp-Hartung", "adhoc": "ad hoc KnHa"}


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------


def _save(fig, paths: Sequence[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out = []
    for p in paths:
        p = Path(p)
        suffix = p.suffix.lower()
        if suffix not in (".png", ".svg"):
            plt.close(fig)
            raise ValueError(f"unsupported plot format {p.suffix!r} for {p} (use .png or .svg)")
        p.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".png":
            fig.savefig(p, format="png", dpi=DPI, metadata={"Software": None})
        else:
            fig.savefig(p, format="svg", metadata={"Date": None})
        out.append(p)
    plt.close(fig)
    return out


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _finite(x: Any) -> bool:
    return math.isfinite(_num(x))


def _fmt(x: Any, digits: int = 2) -> str:
    """Fixed-point number for the text columns; large magnitudes get fewer decimals."""
    v = _num(x)
    if not math.isfinite(v):
        return "NA" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    a = abs(v)
    if a >= 1000:
        d = 0
    elif a >= 100:
        d = max(0, digits - 2)
    elif a >= 10:
        d = max(1, digits - 1)
    elif a != 0 and a < 0.01:
        return f"{v:.2g}"
    else:
        d = digits
    s = f"{v:.{d}f}"
    return "0" + s[2:] if s.startswith("-0") and float(s) == 0 else s


def _fmt_p(p: Any) -> str:
    v = _num(p)
    if not math.isfinite(v):
        return "NA"
    if v < 0.001:
        return "< 0.001"
    return f"= {v:.3f}"


def _fmt_tau2(x: Any) -> str:
    v = _num(x)
    if not math.isfinite(v):
        return "NA"
    if v == 0:
        return "0"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def _pft(p: float, n: np.ndarray | float) -> np.ndarray:
    x = p * np.asarray(n, dtype=float)
    n = np.asarray(n, dtype=float)
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def _ipft(x: Any, n: Any) -> np.ndarray:
    """Inverse Freeman-Tukey (Miller 1978), metafor transf.ipft; ``n`` may be per value or one number."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sin(2 * x)
        z = 0.5 * (1 - np.sign(np.cos(2 * x)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2))
        z = np.where(x > _pft(1.0, n), 1.0, z)
        z = np.where(x < _pft(0.0, n), 0.0, z)
    return np.where(np.isnan(x), np.nan, np.clip(z, 0.0, 1.0))


def _scale(transform: str | None, n: Any = None) -> tuple[Callable[[Any], np.ndarray], bool]:
    """(back-transform function, log axis?) for a transform name."""
    t = "identity" if transform is None else str(transform).lower()
    if t in ("identity", "none", "none-precomputed"):
        return (lambda v: np.asarray(v, dtype=float)), False
    if t == "exp":
        return (lambda v: np.exp(np.asarray(v, dtype=float))), True
    if t == "ilogit":
        return (lambda v: 1.0 / (1.0 + np.exp(-np.asarray(v, dtype=float)))), False
    if t == "iarcsin":
        def iarcsin(v):
            v = np.asarray(v, dtype=float)
            z = np.sin(v) ** 2
            return np.where(v < 0, 0.0, np.where(v > np.pi / 2, 1.0, z))
        return iarcsin, False
    if t == "ipft":
        if n is None:
            raise ValueError("transform 'ipft' needs sample sizes (column 'n'); or back-transform yourself and "
                             "pass transform='none-precomputed'")
        return (lambda v: _ipft(v, n)), False
    raise ValueError(f"unknown transform {transform!r}; use None, 'exp', 'ilogit', 'iarcsin', 'ipft' or "
                     "'none-precomputed'")


def _nice_log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis between lo and hi (both > 0): 1-2-5 series, denser for narrow ranges."""
    span = math.log10(hi) - math.log10(lo)
    for subs in ((1.0,), (1.0, 3.0), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
                 (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)):
        ticks = []
        for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
            for s in subs:
                t = float(f"{s * 10.0 ** e:.6g}")
                if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9):
                    ticks.append(t)
        if len(ticks) >= 4 or (span > 3 and len(ticks) >= 3):
            if len(ticks) > 9 and len(subs) > 1:
                continue
            return ticks
    return ticks


def _tick_label(v: float, _pos=None) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.0e}"
    return f"{v:g}"


def _limits(values: Sequence[float], log: bool, bounded01: bool) -> tuple[float, float]:
    vals = np.asarray([v for v in values if _finite(v) and (not log or v > 0)], dtype=float)
    if vals.size == 0:
        return (0.5, 2.0) if log else (0.0, 1.0) if bounded01 else (-1.0, 1.0)
    lo, hi = float(vals.min()), float(vals.max())
    if log:
        llo, lhi = math.log10(lo), math.log10(hi)
        if lhi - llo < 0.2:
            mid = (llo + lhi) / 2
            llo, lhi = mid - 0.1, mid + 0.1
        pad = 0.05 * (lhi - llo)
        return 10 ** (llo - pad), 10 ** (lhi + pad)
    if hi - lo < 1e-12:
        w = abs(lo) * 0.1 or 1.0
        lo, hi = lo - w, hi + w
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    if bounded01:
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    return lo, hi


def _set_axis(ax, lo: float, hi: float, log: bool) -> None:
    if log:
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.xaxis.set_major_locator(FixedLocator(_nice_log_ticks(lo, hi)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(_tick_label))
    else:
        ax.set_xlim(lo, hi)
        ax.xaxis.set_major_formatter(FuncFormatter(_tick_label))


def _wrap(text: str, width: int, max_lines: int = 2) -> str:
    lines = textwrap.wrap(" ".join(str(text).split()), width=width, break_long_words=True) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = textwrap.shorten(lines[-1] + " …", width=width, placeholder=" …")
    return "\n".join(lines)


def _text_width_in(chars: int, size: float = FS) -> float:
    """Approximate width (inches) of ``chars`` characters of DejaVu Sans at ``size`` pt (0.53 em per char on average)."""
    return chars * size * 0.53 / 72.0


# ---------------------------------------------------------------------------------------------------------
# forest plot
# ---------------------------------------------------------------------------------------------------------


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
) -> list[Path]:
    """Forest plot of one analysis: study rows, the pooled diamond, the prediction interval, a footer.

    ``studies``: columns ``label``, ``yi``, ``ci_lb``, ``ci_ub`` (analysis scale, see the module docstring for
    ``transform``), ``weight`` (percent; NaN allowed), optional ``n`` (shown as a column; needed for
    ``transform="ipft"``) and optional ``note`` (e.g. "imputed SD": rows get a letter, the footer explains it).
    Rows are drawn in the given order.

    ``pooled``: ``estimate, ci_lb, ci_ub, pi_lb, pi_ub`` (analysis scale; the PI may be NaN and is then not
    drawn), ``k, tau2, i2`` (percent, as metafor), ``q, q_pval, method, test`` and optionally ``level``
    (95). ``RMAResult.to_dict()`` fits. With one study (or ``pooled`` None, or ``k`` == 1) no diamond is drawn
    and the footer says "k = 1: no pooling".

    Returns the written paths.
    """
    if studies is None or len(studies) == 0:
        raise ValueError("forest_plot: no studies")
    missing = [c for c in ("label", "yi", "ci_lb", "ci_ub") if c not in studies.columns]
    if missing:
        raise ValueError(f"forest_plot: studies lack columns {missing}")
    st = studies.reset_index(drop=True)
    k = len(st)
    pooled = dict(pooled or {})
    k_pooled = _num(pooled.get("k", k))
    pool = k > 1 and bool(pooled) and _finite(pooled.get("estimate")) and not (math.isfinite(k_pooled) and k_pooled <= 1)

    t = "identity" if transform is None else str(transform).lower()
    has_n = "n" in st.columns
    if t == "ipft":
        if not has_n or st["n"].isna().any():
            raise ValueError("forest_plot: transform 'ipft' needs a complete column 'n'")
        n = st["n"].to_numpy(float)
        f_study, log = _scale(t, n)
        nhm = 1.0 / float(np.mean(1.0 / n))
        f_pool, _ = _scale(t, nhm)
    else:
        f_study, log = _scale(t)
        f_pool = f_study
    bounded01 = t in ("ilogit", "iarcsin", "ipft")

    yi = f_study(st["yi"].to_numpy(float))
    lb = f_study(st["ci_lb"].to_numpy(float))
    ub = f_study(st["ci_ub"].to_numpy(float))
    w = st["weight"].to_numpy(float) if "weight" in st.columns else np.full(k, np.nan)
    pe = pl = pu = pil = piu = float("nan")
    if pool:
        pe, pl, pu, pil, piu = (float(f_pool(_num(pooled.get(c)))) for c in
                                ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"))
    has_pi = pool and math.isfinite(pil) and math.isfinite(piu)
    null = None
    if null_value is not None and _finite(null_value):
        null = float(f_pool(float(null_value)))
        if log and null <= 0:
            null = None

    level = _num(pooled.get("level", 95))
    level = level * 100 if 0 < level <= 1 else level
    lvl = f"{level:g}" if math.isfinite(level) else "95"

    # notes -> letters
    notes: dict[str, str] = {}
    row_note = []
    if "note" in st.columns:
        for v in st["note"]:
            if isinstance(v, str) and v.strip():
                key = " ".join(v.split())
                if key not in notes:
                    notes[key] = "abcdefghijklmnopqrstuvwxyz"[len(notes) % 26]
                row_note.append(notes[key])
            else:
                row_note.append("")
    else:
        row_note = [""] * k

    labels = [_wrap(str(lab) + (f" [{row_note[i]}]" if row_note[i] else ""), 46) for i, lab in enumerate(st["label"])]
    two_line = any("\n" in s for s in labels)
    est_txt = [f"{_fmt(yi[i])} [{_fmt(lb[i])}, {_fmt(ub[i])}]" if math.isfinite(yi[i]) else "NA" for i in range(k)]
    w_txt = [f"{w[i]:.1f}%" if math.isfinite(w[i]) else "" for i in range(k)]
    pooled_txt = f"{_fmt(pe)} [{_fmt(pl)}, {_fmt(pu)}]" if pool else ""
    pi_txt = f"[{_fmt(pil)}, {_fmt(piu)}]" if has_pi else ""
    n_txt = [(f"{int(v)}" if float(v).is_integer() else f"{v:g}") if _finite(v) else "" for v in
             (st["n"] if has_n else [])]

    # ---- geometry (inches) ----
    row_h = 0.36 if two_line else 0.26
    label_chars = max(len(line) for s in labels + ["Study", "RE model"] for line in s.split("\n"))
    label_w = min(max(_text_width_in(label_chars) + 0.15, 1.8), 4.3)
    n_w = 0.5 if has_n else 0.0
    plot_w = 3.4
    est_chars = max(len(s) for s in est_txt + [pooled_txt, f"Estimate [{lvl}% CI]"])
    est_w = _text_width_in(est_chars) + 0.2
    wt_w = 0.65 if pool and np.isfinite(w).any() else 0.0  # weights only mean something when pooled
    margin = 0.2
    fig_w = margin + label_w + n_w + plot_w + 0.15 + est_w + wt_w + margin

    # rows: 0 header, 1..k studies, then spacer, pooled, PI
    rows_after = (2 if pool else 0) + (1 if has_pi else 0)
    n_rows = 1 + k + rows_after
    # footer lines
    footer = []
    if pool:
        model = "Equal-effects model" if str(pooled.get("method", "")).upper() in ("FE", "EE", "CE") else "RE model"
        test = _TEST_LABEL.get(str(pooled.get("test", "")).lower(), str(pooled.get("test", "")))
        meth = str(pooled.get("method", ""))
        kk = int(_num(pooled.get("k", k))) if _finite(pooled.get("k", k)) else k
        i2 = _num(pooled.get("i2"))
        footer.append(f"{model} ({meth}, {test}): k = {kk}, τ² = {_fmt_tau2(pooled.get('tau2'))}, "
                      f"I² = {'NA' if not math.isfinite(i2) else f'{i2:.1f}'}%, "
                      f"Q = {_fmt(pooled.get('q'))} (p {_fmt_p(pooled.get('q_pval'))})")
        if not has_pi:
            footer.append("Prediction interval not shown (not estimable).")
    else:
        footer.append(f"k = {k}: no pooling" if k == 1 else f"k = {k}: no pooled estimate")
    if t == "exp":
        footer.append("Ratios on a log scale (back-transformed from the log scale of the analysis).")
    elif bounded01:
        footer.append("Proportions (back-transformed from the analysis scale).")
    for note, letter in notes.items():
        footer.append(f"[{letter}] {note}")
    wrap_chars = int((fig_w - 2 * margin) / (FS_SMALL * 0.6 / 72))
    footer = [line for f in footer for line in textwrap.wrap(f, wrap_chars)]
    cav = textwrap.wrap(" ".join(caveat.split()), wrap_chars) if caveat else []
    title_lines = textwrap.wrap(title, int((fig_w - 2 * margin) / (FS_TITLE * 0.6 / 72))) or [""]

    top = 0.15 + 0.22 * len(title_lines) + 0.1
    axis_h = 0.55  # ticks + x label
    foot_h = 0.17 * (len(footer) + len(cav)) + 0.15
    plot_h = row_h * n_rows
    fig_h = round(top + plot_h + axis_h + foot_h, 2)
    fig_w = round(fig_w, 2)

    with plt.rc_context(_RC):
        fig = plt.figure(figsize=(fig_w, fig_h))
        x0 = margin + label_w + n_w
        ax = fig.add_axes((x0 / fig_w, (axis_h + foot_h) / fig_h, plot_w / fig_w, plot_h / fig_h))
        ax.set_ylim(n_rows - 0.5, -0.5)
        ax.yaxis.set_visible(False)
        for s in ("top", "right", "left"):
            ax.spines[s].set_visible(False)
        ax.tick_params(axis="x", length=3, pad=2)
        ax.set_xlabel(effect_label, fontsize=FS)

        lim_vals = list(lb) + list(ub) + list(yi) + ([pl, pu, pil, piu] if pool else []) + ([null] if null is not None else [])
        lo, hi = _limits(lim_vals, log, bounded01)
        _set_axis(ax, lo, hi, log)

        fx = blended_transform_factory(fig.dpi_scale_trans, ax.transData)
        x_label = margin
        x_n = margin + label_w + n_w - 0.1
        x_est = x0 + plot_w + 0.15
        x_wt = x_est + est_w + wt_w - 0.05

        # header
        hdr = dict(transform=fx, va="center", fontsize=FS, fontweight="bold", clip_on=False)
        ax.text(x_label, 0, "Study", ha="left", **hdr)
        if has_n:
            ax.text(x_n, 0, "N", ha="right", **hdr)
        ax.text(x_est, 0, f"Estimate [{lvl}% CI]", ha="left", **hdr)
        if wt_w:
            ax.text(x_wt, 0, "Weight", ha="right", **hdr)
        ax.plot([0, 1], [0.5, 0.5], transform=blended_transform_factory(ax.transAxes, ax.transData),
                color=GREY, lw=0.6, clip_on=False)

        wmax = np.nanmax(w) if np.isfinite(w).any() else float("nan")
        col = OKABE_ITO["blue"]
        for i in range(k):
            y = 1 + i
            txt = dict(transform=fx, va="center", fontsize=FS, clip_on=False)
            ax.text(x_label, y, labels[i], ha="left", linespacing=1.0, **txt)
            if has_n:
                ax.text(x_n, y, n_txt[i], ha="right", **txt)
            ax.text(x_est, y, est_txt[i], ha="left", **txt)
            if wt_w:
                ax.text(x_wt, y, w_txt[i], ha="right", **txt)
            if math.isfinite(lb[i]) and math.isfinite(ub[i]):
                a, b = max(lb[i], lo), min(ub[i], hi)
                ax.plot([a, b], [y, y], color="black", lw=1.0, solid_capstyle="butt")
                for edge, lim, mk in ((lb[i], lo, "<"), (ub[i], hi, ">")):
                    if (edge < lim) if mk == "<" else (edge > lim):
                        ax.plot([lim], [y], marker=mk, color="black", ms=4, clip_on=False)
            if math.isfinite(yi[i]) and lo <= yi[i] <= hi:
                ms = 4.0 + 7.0 * math.sqrt(w[i] / wmax) if math.isfinite(w[i]) and wmax > 0 else 5.0
                ax.plot([yi[i]], [y], marker="s", ms=ms, color=col, mec=col, ls="none", zorder=3)

        if null is not None and lo <= null <= hi:
            ax.plot([null, null], [0.5, n_rows - 0.5], color=GREY, lw=0.8, ls=(0, (4, 3)), zorder=1)

        if pool:
            y = k + 2
            dh = 0.34
            diamond = Polygon([(pl, y), (pe, y - dh), (pu, y), (pe, y + dh)], closed=True,
                              facecolor=OKABE_ITO["vermillion"], edgecolor="black", lw=0.6, zorder=3, clip_on=True)
            ax.add_patch(diamond)
            txt = dict(transform=fx, va="center", fontsize=FS, clip_on=False, fontweight="bold")
            ax.text(x_label, y, "Pooled estimate" if model == "RE model" else "Pooled (equal effects)", ha="left", **txt)
            ax.text(x_est, y, pooled_txt, ha="left", **txt)
            if wt_w:
                ax.text(x_wt, y, "100%", ha="right", **txt)
            ax.plot([0, 1], [k + 1, k + 1], transform=blended_transform_factory(ax.transAxes, ax.transData),
                    color=GREY, lw=0.6, clip_on=False)
            if has_pi:
                y = k + 3
                a, b = max(pil, lo), min(piu, hi)
                ax.plot([a, b], [y, y], color=OKABE_ITO["vermillion"], lw=2.2, solid_capstyle="butt", zorder=2)
                for xv in (a, b):
                    ax.plot([xv, xv], [y - 0.2, y + 0.2], color=OKABE_ITO["vermillion"], lw=1.2)
                txt = dict(transform=fx, va="center", fontsize=FS, clip_on=False)
                ax.text(x_label, y, f"{lvl}% prediction interval", ha="left", **txt)
                ax.text(x_est, y, pi_txt, ha="left", **txt)

        fig.text(margin / fig_w, 1 - 0.15 / fig_h, "\n".join(title_lines), ha="left", va="top",
                 fontsize=FS_TITLE, fontweight="bold", linespacing=1.1)
        yb = foot_h - 0.12
        for line in footer:
            fig.text(margin / fig_w, yb / fig_h, line, ha="left", va="top", fontsize=FS_SMALL)
            yb -= 0.17
        for line in cav:
            fig.text(margin / fig_w, yb / fig_h, line, ha="left", va="top", fontsize=FS_SMALL, style="italic")
            yb -= 0.17
        return _save(fig, paths)


# ---------------------------------------------------------------------------------------------------------
# specification curve
# ---------------------------------------------------------------------------------------------------------


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
    f, log = _scale(transform)
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
    if null_value is not None and _finite(null_value):
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
    label_chars = max([len(_wrap(o, 28, 1)) + 2 for (_, o) in mrows if o is not None] +
                      [len(c.replace("_", " ")) for c in choice_columns] + [10])
    left = min(max(_text_width_in(label_chars, FS_SMALL) + 0.35, 1.4), 3.0)
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

    with plt.rc_context(_RC):
        fig = plt.figure(figsize=(fig_w, fig_h))
        ax = fig.add_axes((left / fig_w, (foot_h + 0.1 + mat_h + gap) / fig_h, plot_w / fig_w, top_h / fig_h))
        axm = fig.add_axes((left / fig_w, (foot_h + 0.1) / fig_h, plot_w / fig_w, mat_h / fig_h), sharex=ax)
        xs = np.arange(n)
        ax.set_xlim(-0.5 - 0.01 * n, max(n, 1) - 0.5 + 0.01 * n)
        ms = float(min(5.0, max(1.5, 0.6 * plot_w * 72 / max(n, 1))))
        lw = float(min(1.2, max(0.4, 0.25 * plot_w * 72 / max(n, 1))))
        if n:
            lims = _limits(list(d["_lb"]) + list(d["_ub"]) + ([null] if null is not None else []), log, bounded01)
            if log:
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(FixedLocator(_nice_log_ticks(*lims)))
                ax.yaxis.set_minor_locator(NullLocator())
            ax.set_ylim(*lims)
            ax.yaxis.set_major_formatter(FuncFormatter(_tick_label))
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
                tlabels.append(_wrap(o, 28, 1))
                axm.axhline(i, color=LIGHT, lw=0.4, zorder=0)
        axm.set_yticks(ticks)
        axm.set_yticklabels(tlabels, fontsize=FS_SMALL)
        axm.tick_params(axis="y", length=0, pad=3)
        axm.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
        for s in ("top", "right", "bottom"):
            axm.spines[s].set_visible(False)

        fig.text(0.2 / fig_w, 1 - 0.15 / fig_h, "\n".join(title_lines), ha="left", va="top",
                 fontsize=FS_TITLE, fontweight="bold", linespacing=1.1)
        handles = [Line2D([], [], ls="none", marker="o", color=c_ex, label="CI excludes the null"),
                   Line2D([], [], ls="none", marker="o", color=c_in, label="CI includes the null")] \
            if null is not None else [Line2D([], [], ls="none", marker="o", color=c_in, label="specification")]
        if n:
            handles.append(Line2D([], [], color=OKABE_ITO["blue"], ls=":", label=f"median ({_fmt(med)})"))
        if "primary" in d.columns and d["primary"].fillna(False).astype(bool).any():
            handles.append(Patch(color=OKABE_ITO["yellow"], alpha=0.35, label="pre-specified"))
        fig.legend(handles=handles, loc="upper left", ncol=len(handles), frameon=False, fontsize=FS_SMALL,
                   bbox_to_anchor=(left / fig_w, 1 - (0.15 + 0.22 * len(title_lines) + 0.02) / fig_h),
                   handlelength=1.5, columnspacing=1.2, borderaxespad=0.0)
        yb = foot_h - 0.12
        for line in foot:
            fig.text(0.2 / fig_w, yb / fig_h, line, ha="left", va="top", fontsize=FS_SMALL)
            yb -= 0.17
        return _save(fig, paths)


# ---------------------------------------------------------------------------------------------------------
# dose per kg
# ---------------------------------------------------------------------------------------------------------


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
    administration's dose range without a point value is drawn as the bar alone). Rows without any per-kg
    value are listed in the footnote ("not derivable: study (group)"); a study with none at all keeps its
    line, marked "not derivable". Routes are the vocabulary keys (iv, intra_articular, ...; see
    ``ROUTE_STYLE``); missing routes count as "unspecified". Studies are sorted by id within a population;
    rows keep their input order within a study.
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
    nd = d[~d["_has"]]
    nd_txt = list(dict.fromkeys(f"{r.study} ({r.group})" if r.group else r.study for r in nd.itertuples()))

    row_h = 0.26
    study_chars = max([len(ln[1]) for ln in lines if ln[0] != "pop"] + [len(p) for p in pops] + [10])
    arm_chars = max([len(textwrap.shorten(ln[2]["group"] or "-", 26, placeholder="…")) for ln in lines
                     if ln[0] == "arm"] + [0])
    study_w = _text_width_in(study_chars) + 0.15
    arm_w = _text_width_in(arm_chars, FS_SMALL) + 0.15 if arm_chars else 0.0
    left = 0.35 + study_w + arm_w
    plot_w = 5.2
    right = 0.3
    fig_w = round(left + plot_w + right, 2)
    wrap_chars = int((fig_w - 0.4) / (FS_SMALL * 0.55 / 72))
    foot = ["Markers: dose per kg as reported or derived; bars: reported ranges (low to high)."]
    if nd_txt:
        foot.append("not derivable: " + ", ".join(nd_txt) + ".")
    foot = [line for s in foot for line in textwrap.wrap(s, wrap_chars)]
    title_lines = textwrap.wrap(title, int((fig_w - 0.4) / (FS_TITLE * 0.6 / 72))) or [""]
    leg_cols = max(1, min(len(routes_present), int(plot_w / 1.45)))
    n_leg_rows = math.ceil(len(routes_present) / leg_cols)
    title_h = 0.15 + 0.22 * len(title_lines) + 0.2 * n_leg_rows + 0.15
    plot_h = row_h * len(lines)
    axis_h = 0.5
    foot_h = 0.17 * len(foot) + 0.15
    fig_h = round(title_h + plot_h + axis_h + foot_h, 2)

    with plt.rc_context(_RC):
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
                ax.text(0.2, i, ln[1].replace("_", " ").capitalize(), transform=lab_tf, ha="left", va="center",
                        fontsize=FS, fontweight="bold", clip_on=False)
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

        fig.text(0.2 / fig_w, 1 - 0.15 / fig_h, "\n".join(title_lines), ha="left", va="top",
                 fontsize=FS_TITLE, fontweight="bold", linespacing=1.1)
        handles = [Line2D([], [], ls="none", marker=styles[r][2], ms=6.5, color=styles[r][1], mec="black", mew=0.4,
                          label=styles[r][0]) for r in routes_present]
        fig.legend(handles=handles, loc="upper left", ncol=leg_cols, frameon=False, fontsize=FS_SMALL,
                   bbox_to_anchor=(left / fig_w, 1 - (0.15 + 0.22 * len(title_lines) + 0.02) / fig_h),
                   handlelength=1.2, columnspacing=1.2, borderaxespad=0.0)
        yb = foot_h - 0.12
        for line in foot:
            fig.text(0.2 / fig_w, yb / fig_h, line, ha="left", va="top", fontsize=FS_SMALL)
            yb -= 0.17
        return _save(fig, paths)
