"""The checklist written out: bias_checklist.csv (every column) and bias_checklist.md (one section per tool)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from evsynth.appraise.context import text_of
from evsynth.appraise.tools import COLUMNS
from evsynth.common.io import write_csv


def _md_cell(x: Any) -> str:
    return text_of(x).replace("|", "\\|").replace("\n", " ")


def checklist_markdown(checklist: pd.DataFrame, tools: dict | None = None) -> str:
    """The checklist as Markdown: one section per tool, one table row per study and item."""
    lines = ["# Risk-of-bias checklist", "",
             "Judgements derived from the study records by the rules in `workflow/evsynth/appraise/` (the `rule` "
             "column of bias_checklist.csv names each function; see `resources/appraisal/README.md`); "
             "`source = reviewer` rows come from "
             "`resources/studies/<id>/appraisal.yaml`. Where reviewer and derived judgements differ, both are "
             "shown.", ""]
    order = list(tools["tools"]) if tools else sorted(checklist["tool"].unique())
    for tool in order:
        g = checklist[checklist["tool"] == tool]
        if g.empty:
            continue
        label = tools["tools"][tool].get("label", tool) if tools else tool
        lines += [f"## {label} (`{tool}`)", "",
                  "| study | item | domain | judgement | source | rationale | evidence |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for _, r in g.iterrows():
            j = _md_cell(r["judgement"])
            if text_of(r.get("derived_judgement")):
                j += f" (derived: {_md_cell(r['derived_judgement'])})"
            lines.append(f"| {_md_cell(r['study'])} | {_md_cell(r['item'])} | {_md_cell(r['domain'])} | {j} | "
                         f"{_md_cell(r['source'])} | {_md_cell(r['rationale'])} | {_md_cell(r['evidence'])} |")
        lines.append("")
        if tools:
            qs = [f"- **{it['id']}** ({it['domain']}): {' '.join(str(it['question']).split())}"
                  for it in tools["tools"][tool]["items"]]
            lines += ["Items:", "", *qs, ""]
    return "\n".join(lines)


def write_checklist(checklist: pd.DataFrame, csv_path: str | Path, md_path: str | Path | None = None,
                    tools: dict | None = None) -> None:
    """bias_checklist.csv (every column, :func:`evsynth.common.io.write_csv`) and, with ``md_path``, its
    Markdown."""
    write_csv(checklist[COLUMNS], csv_path)
    if md_path:
        Path(md_path).parent.mkdir(parents=True, exist_ok=True)
        Path(md_path).write_text(checklist_markdown(checklist, tools), encoding="utf-8")
