"""The appraisal tools (resources/appraisal/tools.yaml): items, scales, the design -> tool mapping and the
thresholds the rules use (``settings``; read only from tools.yaml, never defaulted in code)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd
import yaml

import evsynth.appraise.case_rules  # noqa: F401  (registers the case-report/series rules)
import evsynth.appraise.domain_rules  # noqa: F401  (registers the RoB 2 / ROBINS-I rules)
from evsynth.appraise.context import RULES
from evsynth.common.inputs import yaml_data

#: Checklist columns (bias_checklist.csv). ``rule`` names the function that judged the row
#: (``evsynth.<module>.<function>``), or ``reviewer`` for a reviewer's judgement.
COLUMNS = [
    "study", "tool", "domain", "item", "question", "judgement", "source", "rule", "rationale", "evidence",
    "derived_judgement", "reviewer_judgement", "derived_rationale",
]
#: How figures and the evidence page name each tool.
TOOL_LABELS = {"murad": "Murad et al. 2018", "jbi_case_series": "JBI checklist for case series",
               "jbi_case_report": "JBI checklist for case reports", "rob2": "RoB 2", "robins_i": "ROBINS-I"}
OVERALL_ITEM = "overall"
OVERALL_QUESTION = "Overall judgement"
#: tools.yaml ``settings`` every run needs.
REQUIRED_SETTINGS = ("course_gap_days", "patient_reported_measures", "missing_data_low", "missing_data_concerns",
                     "overall_yes_share_low", "overall_yes_share_concerns", "overall_no_items_high")


def load_tools(path: str | Path) -> dict:
    """Read tools.yaml and check it is coherent (scales, displays, design mapping, item ids)."""
    tools = yaml_data(Path(path).read_text(encoding="utf-8"))
    problems = []
    for name, tool in tools.get("tools", {}).items():
        scale = tool.get("judgements") or []
        if tool.get("missing") not in scale:
            problems.append(f"tool {name}: missing judgement {tool.get('missing')!r} not in {scale}")
        if set(tool.get("display", {})) != set(scale):
            problems.append(f"tool {name}: display keys {sorted(tool.get('display', {}))} != {scale}")
        ids = [it["id"] for it in tool.get("items", [])]
        if len(ids) != len(set(ids)) or OVERALL_ITEM in ids:
            problems.append(f"tool {name}: item ids must be unique and not {OVERALL_ITEM!r}: {ids}")
        for it in tool.get("items", []):
            rule = it.get("rule")
            if it.get("derivable", True) and rule not in RULES:
                problems.append(f"tool {name} item {it['id']}: unknown rule {rule!r}")
            if not it.get("question"):
                problems.append(f"tool {name} item {it['id']}: no question wording")
    for design, uses in tools.get("designs", {}).items():
        for use in uses:
            tool = tools.get("tools", {}).get(use.get("tool"))
            if tool is None:
                problems.append(f"design {design}: unknown tool {use.get('tool')!r}")
                continue
            domains = {it["domain"] for it in tool["items"]}
            for d in use.get("domains") or []:
                if d not in domains:
                    problems.append(f"design {design}: tool {use['tool']} has no domain {d!r}")
    settings = tools.get("settings") or {}
    for key in REQUIRED_SETTINGS:
        if key not in settings:
            problems.append(f"settings: no {key!r} (the rules read their thresholds only from tools.yaml)")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return tools


def in_question(meta: dict | None, conditions: Iterable[str] | None) -> bool:
    """Whether a study (its study.yaml) is about the question's conditions (``summaries.conditions`` in
    config); None: every study. The GVHD dosing references (conditions ``[GVHD]``) are not, unless the config
    lists GVHD."""
    if conditions is None:
        return True
    return bool(set(conditions) & set((meta or {}).get("conditions") or []))


def bias_tools(path: str | Path, studies_dir: str | Path | None = None,
               conditions: Iterable[str] | None = None) -> list[str]:
    """The tools that draw risk-of-bias plots (the workflow's plot list), in tools.yaml order: every tool but
    ``none``; with ``studies_dir``, only the tools the designs of its studies about ``conditions`` are
    appraised with (no plot is drawn for a tool no study uses). A study.yaml that cannot be read is skipped
    here: the record validator reports it."""
    tools = yaml_data(Path(path).read_text(encoding="utf-8"))
    names = [name for name in tools.get("tools", {}) if name != "none"]
    if studies_dir is None:
        return names
    used = set()
    for meta_path in sorted(Path(studies_dir).glob("*/study.yaml")):
        try:
            meta = yaml_data(meta_path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if not isinstance(meta, dict) or not in_question(meta, conditions):
            continue
        used |= {use.get("tool") for use in (tools.get("designs", {}).get(meta.get("design")) or [])}
    return [name for name in names if name in used]


def tool_order(tools: dict) -> dict[str, int]:
    return {name: i for i, name in enumerate(tools["tools"])}


def item_order(tools: dict, tool: str) -> dict[str, int]:
    order = {it["id"]: i for i, it in enumerate(tools["tools"][tool]["items"])}
    order[OVERALL_ITEM] = len(order)
    return order


def sort_checklist(df: pd.DataFrame, tools: dict) -> pd.DataFrame:
    """Rows by study, then tool and item in tools.yaml order (overall last)."""
    if df.empty:
        return df.reset_index(drop=True)
    tord = tool_order(tools)
    key = df.apply(lambda r: (r["study"], tord.get(r["tool"], 99), item_order(tools, r["tool"]).get(r["item"], 99)),
                   axis=1)
    return df.assign(_k=key).sort_values("_k", kind="stable").drop(columns="_k").reset_index(drop=True)
