"""The bias checklist of the corpus: derived items (one rule per item), reviewer overrides, overall rows.

Which tool appraises which design, and what each rule decides, is in the :mod:`evsynth.appraise` package
docstring and resources/appraisal/README.md.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from evsynth.appraise.context import RULES, StudyContext, merge_evidence
from evsynth.appraise.overall import overall_judgements, overall_rule
from evsynth.appraise.overrides import apply_overrides
from evsynth.appraise.tools import COLUMNS, OVERALL_ITEM, OVERALL_QUESTION, sort_checklist
from evsynth.common.code import code_name
from evsynth.common.io import rows_by_study
from evsynth.common.timepoints import DEFAULT_RANGE_BOUND


def not_derivable(ctx: StudyContext) -> tuple[str, str, list[str]]:
    """An item no fact can decide (``derivable: false``) and no reviewer judged: the tool's missing judgement
    ("unclear" for Murad/JBI, "no information" for RoB 2/ROBINS-I), never a pass."""
    return ctx.missing, ("Not derivable from the records; no reviewer judgement in resources/studies/"
                     f"{ctx.sid}/appraisal.yaml."), []


def derive_checklist(
    study: dict,
    tables: dict[str, pd.DataFrame],
    tools: dict,
    min_followup_months: float = 6.0,
    followup_bound: str = DEFAULT_RANGE_BOUND,
) -> pd.DataFrame:
    """The derived checklist of one study (no reviewer overrides, no overall rows); each row's ``rule`` names
    the function that judged it."""
    sid = str(study.get("id"))
    design = study.get("design")
    uses = tools["designs"].get(design)
    if uses is None:
        raise ValueError(f"{sid}: design {design!r} has no tools in tools.yaml (designs: {sorted(tools['designs'])})")
    settings = tools["settings"]
    rows = []
    for use in uses:
        name = use["tool"]
        tool = tools["tools"][name]
        ctx = StudyContext(study, tables, settings, float(min_followup_months), name, tool["judgements"],
                           followup_bound, tool["missing"])
        for it in tool["items"]:
            if use.get("domains") and it["domain"] not in use["domains"]:
                continue
            fn = RULES[it["rule"]] if it.get("derivable", True) and it.get("rule") else not_derivable
            j, why, ev = fn(ctx)
            if j not in tool["judgements"]:
                raise ValueError(f"rule {it['rule']} gave {j!r}, not in the {name} scale {tool['judgements']}")
            rows.append({
                "study": sid, "tool": name, "domain": it["domain"], "item": it["id"],
                "question": " ".join(str(it["question"]).split()), "judgement": j, "source": "derived",
                "rule": code_name(fn),
                "rationale": why, "evidence": merge_evidence(ev),
                "derived_judgement": "", "reviewer_judgement": "", "derived_rationale": "",
            })
    return sort_checklist(pd.DataFrame(rows, columns=COLUMNS), tools)


def build_checklist(
    studies: Mapping[str, dict],
    tables: Mapping[str, pd.DataFrame],
    tools: dict,
    overrides: Mapping[str, dict] | None = None,
    min_followup_months: float = 6.0,
    followup_bound: str = DEFAULT_RANGE_BOUND,
) -> pd.DataFrame:
    """Checklist for the corpus: derived items, reviewer overrides, then one overall row per study and tool.

    Derived overall rows are computed by :func:`overall_judgements`; a reviewer's overall row is kept and,
    where it differs from the derived one, both are listed.
    """
    overrides = overrides or {}
    parts = []
    own_rows = rows_by_study(tables)  # each rule reads its study's rows, the tables split once
    for sid in sorted(studies):
        study = dict(studies[sid])
        study.setdefault("id", sid)
        cl = derive_checklist(study, own_rows(str(study["id"])), tools, min_followup_months, followup_bound)
        if overrides.get(sid):
            cl = apply_overrides(cl, {sid: overrides[sid]}, tools)
        parts.append(cl)
    cl = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    derived = overall_judgements(cl[cl["item"] != OVERALL_ITEM], tools["settings"])
    add = []
    overall_rows: dict[tuple, object] = {}  # (study, tool) -> its overall row's index label, the first one
    for idx, study, tool, item in zip(cl.index, cl["study"], cl["tool"], cl["item"]):
        if item == OVERALL_ITEM:
            overall_rows.setdefault((study, tool), idx)
    for _, r in derived.iterrows():
        idx = overall_rows.get((r["study"], r["tool"]))
        if idx is not None:
            cl.at[idx, "derived_rationale"] = r["rationale"]
            if cl.at[idx, "judgement"] != r["overall"]:
                cl.at[idx, "derived_judgement"] = r["overall"]
                cl.at[idx, "reviewer_judgement"] = cl.at[idx, "judgement"]
            continue
        add.append({"study": r["study"], "tool": r["tool"], "domain": OVERALL_ITEM, "item": OVERALL_ITEM,
                    "question": OVERALL_QUESTION, "judgement": r["overall"], "source": "derived",
                    "rule": code_name(overall_rule),
                    "rationale": r["rationale"], "evidence": "", "derived_judgement": "",
                    "reviewer_judgement": "", "derived_rationale": ""})
    if add:
        cl = pd.concat([cl, pd.DataFrame(add, columns=COLUMNS)], ignore_index=True)
    return sort_checklist(cl[COLUMNS].fillna(""), tools)
