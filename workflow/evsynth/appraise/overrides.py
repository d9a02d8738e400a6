"""Reviewer overrides (resources/studies/<id>/appraisal.yaml): the one loader and how they replace derived
judgements. An overridden row says ``source = reviewer`` and ``rule = reviewer``."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from evsynth.appraise.context import text_of
from evsynth.appraise.overall import overall_scale
from evsynth.appraise.tools import COLUMNS, OVERALL_ITEM, OVERALL_QUESTION, sort_checklist
from evsynth.common.inputs import InputError, yaml_data


def load_overrides(paths: Iterable[str | Path], root: str | Path | None = None) -> dict[str, dict]:
    """study id (the folder name) -> parsed ``appraisal.yaml``, for each of ``paths``; ``_file`` holds the
    path (relative to ``root`` when given), which the rows' evidence cites."""
    out = {}
    for p in sorted(Path(x) for x in paths):
        doc = yaml_data(p.read_text(encoding="utf-8")) or {}
        rel = p
        if root is not None:
            try:
                rel = p.resolve().relative_to(Path(root).resolve())
            except ValueError:
                pass
        doc["_file"] = str(rel)
        out[p.parent.name] = doc
    return out


def _override_entries(overrides: Mapping, studies: list[str]) -> list[tuple[str, dict, str]]:
    """(study, entry, file) triples from either one study's appraisal.yaml or a study -> yaml mapping."""
    if "judgements" in overrides:
        sid = overrides.get("study") or (studies[0] if len(studies) == 1 else None)
        if sid is None:
            raise ValueError("an appraisal.yaml applied to several studies must name its `study`")
        per = {sid: overrides}
    else:
        per = overrides
    out = []
    for sid, doc in sorted(per.items()):
        if not doc:
            continue
        if doc.get("study") and str(doc["study"]) != str(sid):
            raise InputError(f"appraisal.yaml of {sid} says study {doc['study']!r}")
        path = doc.get("_file") or f"resources/studies/{sid}/appraisal.yaml"
        for entry in doc.get("judgements") or []:
            out.append((str(sid), entry, path))
    return out


def apply_overrides(checklist: pd.DataFrame, overrides: Mapping, tools: dict | None = None) -> pd.DataFrame:
    """Replace derived judgements by a reviewer's (resources/studies/<id>/appraisal.yaml).

    ``overrides`` is one study's parsed appraisal.yaml (with ``judgements:``) or a mapping study id ->
    parsed appraisal.yaml. Each entry has ``tool``, ``item`` (or ``overall``), ``judgement``,
    ``rationale`` and optionally ``source`` (a study.yaml source key) and ``quote``.

    The row becomes ``source = reviewer`` with the reviewer's rationale; the derived judgement and
    rationale stay in ``derived_judgement``/``derived_rationale``. Where the two judgements differ, both
    ``derived_judgement`` and ``reviewer_judgement`` are filled; where they agree, they are left empty.
    An unknown tool/item, a tool not applied to the study, or a judgement outside the tool's scale is
    an error. An ``overall`` entry adds (or replaces) the study's overall row for that tool.
    """
    out = checklist.copy()
    for c in COLUMNS:
        if c not in out:
            out[c] = ""
    studies = sorted(out["study"].unique()) if not out.empty else []
    for sid, entry, path in _override_entries(overrides, studies):
        tool, item = entry.get("tool"), str(entry.get("item", ""))
        j = entry.get("judgement")
        j = text_of(j).lower() if not isinstance(j, bool) else ("yes" if j else "no")
        rationale = " ".join(text_of(entry.get("rationale")).split())
        if not rationale:
            raise InputError(f"{path}: {tool} {item}: a reviewer judgement needs a rationale")
        ev = f"{path} ({tool} {item}, reviewer"
        ev += f"; source {entry['source']}" if entry.get("source") else ""
        ev += f': "{entry["quote"]}")' if entry.get("quote") else ")"
        mask = (out["study"] == sid) & (out["tool"] == tool) & (out["item"] == item)
        if item == OVERALL_ITEM:
            if tools is not None:
                allowed = overall_scale(tools, tool)
                if j not in allowed:
                    raise InputError(f"{path}: {tool} overall {j!r} not in {allowed}")
            if not ((out["study"] == sid) & (out["tool"] == tool)).any():
                raise InputError(f"{path}: tool {tool!r} is not applied to {sid}")
            row = {c: "" for c in COLUMNS}
            row.update(study=sid, tool=tool, domain=OVERALL_ITEM, item=OVERALL_ITEM, question=OVERALL_QUESTION,
                       judgement=j, source="reviewer", rule="reviewer", rationale=rationale, evidence=ev)
            out = pd.concat([out[~mask], pd.DataFrame([row], columns=COLUMNS)], ignore_index=True)
            continue
        if not mask.any():
            known = sorted(set(out.loc[out["study"] == sid, "tool"] + " " + out.loc[out["study"] == sid, "item"]))
            raise InputError(f"{path}: no checklist item {tool} {item} for {sid} (items: {', '.join(known)})")
        if tools is not None and j not in tools["tools"][tool]["judgements"]:
            raise InputError(f"{path}: {tool} {item}: {j!r} not in {tools['tools'][tool]['judgements']}")
        idx = out.index[mask][0]
        derived, derived_why, derived_ev = out.at[idx, "judgement"], out.at[idx, "rationale"], out.at[idx, "evidence"]
        if out.at[idx, "source"] == "reviewer":
            raise InputError(f"{path}: two reviewer judgements for {sid} {tool} {item}")
        out.at[idx, "judgement"] = j
        out.at[idx, "source"] = "reviewer"
        out.at[idx, "rule"] = "reviewer"
        out.at[idx, "rationale"] = rationale
        out.at[idx, "evidence"] = ev + (f" | derived from: {derived_ev}" if derived_ev else "")
        out.at[idx, "derived_rationale"] = derived_why
        if j != derived:
            out.at[idx, "derived_judgement"] = derived
            out.at[idx, "reviewer_judgement"] = j
    return out if tools is None else sort_checklist(out, tools)
