"""Risk-of-bias plots in the style of robvis: a traffic-light grid and a summary bar chart per tool.

Colours and symbols follow robvis (methods-reference.md section 5, "robvis: how risk of bias is drawn"):
Cochrane palette low #02C100, some concerns / moderate #E2DF07, high / serious #BF0000, critical #820000,
no information #4EA1F7, not applicable #cccccc; the colour-blind palette is #fed98e / #fe9929 / #d95f0e /
#993404 / #ffffff for the same five levels (not applicable stays grey). Symbols: low "+", some concerns /
moderate "−", high / serious "×", critical "!", no information "?".

Murad and JBI items are drawn as robvis's Generic template: yes -> low, no -> high, unclear -> the
no-information colour with "?", not applicable -> grey without symbol. The Overall column uses the overall
rows of the checklist (see ``evsynth.appraise.overall.overall_judgements``).

Every plot is written twice, ``<path>.png`` (300 dpi) and ``<path>.svg``; ``path`` may carry either suffix. A
traffic light of hundreds of studies would be taller than the renderer allows (2^16 pixels a side) at 300 dpi: its
PNG gets the resolution that keeps it within :data:`evsynth.common.figures.PNG_MAX_PIXELS` (the SVG keeps every
detail).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from evsynth.appraise.overall import CATEGORY  # noqa: E402
from evsynth.appraise.tools import TOOL_LABELS  # noqa: E402
from evsynth.common.figures import PNG_COMPRESS_LEVEL, png_dpi  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

__all__ = ["PALETTES", "SYMBOLS", "CATEGORY", "traffic_light", "summary_bars", "summary_counts"]

# Judgement -> display category (tools.yaml `display` holds the same mapping per tool).
PALETTES = {
    "cochrane": {"low": "#02C100", "some_concerns": "#E2DF07", "high": "#BF0000", "critical": "#820000",
                 "no_information": "#4EA1F7", "unclear": "#4EA1F7", "not_applicable": "#cccccc"},
    "colourblind": {"low": "#fed98e", "some_concerns": "#fe9929", "high": "#d95f0e", "critical": "#993404",
                    "no_information": "#ffffff", "unclear": "#ffffff", "not_applicable": "#cccccc"},
}
SYMBOLS = {"low": "+", "some_concerns": "−", "high": "×", "critical": "!", "no_information": "?",
           "unclear": "?", "not_applicable": ""}
# Stacking order of the summary bars (robvis puts low first) and legend order.
ORDER = ["low", "some_concerns", "high", "critical", "unclear", "no_information", "not_applicable"]

plt.rcParams["svg.hashsalt"] = "evsynth-plots-bias"  # stable SVG ids
PNG_DPI = 300
_TIGHT_MARGIN_INCHES = 4.0  # what bbox_inches="tight" may add (the title above, the item captions below)


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix.lower() in (".png", ".svg"):
        p = p.with_suffix("")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p.with_suffix(".png"), p.with_suffix(".svg")


def _save(fig, path) -> list[Path]:
    png, svg = _paths(path)
    fig.savefig(png, dpi=png_dpi(fig.get_size_inches(), PNG_DPI, _TIGHT_MARGIN_INCHES), bbox_inches="tight",
                metadata={"Software": None}, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    with plt.rc_context({"svg.fonttype": "none"}):  # SVG text stays text (searchable, as the forest plots)
        fig.savefig(svg, bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return [png, svg]


def _label(judgement: str, tool: str) -> str:
    """Legend text for a display category, in the tool's own words."""
    return judgement[:1].upper() + judgement[1:]


def _tool_rows(checklist: pd.DataFrame, tool: str) -> pd.DataFrame:
    rows = checklist[checklist["tool"] == tool]
    if rows.empty:
        raise ValueError(f"no checklist rows for tool {tool!r} (tools present: {sorted(checklist['tool'].unique())})")
    unknown = sorted(set(rows["judgement"]) - set(CATEGORY))
    if unknown:
        raise ValueError(f"{tool}: judgements without a display category: {unknown}")
    return rows


def _items(rows: pd.DataFrame) -> list[str]:
    """Item ids in natural order (Q1 < Q2 < Q10, D1 < D7; the order of tools.yaml), overall last."""
    def key(it: str):
        m = re.match(r"^(\D*)(\d+)$", it)
        return (it == "overall", m.group(1) if m else it, int(m.group(2)) if m else 0)

    return sorted(dict.fromkeys(rows["item"]), key=key)


def _captions(rows: pd.DataFrame, items: list[str], width: int = 110) -> str:
    first = rows.drop_duplicates("item").set_index("item")
    lines = []
    for it in items:
        if it == "overall":
            continue
        q = " ".join(str(first.loc[it, "question"]).split())
        lines.append(textwrap.shorten(f"{it}: {q}", width=width, placeholder=" …"))
    lines.append("Blank cell: item not used for the study's design.")
    return "\n".join(lines)


