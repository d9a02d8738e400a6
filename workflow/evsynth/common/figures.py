"""Deterministic figure files: the same figure gives byte-identical PNG and SVG files.

Every plot of the package is written through :func:`save_figure` (or :func:`placeholder_figure` when there
is nothing to draw): the date and software metadata are dropped, and the caller's style context salts SVG
ids with a constant (``svg.hashsalt``), so reruns do not rewrite unchanged plots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
            fig.savefig(p, format="png", dpi=dpi, metadata={"Software": None})
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
