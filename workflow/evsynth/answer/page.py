"""The evidence page ``results/index.html``: the question, the one-screen answer, then everything behind it.

One self-contained HTML file (inline CSS, PNG figures embedded as data URIs, no script, no network), built
with Jinja2 from the result tables, so it opens offline and as the first entry of the Snakemake report.
Every table is rendered as an HTML table; each figure appears once (PNG shown, SVG offered beside it as a
relative link that works when the page is opened from ``results/``).
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

import pandas as pd

from jinja2 import Environment, PackageLoader, select_autoescape

from evsynth.answer.sof import POPULATION_WORDS
from evsynth.common.io import CAVEAT

__all__ = ["harms_seen", "answer_rows", "render_page", "html_table", "CAVEAT"]

SERIOUS_ORDER = {"yes": 0, "unknown": 1, "no": 2}
SERIOUS_WORDS = {"yes": "serious", "unknown": "seriousness unknown", "no": "not serious"}


def _fmt(value) -> str:
    """A cell as text: '' for missing, numbers to 3 significant digits (integers as integers)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int,)) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e9):
        return f"{int(value)}"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def html_table(frame: pd.DataFrame, columns: list[str] | None = None) -> dict:
    """``{"columns": [...], "rows": [[text, ...], ...]}`` for the template's table macro."""
    columns = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    return {"columns": columns, "rows": [[_fmt(v) for v in row] for row in frame[columns].itertuples(index=False)]}


def harms_seen(harms: pd.DataFrame, population: str = "pediatric") -> pd.DataFrame:
    """The rows of ``harms.csv`` (:func:`evsynth.describe.harms.harms_table`) for ``population``: events seen
    first (serious, seriousness unknown, not serious), then those the studies report as absent (0 patients).
    Columns: study, group, event, seriousness, patients, at_risk, timepoint, seen, source, used (whether the
    synthesis uses the row; another report of the same harm is listed, not dropped)."""
    columns = ["study", "group", "event", "seriousness", "patients", "at_risk", "timepoint", "seen", "source", "used"]
    h = harms.loc[harms["population"].eq(population)].copy()
    if h.empty:
        return pd.DataFrame(columns=columns)
    serious = h["serious"].fillna("unknown").astype(str).where(lambda s: s.isin(SERIOUS_ORDER), "unknown")
    seen = ~pd.to_numeric(h["n_patients"], errors="coerce").eq(0)
    used = h["used"] if "used" in h else pd.Series(True, index=h.index)
    out = pd.DataFrame({
        "study": h["study"], "group": h["group"], "event": h["event"],
        "seriousness": serious.map(SERIOUS_WORDS), "patients": h["n_patients"], "at_risk": h["n_at_risk"],
        "timepoint": h["timepoint"].fillna(""), "seen": seen.map({True: "seen", False: "reported absent"}),
        "source": h["source"], "used": used.map(lambda v: "yes" if str(v).lower() in ("true", "1") else "no"),
        "_o": (~seen).astype(int) * 10 + serious.map(SERIOUS_ORDER),
    })
    return out.sort_values(["_o", "study", "group", "event"], kind="stable").drop(columns="_o").reset_index(drop=True)


def answer_rows(sof: pd.DataFrame, target: str) -> list[dict]:
    """One row per outcome: the target population's evidence, certainty and statement, then the others'."""
    out = []
    for outcome, part in sof.groupby("outcome", sort=False):
        cells = []
        for pop_row in part.to_dict("records"):
            k = int(pop_row["k"]) if not pd.isna(pop_row["k"]) else 0
            evidence = "no studies" if k == 0 else \
                f"{k} {'study' if k == 1 else 'studies'}, {_fmt(pop_row['patients'])} patients ({pop_row['designs']})"
            cells.append({
                "population": POPULATION_WORDS.get(pop_row["population"], pop_row["population"]),
                "evidence": evidence, "effect": _fmt(pop_row["effect_text"]),
                "certainty": pop_row["certainty"], "statement": pop_row["statement"],
                "contrast": _fmt(pop_row["controlled_contrast"]), "comparator": _fmt(pop_row["comparator_change"]),
                "override": _fmt(pop_row["overrides"]), "target": pop_row["population"] == target,
            })
        out.append({"outcome": outcome, "kind": part["kind"].iloc[0], "cells": cells})
    return out


def data_uri(path: str | Path) -> str:
    """A PNG as a data URI (the page carries its figures)."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def figure(png: str | Path, title: str, caption: str, page_dir: Path) -> dict:
    """A figure entry: embedded PNG, relative SVG link, title and caption."""
    import os

    png = Path(png)
    svg = png.with_suffix(".svg")
    rel = os.path.relpath(svg, page_dir) if svg.exists() else ""
    return {"src": data_uri(png), "svg": rel, "title": title, "caption": caption}


#: The page's template, compiled when this module is imported (0.04 s): the run's warm worker imports it
#: (evsynth.common.warm), so the page's job, a fork of the worker, renders without compiling it again.
_TEMPLATE = Environment(
    loader=PackageLoader("evsynth", "answer/templates"), autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
    lstrip_blocks=True, keep_trailing_newline=True,
).get_template("evidence.html.j2")


def render_page(context: dict) -> str:
    """The page's HTML from ``context`` (see templates/evidence.html.j2 for the keys)."""
    return _TEMPLATE.render(**context, caveat=CAVEAT)

