"""Numbers, ticks, limits and scales of the result plots' axes and text columns.

Scales (``transform`` of the forest plot and the specification curve); values are given on the *analysis*
scale unless stated otherwise, and the back-transforms are the engine's (:mod:`evsynth.stats.effects`):

* ``None`` / ``"identity"``: drawn as given (mean differences, SMDs).
* ``"exp"``: log ratios (log RR / OR / ROM); the axis shows the ratios on a log scale.
* ``"ilogit"``: logit proportions, drawn as proportions on a 0-1 axis.
* ``"iarcsin"``: arcsine-square-root proportions, drawn as proportions (``sin(x)^2``).
* ``"ipft"``: Freeman-Tukey double arcsine, back-transformed with the given ``n`` (per value, or one number
  such as the harmonic mean of the studies' sizes; metafor ``transf.ipft`` / ``transf.ipft.hm``).
* ``"none-precomputed"``: the caller has already back-transformed everything to the display scale.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any, Callable, Sequence

import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from evsynth.report.style import FS, FS_SMALL, FS_TITLE
from evsynth.stats.effects import transf_exp, transf_iarcsin, transf_ilogit, transf_ipft

TRANSFORMS = ("identity", "exp", "ilogit", "iarcsin", "ipft", "none-precomputed")


def display_scale(transform: str | None, n: Any = None) -> tuple[Callable[[Any], np.ndarray], bool]:
    """(function from the analysis scale to the display scale, log axis?) for a transform name."""
    t = "identity" if transform is None else str(transform).lower()
    if t in ("identity", "none", "none-precomputed"):
        return (lambda v: np.asarray(v, dtype=float)), False
    if t == "exp":
        return transf_exp, True
    if t == "ilogit":
        return transf_ilogit, False
    if t == "iarcsin":
        return transf_iarcsin, False
    if t == "ipft":
        if n is None:
            raise ValueError("transform 'ipft' needs sample sizes (column 'n'); or back-transform yourself and "
                             "pass transform='none-precomputed'")
        return (lambda v: transf_ipft(v, n)), False
    raise ValueError(f"unknown transform {transform!r}; use None, 'exp', 'ilogit', 'iarcsin', 'ipft' or "
                     "'none-precomputed'")


def num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def finite(x: Any) -> bool:
    return math.isfinite(num(x))


def fmt(x: Any, digits: int = 2) -> str:
    """Fixed-point number for the text columns; large magnitudes get fewer decimals."""
    v = num(x)
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


def fmt_p(p: Any) -> str:
    v = num(p)
    if not math.isfinite(v):
        return "NA"
    if v < 0.001:
        return "< 0.001"
    return f"= {v:.3f}"


def fmt_tau2(x: Any) -> str:
    v = num(x)
    if not math.isfinite(v):
        return "NA"
    if v == 0:
        return "0"
    if 0 < v < 1e-4:  # an estimate at the boundary, numerically zero (a GLMM's 6e-25)
        return "< 0.0001"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def nice_log_ticks(lo: float, hi: float) -> list[float]:
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


def tick_label(v: float, _pos=None) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.0e}"
    return f"{v:g}"


def limits(values: Sequence[float], log: bool, bounded01: bool) -> tuple[float, float]:
    vals = np.asarray([v for v in values if finite(v) and (not log or v > 0)], dtype=float)
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


def set_axis(ax, lo: float, hi: float, log: bool) -> None:
    if log:
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.xaxis.set_major_locator(FixedLocator(nice_log_ticks(lo, hi)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(tick_label))
    else:
        ax.set_xlim(lo, hi)
        ax.xaxis.set_major_formatter(FuncFormatter(tick_label))


def wrap(text: str, width: int, max_lines: int = 2) -> str:
    lines = textwrap.wrap(" ".join(str(text).split()), width=width, break_long_words=True) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = textwrap.shorten(lines[-1] + " …", width=width, placeholder=" …")
    return "\n".join(lines)


def text_width_in(chars: int, size: float = FS) -> float:
    """Approximate width (inches) of ``chars`` characters of DejaVu Sans at ``size`` pt (0.53 em per char on average)."""
    return chars * size * 0.53 / 72.0



def figure_title(fig, lines: list[str], fig_w: float, fig_h: float, x: float = 0.2) -> None:
    """The bold title, top left, ``x`` inches from the left edge."""
    fig.text(x / fig_w, 1 - 0.15 / fig_h, "\n".join(lines), ha="left", va="top",
             fontsize=FS_TITLE, fontweight="bold", linespacing=1.1)


def figure_footer(fig, lines: list[str], fig_w: float, fig_h: float, foot_h: float, x: float = 0.2,
                  italic: list[str] = ()) -> None:
    """Footer lines from the top of the footer band down (``italic`` lines after them, e.g. the caveat)."""
    yb = foot_h - 0.12
    for line in lines:
        fig.text(x / fig_w, yb / fig_h, line, ha="left", va="top", fontsize=FS_SMALL)
        yb -= 0.17
    for line in italic:
        fig.text(x / fig_w, yb / fig_h, line, ha="left", va="top", fontsize=FS_SMALL, style="italic")
        yb -= 0.17
