"""Deterministic figure files: the same figure gives byte-identical PNG and SVG files.

Every plot of the package is written through :func:`save_figure` (or :func:`placeholder_figure` when there
is nothing to draw): the date and software metadata are dropped, and the caller's style context salts SVG
ids with a constant (``svg.hashsalt``), so reruns do not rewrite unchanged plots. A figure that would be
larger than :data:`PNG_MAX_PIXELS` on a side at its resolution (a plot with a row per study, of hundreds of
studies) gets the PNG resolution that fits (:func:`png_dpi`); Agg refuses 2^16 pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


#: The tallest or widest PNG written, in pixels (Agg refuses 2^16; the dose plot of a 16x synthetic corpus is 24,000).
PNG_MAX_PIXELS = 32000


#: zlib level of the PNGs: 3 encodes a figure in about three quarters of the time of Pillow's default 6 (75
#: against 100 ms for a specification curve), same pixels, files about 8% larger.
PNG_COMPRESS_LEVEL = 3


def png_dpi(size_inches, dpi: float, margin_inches: float = 0.0) -> float:
    """``dpi``, or less for a figure of ``size_inches`` (plus what ``bbox_inches="tight"`` may add,
    ``margin_inches``) whose PNG would exceed :data:`PNG_MAX_PIXELS` on a side."""
    largest = max(size_inches) + margin_inches
    return min(dpi, int(PNG_MAX_PIXELS // largest))


def save_figure(fig, paths: Sequence[str | Path] | str | Path, dpi: int = 200) -> list[Path]:
    """Write ``fig`` to every path (``.png`` at ``dpi`` or ``.svg``), close it, return the paths."""
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
            fig.savefig(p, format="png", dpi=png_dpi(fig.get_size_inches(), dpi), metadata={"Software": None},
                        pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
        else:
            fig.savefig(p, format="svg", metadata={"Date": None})
        out.append(p)
    plt.close(fig)
    return out


def placeholder_figure(png: str | Path, text: str) -> None:
    """A small PNG+SVG pair (``png`` and the ``.svg`` beside it) saying why there is nothing to draw."""
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    with plt.rc_context({"svg.hashsalt": "evsynth"}):
        fig, ax = plt.subplots(figsize=(5, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9)
        fig.savefig(png, dpi=150, metadata={"Software": None})
        fig.savefig(png.with_suffix(".svg"), metadata={"Date": None})
    plt.close(fig)
