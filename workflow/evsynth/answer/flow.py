"""The flow of records (PRISMA-style): what was read, validated, selected, excluded and why, and pooled.

:func:`flow_of_records` counts from the tables earlier rules wrote (``ledger.csv``, the study metadata,
``analysis_excluded.csv``, ``analysis_studies.csv``, ``pooled.csv``); :func:`flow_diagram` draws them.
"""

from __future__ import annotations

import re
import textwrap

import pandas as pd

__all__ = ["FLOW_COLUMNS", "flow_of_records", "flow_diagram"]

FLOW_COLUMNS = ["step", "analysis", "studies", "rows", "detail"]


def _reason_kind(reason: str) -> str:
    """A reason with its bracketed lists removed, so that studies excluded for the same rule group together."""
    first = str(reason).split(";")[0].strip()
    return re.sub(r"\s*\[.*?\]", "", re.sub(r"^(conditions|design|population)\b.*", r"\1 not selected", first))


def flow_of_records(ledger: pd.DataFrame, studies: dict, excluded: pd.DataFrame, studies_rows: pd.DataFrame,
                    pooled: pd.DataFrame, evidence: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows of :data:`FLOW_COLUMNS`: read, validated (per status), then per analysis the studies
    selected, excluded (per reason, with the studies) and pooled (k and the studies of the main fit).
    ``evidence`` (``evidence.csv``, when the pipeline writes it) adds one row per status it carries."""
    rows = []
    rows_read = ledger.drop_duplicates(["file", "line"])
    rows.append({"step": "read", "analysis": "", "studies": len(studies), "rows": len(rows_read),
                 "detail": "study folders and their record rows"})
    for status, part in ledger.groupby("status", sort=True):
        rows.append({"step": "validated", "analysis": "", "studies": part["study"].nunique(), "rows": len(part),
                     "detail": f"ledger status {status}"})
    if evidence is not None and "status" in evidence:
        for status, part in evidence.groupby("status", sort=True):
            rows.append({"step": "evidence", "analysis": "", "studies": part["study"].nunique(), "rows": len(part),
                         "detail": f"evidence.csv status {status}"})
    # an analysis with no data writes a study table without columns: read it as empty
    studies_rows = studies_rows.reindex(columns=list(dict.fromkeys([*studies_rows.columns, "analysis", "study"])))
    main = pooled.loc[pooled["variant"].eq("main") & pooled["subgroup"].eq("all")]
    for analysis in sorted(pooled["analysis"].unique()):
        ex = excluded.loc[excluded["analysis"].eq(analysis)]
        used = studies_rows.loc[studies_rows["analysis"].eq(analysis)]
        rows.append({"step": "selected", "analysis": analysis, "studies": len(studies) - ex["study"].nunique(),
                     "rows": len(used), "detail": "studies with data for the analysis"})
        kinds = ex.assign(kind=ex["reason"].map(_reason_kind))
        for kind, part in kinds.groupby("kind", sort=True):
            rows.append({"step": "excluded", "analysis": analysis, "studies": part["study"].nunique(),
                         "rows": pd.NA, "detail": f"{kind}: {', '.join(sorted(part['study'].unique()))}"})
        fit = main.loc[main["analysis"].eq(analysis)]
        k = int(fit["k"].iloc[0]) if len(fit) else 0
        rows.append({"step": "pooled", "analysis": analysis, "studies": used["study"].nunique(), "rows": k,
                     "detail": (str(fit["studies"].iloc[0]) if len(fit) and isinstance(fit["studies"].iloc[0], str)
                                else "no study")})
    return pd.DataFrame(rows, columns=FLOW_COLUMNS)


def flow_diagram(flow: pd.DataFrame, paths: list[str]) -> None:
    """A PRISMA-style diagram: read -> validated -> one box per analysis (selected, excluded, pooled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from evsynth.common.figures import PNG_COMPRESS_LEVEL

    plt.rcParams["svg.hashsalt"] = "evsynth"
    analyses = [a for a in flow["analysis"].unique() if a]
    height = 2.2 + 1.05 * len(analyses)
    fig, ax = plt.subplots(figsize=(11, height))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, height)
    ax.axis("off")

    def box(x, y, w, h, text, colour):
        ax.add_patch(plt.Rectangle((x, y), w, h, facecolor=colour, edgecolor="#444", linewidth=0.8))
        ax.text(x + 1, y + h - 0.12, text, va="top", ha="left", fontsize=7.5, family="DejaVu Sans")

    read = flow.loc[flow["step"].eq("read")].iloc[0]
    valid = flow.loc[flow["step"].eq("validated")]
    top = height - 0.2
    box(2, top - 0.8, 45, 0.8, f"Read: {read['studies']} study folders, {read['rows']} record rows", "#e8f0fe")
    vtext = "Validated: " + "; ".join(f"{r['rows']} rows {r['detail'].replace('ledger status ', '')}"
                                      for r in valid.to_dict("records"))
    box(52, top - 0.8, 46, 0.8, "\n".join(textwrap.wrap(vtext, 70)), "#e8f0fe")
    y = top - 1.2
    for a in analyses:
        part = flow.loc[flow["analysis"].eq(a)]
        sel = part.loc[part["step"].eq("selected")].iloc[0]
        pooled = part.loc[part["step"].eq("pooled")].iloc[0]
        ex = part.loc[part["step"].eq("excluded")]
        extext = "; ".join(f"{r['studies']} {r['detail'].split(':')[0]}" for r in ex.to_dict("records"))
        y -= 1.0
        box(2, y, 30, 0.85, f"{a}\nselected: {sel['studies']} studies", "#f6f8fa")
        box(33, y, 40, 0.85, "\n".join(textwrap.wrap(f"excluded: {extext}", 62)[:4]), "#fff5f5")
        box(74, y, 24, 0.85, f"pooled: k = {pooled['rows']}\n({pooled['studies']} studies)", "#eefbea")
    for path in paths:
        if path.endswith(".png"):
            fig.savefig(path, dpi=110, metadata={"Software": None}, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
        else:
            fig.savefig(path, dpi=110, metadata={"Date": None})
    plt.close(fig)