def traffic_light(checklist: pd.DataFrame, tool: str, path: str | Path, colourblind: bool = False) -> list[Path]:
    """Studies (rows) by items (columns), a coloured circle with the robvis symbol per judgement."""
    rows = _tool_rows(checklist, tool)
    pal = PALETTES["colourblind" if colourblind else "cochrane"]
    items = _items(rows)
    studies = sorted(rows["study"].unique())
    ncol, nrow = len(items), len(studies)
    fig_w = max(5.0, 1.6 + 0.55 * ncol)
    fig_h = max(2.5, 1.3 + 0.42 * nrow)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    grid: dict[tuple, str] = {}  # (study, item) -> its first judgement
    for key in zip(rows["study"], rows["item"], rows["judgement"]):
        grid.setdefault(key[:2], key[2])
    used = set()
    cells: dict[str, tuple[list, list]] = {}  # display category -> the x and y of its circles
    for yi, s in enumerate(studies):
        for xi, it in enumerate(items):
            j = grid.get((s, it))
            if j is None:
                continue
            cat = CATEGORY[j]
            used.add((cat, j))
            xs, ys = cells.setdefault(cat, ([], []))
            xs.append(xi)
            ys.append(yi)
            sym = SYMBOLS[cat]
            if sym:
                ax.text(xi, yi, sym, ha="center", va="center", fontsize=11, fontweight="bold",
                        color="black", zorder=3)
    # one collection per colour, not one per cell: the circles never overlap, so the picture is the same, and
    # matplotlib's cost per collection (extents, autoscaling over every other collection) stays out of the loop
    for cat, (xs, ys) in cells.items():
        ax.scatter(xs, ys, s=330, color=pal[cat], edgecolors="black", linewidths=0.6, zorder=2)
    ax.set_xlim(-0.6, ncol - 0.4)
    ax.set_ylim(nrow - 0.5, -0.5)
    ax.set_xticks(range(ncol), ["Overall" if it == "overall" else it for it in items], fontsize=9)
    ax.xaxis.tick_top()
    ax.set_yticks(range(nrow), studies, fontsize=9)
    ax.tick_params(length=0)
    if "overall" in items:
        ax.axvline(ncol - 1.5, color="grey", linewidth=0.8)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_axisbelow(True)
    ax.grid(color="#e5e5e5", linewidth=0.6)
    ax.set_title(TOOL_LABELS.get(tool, tool), fontsize=11, pad=22)
    handles = []
    for cat in ORDER:
        names = sorted({j for c, j in used if c == cat})
        if names:
            label = " / ".join(n[:1].upper() + n[1:] for n in names)
            handles.append(Line2D([0], [0], marker="o", linestyle="", markersize=11, markerfacecolor=pal[cat],
                                  markeredgecolor="black", label=f"{SYMBOLS[cat] or ' '}  {label}"))
    ax.legend(handles=handles, title="Judgement", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
              title_fontsize=9, frameon=False)
    fig.text(0.01, -0.01, _captions(rows, items), ha="left", va="top", fontsize=7)
    return _save(fig, path)


def summary_counts(checklist: pd.DataFrame, tool: str) -> pd.DataFrame:
    """Per item: the studies it applies to (``n``: judged, 'not applicable' and unused items left out) and how
    many fall in each display category; what :func:`summary_bars` draws, as a table."""
    rows = _tool_rows(checklist, tool)
    rows = rows.assign(_cat=rows["judgement"].map(CATEGORY))
    rows = rows.loc[rows["_cat"] != "not_applicable"]
    out = []
    for it in _items(_tool_rows(checklist, tool)):
        r = rows.loc[rows["item"] == it]
        out.append({"item": it, "n": int(r["study"].nunique()),
                    **{cat: int((r["_cat"] == cat).sum()) for cat in ORDER if cat != "not_applicable"}})
    return pd.DataFrame(out)


def summary_bars(checklist: pd.DataFrame, tool: str, path: str | Path, colourblind: bool = False) -> list[Path]:
    """Per item, the proportion of the studies it applies to in each judgement (stacked bars, unweighted).

    An item used for fewer studies (Murad Q1-Q3 and Q8 only for some designs) is drawn as 100% of those
    studies and its label says how many ("n = 4 of 13"); 'not applicable' answers are not counted."""
    rows = _tool_rows(checklist, tool)
    rows = rows.loc[rows["judgement"] != "not applicable"]
    pal = PALETTES["colourblind" if colourblind else "cochrane"]
    items = _items(rows)
    rows = rows.assign(_cat=rows["judgement"].map(CATEGORY))
    first = rows.drop_duplicates("item").set_index("item")
    labels = []
    n_studies = rows["study"].nunique()
    for it in items:
        n_item = rows.loc[rows["item"] == it, "study"].nunique()
        of = f" (n = {n_item} of {n_studies})"
        if it == "overall":
            labels.append("Overall" + of)
        else:
            q = " ".join(str(first.loc[it, "question"]).split())
            labels.append(textwrap.shorten(f"{it} {q}", width=44, placeholder=" …") + of)
    fig, ax = plt.subplots(figsize=(8.5, max(2.2, 0.9 + 0.38 * len(items))))
    used_names: dict[str, set[str]] = {}
    for yi, it in enumerate(items):
        r = rows[rows["item"] == it]
        n = len(r)
        left = 0.0
        for cat in ORDER:
            k = int((r["_cat"] == cat).sum())
            if not k:
                continue
            used_names.setdefault(cat, set()).update(r.loc[r["_cat"] == cat, "judgement"])
            w = k / n
            ax.barh(yi, w, left=left, color=pal[cat], edgecolor="black", linewidth=0.5, height=0.7)
            if w >= 0.08:
                ax.text(left + w / 2, yi, f"{k}", ha="center", va="center", fontsize=7)
            left += w
    ax.set_yticks(range(len(items)), labels, fontsize=8)
    ax.set_ylim(len(items) - 0.5, -0.5)
    ax.set_xlim(0, 1)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"], fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{TOOL_LABELS.get(tool, tool)}: {n_studies} stud{'y' if n_studies == 1 else 'ies'}; each bar is "
                 "100% of the studies its item applies to (numbers = studies)", fontsize=10)
    handles = [Patch(facecolor=pal[c], edgecolor="black",
                     label=" / ".join(x[:1].upper() + x[1:] for x in sorted(used_names[c])))
               for c in ORDER if c in used_names]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(4, len(handles)),
              fontsize=8, frameon=False)
    return _save(fig, path)
