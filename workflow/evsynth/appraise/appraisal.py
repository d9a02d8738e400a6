"""Bias checklist per study (issue 7): judgements derived from recorded facts by explicit rules.

Tools by design (the mapping and every item wording live in ``resources/appraisal/tools.yaml``):

* case report  -> Murad et al. 2018 (8 questions) + JBI checklist for case reports (8 items)
* case series  -> Murad et al. 2018 + JBI checklist for case series (10 items)
* single-arm trial -> JBI case-series items + Murad's causality questions (Q4-Q7)
* randomized trial -> RoB 2 (5 domains, plus an overall row)
* non-randomized controlled study -> ROBINS-I (7 domains, plus an overall row)
* systematic review -> a single row, tool ``none``, judgement ``not applicable``

Every judgement carries a ``rationale`` and ``evidence``: the record rows it rests on, written as
``<file>:<line>[,<line>...]`` (a CSV row, header = line 1) or ``<study.yaml>:<line> (appraisal.<key>)``
(a fact). Items no fact can decide (``derivable: false``) come from the reviewer's
``resources/studies/<id>/appraisal.yaml``; without it they get the tool's missing judgement
("unclear" for Murad/JBI, "no information" for RoB 2/ROBINS-I), never a pass.

Derivation rules, one per ``rule`` name in tools.yaml (facts are ``study.yaml`` ``appraisal:`` keys):

murad_selection        selection consecutive|all_eligible -> yes; self_referred|selected -> no; else unclear
exposure_ascertained   appraisal.exposure investigators -> yes, patient_report -> no, unclear -> unclear;
                       otherwise (no fact, or external_records): every MSC administration row has a route
                       (not 'unspecified') and a dose_text -> yes; some lack them -> unclear; none -> unclear
outcome_ascertained    ascertainment validated_instrument_clinician -> yes; patient_report -> no; mixed|unclear
                       -> unclear; no fact: outcome measures all patient-reported (settings) -> no, none
                       patient-reported -> yes, both -> unclear, no outcomes -> unclear
alternative_causes     any co-intervention concurrent|stopped_during|added_after -> no; only stopped_before
                       rows -> yes; no co-intervention rows -> unclear (not reported)
rechallenge            a group with >= 2 MSC courses (a gap > course_gap_days starts a course) and outcomes
                       timed both between the first and second course and after the second -> yes; repeated
                       courses without such outcomes, or counts without timepoints -> unclear; one course -> no
dose_response          one dose level (same dose_text set in every group) -> no; several dose levels ->
                       unclear (whether response rises with dose is a reviewer judgement); no dose -> unclear
followup_long_enough   follow-up (appraisal.followup, else the shortest participants.followup, else the
                       latest outcome timepoint; lower end of a range) >= min_followup_months -> yes; shorter
                       -> no; unknown -> unclear
reporting_complete     demographics, condition, MSC route+dose, cell source, baseline and post-MSC outcomes,
                       adverse events and follow-up all recorded -> yes; any missing -> no (listed)
inclusion_criteria     appraisal.inclusion_criteria reported -> yes; not_reported -> no; else unclear
condition_standard /   appraisal.diagnosis standard_criteria -> yes; non_standard -> no;
condition_valid /      partly_stated|not_stated|missing -> unclear
diagnosis_described
consecutive_inclusion  selection consecutive|all_eligible -> yes; self_referred|selected -> no; else unclear
complete_inclusion     selection all_eligible -> yes; self_referred|selected -> no; else unclear
demographics_reported  age and sex recorded for every participant group -> yes; for some -> unclear; none -> no
clinical_info_reported condition + (disease duration or age at onset) for every group + baseline outcomes -> yes;
                       some of these -> unclear; none -> no
outcomes_reported      any outcome row at a post-MSC timepoint -> yes; else no
setting_reported       appraisal.setting reported -> yes; not_reported -> no; else unclear
statistics_appropriate appraisal.statistics descriptive -> not applicable; inferential|unclear|missing ->
                       unclear (appropriateness is the reviewer's call)
history_timeline       disease history (onset or duration) + prior therapy (stopped_before) + timed MSC
                       administrations: all -> yes; some -> unclear; none -> no
baseline_condition     any outcome row at baseline -> yes; else no
intervention_described MSC rows with route, dose_text and cell source -> yes; some missing -> unclear; none -> no
adverse_events_reported any adverse_events row (a reported absence counts) -> yes; else no
rob2_randomization     randomization central -> low; reported_unclear_method -> some concerns; none -> high;
                       else no information
rob2_deviations        blinding double_blind -> low (some concerns if co-interventions were given during or
                       after MSC); single_blind|open_label -> some concerns; else no information
missing_outcome_data   smallest share of participants with outcome data at the latest timepoint over groups:
                       >= missing_data_low -> low; >= missing_data_concerns -> some concerns/moderate;
                       below -> high/serious; not computable -> no information
rob2_measurement       blinding double_blind -> low; single_blind -> some concerns; open_label (or
                       not_applicable) with patient_report|mixed -> high, otherwise -> some concerns;
                       blinding unclear|missing -> no information
robins_confounding     appraisal.confounding adjusted -> moderate; not_adjusted -> serious; else no information
robins_selection       selection consecutive|all_eligible -> low; selected -> moderate; self_referred ->
                       serious; else no information
robins_classification  every MSC row with route and dose_text -> low; some -> moderate; none -> no information
robins_deviations      co-interventions concurrent|stopped_during|added_after -> serious; only stopped_before
                       -> low; none recorded -> no information
robins_measurement     blinding double_blind|single_blind -> low; open_label (or not_applicable) with
                       validated_instrument_clinician -> moderate, with patient_report|mixed -> serious;
                       else no information
not_appraised          systematic review, or design unspecified: not applicable

Overall judgement per study and tool (``overall_judgements``; a reviewer's ``overall`` wins):

* RoB 2: any domain high -> high; all low -> low; otherwise some concerns (so "no information" is never low).
* ROBINS-I: any critical -> critical; else any serious -> serious; all low -> low; else any no information ->
  no information; else moderate. ``high_risk`` = serious or critical.
* Murad / JBI: share of "yes" among items judged (items "not applicable" left out; "unclear" counts
  against): >= 0.70 -> low; >= 0.50 -> some concerns; below -> high (thresholds in tools.yaml settings;
  our convention, not Murad's or JBI's). ``high_risk`` = high.
* none: not applicable, never high risk.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd
import yaml

from evsynth.common.inputs import InputError

__all__ = [
    "COLUMNS",
    "load_tools",
    "timepoint_months",
    "followup_months",
    "derive_checklist",
    "apply_overrides",
    "build_checklist",
    "overall_judgements",
    "checklist_markdown",
    "write_checklist",
    "main",
]

COLUMNS = [
    "study", "tool", "domain", "item", "question", "judgement", "source", "rationale", "evidence",
    "derived_judgement", "reviewer_judgement", "derived_rationale",
]
OVERALL_ITEM = "overall"
OVERALL_QUESTION = "Overall judgement"
MSC_AGENT = re.compile(r"^msc")
# Relations that put another treatment alongside or after MSC (stopped_after: given during the course,
# stopped later).
INTERVENING = ("concurrent", "stopped_during", "stopped_after", "added_after")

# Days per unit for timepoints (resources/README.md "Timepoints"); a month is 365.25/12 days.
DAYS_PER = {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "year": 365.25}
_TP = re.compile(
    r"^\s*(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?\s*(day|week|month|year)s?\s*$", re.IGNORECASE
)


# --------------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------------

def load_tools(path: str | Path) -> dict:
    """Read tools.yaml and check it is coherent (scales, displays, design mapping, item ids)."""
    tools = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
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
    if problems:
        raise ValueError("tools.yaml: " + "; ".join(problems))
    tools.setdefault("settings", {})
    return tools


def _tool_order(tools: dict) -> dict[str, int]:
    return {name: i for i, name in enumerate(tools["tools"])}


def _item_order(tools: dict, tool: str) -> dict[str, int]:
    order = {it["id"]: i for i, it in enumerate(tools["tools"][tool]["items"])}
    order[OVERALL_ITEM] = len(order)
    return order


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------

def _present(x: Any) -> bool:
    if x is None:
        return False
    if isinstance(x, float) and math.isnan(x):
        return False
    try:
        if pd.isna(x):
            return False
    except (TypeError, ValueError):
        pass
    return str(x).strip() != ""


def _s(x: Any) -> str:
    return str(x).strip() if _present(x) else ""


def timepoint_months(tp: Any, bound: str = "lower") -> float | None:
    """Months after the first MSC administration for a timepoint string.

    ``baseline`` -> 0; ``post`` or anything unparseable -> None; a range ``a-b`` gives its lower end
    (``bound="lower"``, the conservative choice for follow-up) or upper end. Conversion: days / (365.25/12),
    weeks * 7 / (365.25/12) (= 12/52.18 per week), months as is, years * 12.
    """
    if not _present(tp):
        return None
    text = str(tp).strip().lower()
    if text == "baseline":
        return 0.0
    m = _TP.match(text)
    if not m:
        return None
    lo = float(m.group(1))
    hi = float(m.group(2)) if m.group(2) else lo
    value = lo if bound == "lower" else hi
    return value * DAYS_PER[m.group(3)] / DAYS_PER["month"]


def _days(tp: Any, bound: str = "lower") -> float | None:
    months = timepoint_months(tp, bound)
    return None if months is None else months * DAYS_PER["month"]


def _fmt_months(m: float) -> str:
    return f"{m:.1f}".rstrip("0").rstrip(".")


def _rows_evidence(*frames: pd.DataFrame) -> list[str]:
    """``file:line,line`` entries for the given rows, grouped by file, deterministic."""
    out: dict[str, set[int]] = {}
    for df in frames:
        if df is None or df.empty or "file" not in df or "line" not in df:
            continue
        for f, ln in zip(df["file"], df["line"]):
            if _present(f) and _present(ln):
                out.setdefault(str(f), set()).add(int(float(ln)))
    return [f"{f}:{','.join(str(x) for x in sorted(lines))}" for f, lines in sorted(out.items())]


def _merge_evidence(entries: list[str]) -> str:
    """Join evidence entries, merging the line lists of the same CSV file; facts keep their order."""
    csv_lines: dict[str, set[int]] = {}
    other: list[str] = []
    for e in entries:
        m = re.match(r"^(.+\.csv):([\d,]+)$", e)
        if m:
            csv_lines.setdefault(m.group(1), set()).update(int(x) for x in m.group(2).split(","))
        elif e not in other:
            other.append(e)
    merged = [f"{f}:{','.join(str(x) for x in sorted(ls))}" for f, ls in sorted(csv_lines.items())]
    return "; ".join(other + merged)


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if df is None or name not in df:
        return pd.Series([None] * (0 if df is None else len(df)), index=None if df is None else df.index,
                         dtype=object)
    return df[name]


# --------------------------------------------------------------------------------------------------
# Context: one study's facts and tables
# --------------------------------------------------------------------------------------------------

@dataclass
class _Ctx:
    study: dict
    tables: dict[str, pd.DataFrame]
    settings: dict
    min_followup_months: float
    tool: str
    scale: list[str]

    @property
    def sid(self) -> str:
        return str(self.study.get("id"))

    def table(self, name: str) -> pd.DataFrame:
        df = self.tables.get(name)
        if df is None:
            return pd.DataFrame()
        if "study" in df.columns and self.sid:
            df = df[df["study"] == self.sid]
        return df

    # ---- facts -----------------------------------------------------------------------------------
    def study_file(self) -> str:
        for name in ("participants", "interventions", "outcomes", "adverse_events", "cointerventions"):
            df = self.table(name)
            if not df.empty and "file" in df and _present(df["file"].iloc[0]):
                return str(Path(str(df["file"].iloc[0])).parent / "study.yaml")
        return str(self.study.get("_file") or f"resources/studies/{self.sid}/study.yaml")

    def fact(self, key: str) -> tuple[str | None, list[str]]:
        entry = (self.study.get("appraisal") or {}).get(key)
        if entry is None:
            return None, []
        value = entry.get("value") if isinstance(entry, Mapping) else entry
        if not _present(value):
            return None, []
        path = self.study_file()
        line = _yaml_key_line(path, key, self.study.get("_root"))
        where = f"{path}:{line}" if line else path
        src = f", source {entry.get('source')}" if isinstance(entry, Mapping) and entry.get("source") else ""
        return str(value).strip(), [f"{where} (appraisal.{key}{src})"]

    # ---- tables ----------------------------------------------------------------------------------
    def msc_rows(self) -> pd.DataFrame:
        iv = self.table("interventions")
        if iv.empty or "agent" not in iv:
            return iv.iloc[0:0] if not iv.empty else iv
        return iv[iv["agent"].map(lambda a: bool(MSC_AGENT.match(_s(a))))]

    def groups(self) -> list[str]:
        """Participant groups (patients or arms); ``all`` only when no other group is recorded."""
        found: set[str] = set()
        for name in ("participants", "interventions", "outcomes"):
            df = self.table(name)
            if not df.empty and "group" in df:
                found |= {_s(g) for g in df["group"] if _present(g)}
        specific = sorted(g for g in found if g not in ("all", "pooled"))
        return specific or sorted(found)

    def rows_for(self, df: pd.DataFrame, group: str) -> pd.DataFrame:
        if df.empty or "group" not in df:
            return df
        return df[df["group"].map(_s).isin([group, "all"])]


def _yaml_key_line(path: str, key: str, root: Any = None) -> int | None:
    """1-based line of ``key:`` inside the ``appraisal:`` block of a study.yaml, if the file is readable."""
    candidates = [Path(path)]
    if root:
        candidates.insert(0, Path(root) / path)
    for p in candidates:
        if p.is_file():
            inside = False
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
                if re.match(r"^appraisal:\s*$", line):
                    inside = True
                    continue
                if inside and re.match(r"^\S", line):
                    inside = False
                if inside and re.match(rf"^\s+{re.escape(key)}\s*:", line):
                    return i
            return None
    return None


# --------------------------------------------------------------------------------------------------
# Rules. Each returns (judgement, rationale, evidence list). Murad/JBI rules answer yes/no/unclear/
# not applicable; RoB 2 / ROBINS-I rules answer in their own scale.
# --------------------------------------------------------------------------------------------------

Rule = Callable[[_Ctx], tuple[str, str, list[str]]]
RULES: dict[str, Rule] = {}


def _rule(name: str):
    def deco(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn
    return deco


@_rule("murad_selection")
def _murad_selection(ctx: _Ctx):
    v, ev = ctx.fact("selection")
    if v in ("consecutive", "all_eligible"):
        return "yes", f"Patients were included {v.replace('_', ' ')}: the report represents the centre's experience.", ev
    if v == "self_referred":
        return ("no", "Patients came to MSC treatment by their own (family's) decision (self-referred); other patients with a "
                "similar presentation may not have been reported.", ev)
    if v == "selected":
        return "no", "Patients were selected for the report; others with a similar presentation may be missing.", ev
    return "unclear", f"How patients came to be treated and reported is {'unclear' if v else 'not recorded'}.", ev


def _known(x: Any) -> bool:
    return _present(x) and _s(x) != "unspecified"


def _groups_described(ctx: _Ctx, cols: list[str]) -> tuple[list[str], list[str], pd.DataFrame]:
    """Groups with at least one MSC row giving every column in ``cols`` (not 'unspecified'), groups
    without, and the MSC rows. Text and table rows of one group are alternatives, so one full row suffices."""
    msc = ctx.msc_rows()
    ok, lacking = [], []
    groups = sorted({_s(g) for g in _col(msc, "group") if _present(g)}) if not msc.empty else []
    for g in groups:
        r = msc[_col(msc, "group").map(_s) == g]
        full = pd.Series(True, index=r.index)
        for c in cols:
            full &= _col(r, c).map(_known)
        (ok if full.any() else lacking).append(g)
    return ok, lacking, msc


@_rule("exposure_ascertained")
def _exposure(ctx: _Ctx):
    v, ev = ctx.fact("exposure")
    if v == "investigators":
        return "yes", "MSC were given or verified by the investigators (appraisal.exposure).", ev
    if v == "patient_report":
        return "no", "MSC exposure is known only from the patient's or family's report.", ev
    if v == "unclear":
        return "unclear", "How MSC exposure was ascertained is unclear (appraisal.exposure).", ev
    ok, lacking, rows = _groups_described(ctx, ["route", "dose_text"])
    ev = ev + _rows_evidence(rows)
    if rows.empty:
        return "unclear", "No MSC administration is recorded.", ev
    if not lacking:
        return "yes", f"Route and dose of MSC recorded for every treated group ({len(ok)}).", ev
    return ("unclear", f"No MSC row with both route and dose for {', '.join(lacking)}.", ev)


def _patient_reported(ctx: _Ctx) -> set[str]:
    return set(ctx.settings.get("patient_reported_measures") or [])


def _ascertainment(ctx: _Ctx) -> tuple[str | None, str, list[str]]:
    """The ascertainment term: the study.yaml fact, else classified from the outcome measures."""
    v, ev = ctx.fact("ascertainment")
    if v:
        return v, "appraisal.ascertainment", ev
    out = ctx.table("outcomes")
    if out.empty or "measure" not in out:
        return None, "no outcomes recorded", []
    measures = {_s(m) for m in out["measure"] if _present(m)}
    pr = measures & _patient_reported(ctx)
    ev = _rows_evidence(out)
    if pr == measures:
        return "patient_report", f"all outcome measures are patient-reported ({', '.join(sorted(pr))})", ev
    if not pr:
        return "validated_instrument_clinician", "no outcome measure is patient-reported", ev
    return "mixed", f"patient-reported ({', '.join(sorted(pr))}) and other measures", ev


@_rule("outcome_ascertained")
def _outcome_ascertained(ctx: _Ctx):
    v, basis, ev = _ascertainment(ctx)
    if v == "validated_instrument_clinician":
        return "yes", f"Outcomes measured with validated instruments by clinicians ({basis}).", ev
    if v == "patient_report":
        return "no", f"Outcomes rest on patient or parent report only ({basis}).", ev
    if v == "mixed":
        return ("unclear", f"Some outcomes by validated instrument by a clinician, others by patient report "
                f"only ({basis}).", ev)
    return "unclear", f"How outcomes were measured is unclear ({basis}).", ev


def _cointerventions(ctx: _Ctx) -> tuple[pd.DataFrame, pd.DataFrame]:
    co = ctx.table("cointerventions")
    if co.empty or "relation" not in co:
        return co, co
    bad = co["relation"].map(_s).isin(INTERVENING)
    return co[bad], co


def _describe_co(rows: pd.DataFrame) -> str:
    parts = []
    for _, r in rows.iterrows():
        g = _s(r.get("group"))
        parts.append(f"{_s(r.get('therapy'))} {_s(r.get('relation')).replace('_', ' ')}" + (f" ({g})" if g else ""))
    return "; ".join(dict.fromkeys(parts))


@_rule("alternative_causes")
def _alternative_causes(ctx: _Ctx):
    bad, co = _cointerventions(ctx)
    if not bad.empty:
        return ("no", "Other treatment given during or after the MSC course could explain the change: "
                f"{_describe_co(bad)}.", _rows_evidence(bad))
    if not co.empty:
        return ("yes", "Prior therapy was stopped before MSC and no co-intervention during or after the course "
                "is recorded.", _rows_evidence(co))
    return "unclear", "Co-interventions are not reported, so other causes are not ruled out.", []


def _courses(ctx: _Ctx, rows: pd.DataFrame) -> tuple[list[float] | None, pd.DataFrame]:
    """Start day of each MSC course for one group's rows, or None when the timing is not recorded."""
    if rows.empty:
        return [], rows
    seq = _col(rows, "seq").map(_present)
    use = rows[seq] if seq.any() else rows
    timed = _col(use, "timepoint").map(lambda t: _days(t) is not None)
    if seq.any() and timed.any():
        use = use[timed]  # untimed administrations of a timed schedule belong to a course already counted
    days = [_days(t) for t in _col(use, "timepoint")]
    counts = [float(c) if _present(c) else 1.0 for c in _col(use, "count")]
    if any(d is None for d in days):
        if all(c <= 1 for c in counts) and len(use) == 1:
            return [0.0], use
        return None, use
    if any(c > 1 for c in counts) and not seq.any():
        return None, use
    gap = float(ctx.settings.get("course_gap_days", 28))
    starts: list[float] = []
    last = None
    for d in sorted(set(days)):
        if last is None or d - last > gap:
            starts.append(d)
        last = d
    return starts, use


@_rule("rechallenge")
def _rechallenge(ctx: _Ctx):
    msc = ctx.msc_rows()
    if msc.empty:
        return "unclear", "No MSC administration is recorded.", []
    out = ctx.table("outcomes")
    gap = ctx.settings.get("course_gap_days", 28)
    repeated, undetermined, evidence = [], [], []
    for g in ctx.groups():
        starts, used = _courses(ctx, ctx.rows_for(msc, g))
        if starts is None:
            undetermined.append(g)
            evidence += _rows_evidence(used)
            continue
        if len(starts) < 2:
            continue
        evidence += _rows_evidence(used)
        o = ctx.rows_for(out, g) if not out.empty else out
        t = [_days(x) for x in _col(o, "timepoint")]
        between = o[[d is not None and starts[0] < d <= starts[1] for d in t]] if len(o) else o
        after = o[[d is not None and d > starts[1] for d in t]] if len(o) else o
        if not between.empty and not after.empty:
            return ("yes", f"Group {g}: {len(starts)} MSC courses (gap > {gap} days) with outcomes recorded "
                    "after the first and after a repeat course.", _rows_evidence(used, between, after))
        repeated.append(g)
    if repeated:
        return ("unclear", f"Repeated MSC courses ({', '.join(repeated)}) but no outcome timed both between "
                "courses and after the repeat.", sorted(set(evidence)))
    if undetermined:
        return ("unclear", f"Timing of MSC administrations not recorded for {', '.join(undetermined)}.",
                sorted(set(evidence)))
    return ("no", f"A single MSC course in every group (administrations within {gap} days); no rechallenge.",
            _rows_evidence(msc))


@_rule("dose_response")
def _dose_response(ctx: _Ctx):
    msc = ctx.msc_rows()
    with_dose = msc[_col(msc, "dose_text").map(_present)] if not msc.empty else msc
    if with_dose.empty:
        return "unclear", "No MSC dose is recorded.", _rows_evidence(msc)
    levels = {}
    for g in ctx.groups():
        r = ctx.rows_for(with_dose, g)
        if not r.empty:
            levels[g] = tuple(sorted({_s(d) for d in r["dose_text"]}))
    distinct = sorted(set(levels.values()))
    ev = _rows_evidence(with_dose)
    if len(distinct) <= 1:
        dose = "; ".join(distinct[0]) if distinct else ""
        return "no", f"One dose level ({dose}); no dose–response can be observed.", ev
    return ("unclear", f"{len(distinct)} dose levels across {len(levels)} groups; whether the response rises "
            "with dose is a reviewer judgement (resources/studies/<id>/appraisal.yaml).", ev)


def followup_months(study: dict, tables: dict[str, pd.DataFrame]) -> tuple[float | None, str, list[str]]:
    """Follow-up in months with its basis and evidence.

    Order: ``appraisal.followup``; else the shortest ``participants.followup`` over groups; else the
    latest outcome timepoint. Ranges count by their lower end; ``post`` and ``baseline`` are ignored.
    """
    ctx = _Ctx(study, tables, {}, 0.0, "", [])
    v, ev = ctx.fact("followup")
    if v is not None:
        m = timepoint_months(v)
        if m is not None and m > 0:
            return m, f"appraisal.followup '{v}'", ev
    part = ctx.table("participants")
    if not part.empty and "followup" in part:
        rows = part[part["followup"].map(lambda x: (timepoint_months(x) or 0) > 0)]
        if not rows.empty:
            ms = rows["followup"].map(timepoint_months)
            return float(ms.min()), "shortest participants.followup", _rows_evidence(rows[ms == ms.min()])
    out = ctx.table("outcomes")
    if not out.empty and "timepoint" in out:
        ms = out["timepoint"].map(timepoint_months)
        ok = ms.map(lambda x: x is not None and x > 0)
        if ok.any():
            best = max(x for x in ms[ok])
            return best, "latest outcome timepoint", _rows_evidence(out[ok & (ms == best)])
    return None, "not recorded", []


@_rule("followup_long_enough")
def _followup(ctx: _Ctx):
    m, basis, ev = followup_months(ctx.study, ctx.tables)
    need = ctx.min_followup_months
    if m is None:
        return "unclear", f"Follow-up length not recorded (minimum {_fmt_months(need)} months).", ev
    if m >= need:
        return "yes", f"Follow-up {_fmt_months(m)} months ({basis}) >= minimum {_fmt_months(need)} months.", ev
    return "no", f"Follow-up {_fmt_months(m)} months ({basis}) < minimum {_fmt_months(need)} months.", ev


_AGE_COLS = ["age_at_msc_years", "age_mean_years", "age_median_years", "age_min_years", "age_max_years",
             "age_followup_years", "age_onset_years"]


def _group_has(df: pd.DataFrame, group: str, cols: list[str], ctx: _Ctx) -> tuple[bool, pd.DataFrame]:
    rows = ctx.rows_for(df, group)
    if rows.empty:
        return False, rows
    mask = pd.Series(False, index=rows.index)
    for c in cols:
        if c in rows:
            mask |= rows[c].map(_present)
    return bool(mask.any()), rows[mask]


def _demographics(ctx: _Ctx) -> tuple[int, int, list[str]]:
    part = ctx.table("participants")
    groups = [g for g in ctx.groups()]
    if part.empty:
        return 0, len(groups), []
    ok, ev = 0, []
    for g in groups:
        a, ra = _group_has(part, g, _AGE_COLS, ctx)
        s, rs = _group_has(part, g, ["sex", "n_female", "n_male"], ctx)
        if a and s:
            ok += 1
        ev += _rows_evidence(ra, rs)
    return ok, len(groups), sorted(set(ev))


@_rule("demographics_reported")
def _demographics_reported(ctx: _Ctx):
    ok, n, ev = _demographics(ctx)
    if n and ok == n:
        return "yes", f"Age and sex recorded for every participant group ({n}).", ev
    if ok:
        return "unclear", f"Age and sex recorded for {ok} of {n} participant groups.", ev
    return "no", "Age and sex are not both recorded for any participant group.", ev


def _outcome_split(ctx: _Ctx) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = ctx.table("outcomes")
    if out.empty or "timepoint" not in out:
        return out, out
    tp = out["timepoint"].map(_s).str.lower()
    return out[tp == "baseline"], out[(tp != "baseline") & (tp != "")]


@_rule("clinical_info_reported")
def _clinical_info(ctx: _Ctx):
    part = ctx.table("participants")
    groups = ctx.groups()
    base, _ = _outcome_split(ctx)
    cond_ok = hist_ok = 0
    ev = []
    for g in groups:
        c, rc = _group_has(part, g, ["condition"], ctx) if not part.empty else (False, part)
        h, rh = _group_has(part, g, ["disease_duration_years", "age_onset_years"], ctx) if not part.empty else (False, part)
        cond_ok += c or bool(ctx.study.get("conditions"))
        hist_ok += h
        ev += _rows_evidence(rc, rh)
    n = len(groups)
    has = {"condition": n and cond_ok == n, "history (disease duration or age at onset)": n and hist_ok == n,
           "baseline outcomes": not base.empty}
    ev = sorted(set(ev + _rows_evidence(base)))
    missing = [k for k, v in has.items() if not v]
    if not missing:
        return "yes", "Condition, disease history and baseline status recorded for every participant group.", ev
    if len(missing) < len(has):
        return "unclear", f"Clinical information incomplete: {', '.join(missing)} not recorded for every group.", ev
    return "no", "No condition, disease history or baseline status recorded.", ev


@_rule("outcomes_reported")
def _outcomes_reported(ctx: _Ctx):
    _, post = _outcome_split(ctx)
    if not post.empty:
        return "yes", f"{len(post)} outcome rows after MSC are recorded.", _rows_evidence(post)
    return "no", "No outcome after MSC is recorded.", []


@_rule("baseline_condition")
def _baseline_condition(ctx: _Ctx):
    base, _ = _outcome_split(ctx)
    if not base.empty:
        return "yes", f"{len(base)} baseline outcome rows describe the condition before MSC.", _rows_evidence(base)
    return "no", "No baseline status is recorded.", []


def _fact_map(ctx: _Ctx, key: str, mapping: dict[str, tuple[str, str]], default: str):
    v, ev = ctx.fact(key)
    if v in mapping:
        j, why = mapping[v]
        return j, why, ev
    return "unclear", default if v is None else f"appraisal.{key} is '{v}': {default}", ev


@_rule("inclusion_criteria")
def _inclusion(ctx: _Ctx):
    return _fact_map(ctx, "inclusion_criteria", {
        "reported": ("yes", "Inclusion criteria are stated."),
        "not_reported": ("no", "No inclusion criteria are stated."),
    }, "Whether inclusion criteria are stated is not recorded (appraisal.inclusion_criteria).")


_DIAGNOSIS = {
    "standard_criteria": ("yes", "The condition was diagnosed by named classification criteria for all participants."),
    "non_standard": ("no", "The condition was identified by non-standard methods."),
}


@_rule("condition_standard")
def _condition_standard(ctx: _Ctx):
    return _fact_map(ctx, "diagnosis", _DIAGNOSIS,
                     "How the condition was diagnosed is not stated for all participants (appraisal.diagnosis).")


@_rule("condition_valid")
def _condition_valid(ctx: _Ctx):
    return _condition_standard(ctx)


@_rule("diagnosis_described")
def _diagnosis_described(ctx: _Ctx):
    return _condition_standard(ctx)


@_rule("consecutive_inclusion")
def _consecutive(ctx: _Ctx):
    return _fact_map(ctx, "selection", {
        "consecutive": ("yes", "Participants were included consecutively."),
        "all_eligible": ("yes", "All eligible participants were included."),
        "self_referred": ("no", "Participants came by their own decision (self-referred), not consecutively."),
        "selected": ("no", "Participants were selected, not included consecutively."),
    }, "How participants were included is unclear.")


@_rule("complete_inclusion")
def _complete(ctx: _Ctx):
    return _fact_map(ctx, "selection", {
        "all_eligible": ("yes", "All eligible participants were included."),
        "self_referred": ("no", "Participants came by their own decision (self-referred); completeness not shown."),
        "selected": ("no", "Participants were selected; inclusion was not complete."),
    }, "Whether all eligible participants were included is not stated.")


@_rule("setting_reported")
def _setting(ctx: _Ctx):
    return _fact_map(ctx, "setting", {
        "reported": ("yes", "The presenting site/clinic is described."),
        "not_reported": ("no", "The presenting site/clinic is not described."),
    }, "Whether the setting is described is not recorded (appraisal.setting).")


@_rule("statistics_appropriate")
def _statistics(ctx: _Ctx):
    v, ev = ctx.fact("statistics")
    if v == "descriptive":
        return "not applicable", "Descriptive report without statistical analysis.", ev
    if v == "inferential":
        return ("unclear", "Statistical tests are reported; their appropriateness is a reviewer judgement "
                "(appraisal.yaml).", ev)
    return "unclear", "The statistical analysis is not characterised (appraisal.statistics).", ev


@_rule("history_timeline")
def _history(ctx: _Ctx):
    part = ctx.table("participants")
    hist = part[part[[c for c in ("age_onset_years", "disease_duration_years") if c in part]].apply(
        lambda r: any(_present(x) for x in r), axis=1)] if not part.empty and any(
        c in part for c in ("age_onset_years", "disease_duration_years")) else part.iloc[0:0]
    co = ctx.table("cointerventions")
    prior = co[co["relation"].map(_s) == "stopped_before"] if not co.empty and "relation" in co else co
    msc = ctx.msc_rows()
    timed = msc[_col(msc, "timepoint").map(lambda t: _days(t) is not None)] if not msc.empty else msc
    has = {"disease history": not hist.empty, "prior therapy": not prior.empty,
           "timed MSC administrations": not timed.empty}
    ev = _rows_evidence(hist, prior, timed)
    missing = [k for k, v in has.items() if not v]
    if not missing:
        return "yes", "Disease history, prior therapy and timed MSC administrations are recorded.", ev
    if len(missing) < len(has):
        return "unclear", f"Timeline incomplete: {', '.join(missing)} not recorded.", ev
    return "no", "No disease history, prior therapy or timing recorded.", ev


@_rule("intervention_described")
def _intervention(ctx: _Ctx):
    ok, lacking, msc = _groups_described(ctx, ["route", "dose_text", "cell_source"])
    if msc.empty:
        return "no", "No MSC administration is recorded.", []
    if not lacking:
        return "yes", "Route, dose and cell source of MSC are recorded for every treated group.", _rows_evidence(msc)
    return "unclear", f"Route, dose or cell source not recorded for {', '.join(lacking)}.", _rows_evidence(msc)


@_rule("adverse_events_reported")
def _adverse(ctx: _Ctx):
    ae = ctx.table("adverse_events")
    if not ae.empty:
        return "yes", f"{len(ae)} adverse-event rows (a reported absence counts as reported).", _rows_evidence(ae)
    return "no", "No adverse-event reporting is recorded.", []


@_rule("reporting_complete")
def _reporting(ctx: _Ctx):
    ok_demo, n, ev_demo = _demographics(ctx)
    _, lack_dose, msc = _groups_described(ctx, ["route", "dose_text"])
    _, lack_src, _ = _groups_described(ctx, ["cell_source"])
    base, post = _outcome_split(ctx)
    fu, _, ev_fu = followup_months(ctx.study, ctx.tables)
    part = ctx.table("participants")
    has = {
        "demographics": n > 0 and ok_demo == n,
        "condition": bool(ctx.study.get("conditions")) or (not part.empty and _col(part, "condition").map(_present).any()),
        "MSC route and dose": not msc.empty and not lack_dose,
        "cell source": not msc.empty and not lack_src,
        "baseline outcomes": not base.empty,
        "post-MSC outcomes": not post.empty,
        "adverse events": not ctx.table("adverse_events").empty,
        "follow-up length": fu is not None,
    }
    ev = sorted(set(ev_demo + _rows_evidence(msc) + ev_fu))
    missing = [k for k, v in has.items() if not v]
    if not missing:
        return "yes", "Demographics, condition, MSC route/dose/source, outcomes before and after, adverse events and follow-up are recorded.", ev
    return "no", f"Not recorded: {', '.join(missing)}.", ev


# ---- RoB 2 / ROBINS-I -----------------------------------------------------------------------------

@_rule("rob2_randomization")
def _rob2_rand(ctx: _Ctx):
    v, ev = ctx.fact("randomization")
    m = {"central": ("low", "Central randomization reported."),
         "reported_unclear_method": ("some concerns", "Randomized, but the method (sequence, concealment) is not described."),
         "none": ("high", "Allocation was not randomized.")}
    if v in m:
        return (*m[v], ev)
    return "no information", "Randomization is not characterised (appraisal.randomization).", ev


@_rule("rob2_deviations")
def _rob2_dev(ctx: _Ctx):
    v, ev = ctx.fact("blinding")
    bad, _ = _cointerventions(ctx)
    if v == "double_blind":
        if bad.empty:
            return "low", "Double-blind; no co-intervention during or after MSC recorded.", ev
        return ("some concerns", f"Double-blind, but co-interventions were given: {_describe_co(bad)}.",
                ev + _rows_evidence(bad))
    if v in ("single_blind", "open_label"):
        extra = f" Co-interventions: {_describe_co(bad)}." if not bad.empty else ""
        return ("some concerns", f"{v.replace('_', '-')} design: participants or carers aware of assignment.{extra}",
                ev + _rows_evidence(bad))
    return "no information", "Blinding is not characterised (appraisal.blinding).", ev


def _missing_share(ctx: _Ctx) -> tuple[float | None, str, list[str]]:
    """Smallest share of participants with outcome data at the latest timepoint, over groups."""
    part, out = ctx.table("participants"), ctx.table("outcomes")
    if part.empty or out.empty:
        return None, "participants or outcomes not recorded", []
    if ctx.study.get("level") == "individual":
        pats = sorted({_s(g) for g in _col(part, "group") if _present(g) and _s(g) not in ("all", "pooled")})
        if not pats:
            return None, "no patient rows", []
        _, post = _outcome_split(ctx)
        have = {_s(g) for g in _col(post, "group")}
        share = sum(p in have for p in pats) / len(pats)
        return share, f"{sum(p in have for p in pats)} of {len(pats)} patients have a post-MSC outcome", _rows_evidence(post)
    shares, ev, why = [], [], []
    ns = out[_col(out, "stat").map(_s) == "n"]
    for g in sorted({_s(x) for x in _col(part, "group") if _present(x)} - {"all", "pooled"}):
        p = part[_col(part, "group").map(_s) == g]
        n_rand = pd.to_numeric(_col(p, "n"), errors="coerce").max()
        o = ns[_col(ns, "group").map(_s) == g]
        if not _present(n_rand) or o.empty:
            continue
        months = o["timepoint"].map(lambda t: timepoint_months(t) if timepoint_months(t) is not None else -1)
        latest = o[months == months.max()]
        n_out = pd.to_numeric(latest["value"], errors="coerce").min()
        if not _present(n_out) or n_rand <= 0:
            continue
        shares.append(n_out / n_rand)
        why.append(f"{g} {int(n_out)}/{int(n_rand)}")
        ev += _rows_evidence(p, latest)
    if not shares:
        return None, "no analysed n per arm recorded", []
    return min(shares), "analysed/enrolled at the latest timepoint: " + ", ".join(why), sorted(set(ev))


@_rule("missing_outcome_data")
def _missing(ctx: _Ctx):
    share, why, ev = _missing_share(ctx)
    rob2 = ctx.tool == "rob2"
    if share is None:
        return "no information", f"Completeness of outcome data not computable ({why}).", ev
    lo = float(ctx.settings.get("missing_data_low", 0.95))
    mid = float(ctx.settings.get("missing_data_concerns", 0.80))
    pct = f"{100 * share:.0f}%"
    if share >= lo:
        return "low", f"Outcome data for {pct} ({why}).", ev
    if share >= mid:
        return ("some concerns" if rob2 else "moderate"), f"Outcome data for {pct} ({why}); below {lo:.0%}.", ev
    return ("high" if rob2 else "serious"), f"Outcome data for {pct} ({why}); below {mid:.0%}.", ev


@_rule("rob2_measurement")
def _rob2_meas(ctx: _Ctx):
    b, evb = ctx.fact("blinding")
    a, basis, eva = _ascertainment(ctx)
    if b == "double_blind":
        return "low", "Double-blind: outcome assessors unaware of assignment.", evb
    if b == "single_blind":
        return "some concerns", "Single-blind: whether outcome assessors were blinded is not recorded.", evb
    if b in ("open_label", "not_applicable"):
        if a in ("patient_report", "mixed"):
            return "high", f"Open-label with patient-reported outcomes ({basis}).", evb + eva
        return "some concerns", f"Open-label; outcome ascertainment: {a or 'not recorded'} ({basis}).", evb + eva
    return "no information", "Blinding is not characterised (appraisal.blinding).", evb


@_rule("robins_confounding")
def _robins_conf(ctx: _Ctx):
    v, ev = ctx.fact("confounding")
    if v == "adjusted":
        return "moderate", "Confounders adjusted for (appraisal.confounding).", ev
    if v == "not_adjusted":
        return "serious", "No adjustment for confounding.", ev
    return "no information", "Control of confounding is not characterised (appraisal.confounding).", ev


@_rule("robins_selection")
def _robins_sel(ctx: _Ctx):
    v, ev = ctx.fact("selection")
    m = {"consecutive": ("low", "Consecutive inclusion."), "all_eligible": ("low", "All eligible participants included."),
         "selected": ("moderate", "Participants selected."),
         "self_referred": ("serious", "Participants self-referred to treatment.")}
    if v in m:
        return (*m[v], ev)
    return "no information", "Selection of participants not characterised (appraisal.selection).", ev


@_rule("robins_classification")
def _robins_class(ctx: _Ctx):
    ok, lacking, rows = _groups_described(ctx, ["agent", "route", "dose_text"])
    if rows.empty:
        return "no information", "No MSC administration recorded.", []
    if not lacking:
        return "low", "Agent, route and dose recorded for every MSC arm.", _rows_evidence(rows)
    if ok:
        return "moderate", f"No MSC row with route and dose for {', '.join(lacking)}.", _rows_evidence(rows)
    return "no information", "No MSC arm has route and dose recorded.", _rows_evidence(rows)


@_rule("robins_deviations")
def _robins_dev(ctx: _Ctx):
    bad, co = _cointerventions(ctx)
    if not bad.empty:
        return "serious", f"Co-interventions during or after MSC: {_describe_co(bad)}.", _rows_evidence(bad)
    if not co.empty:
        return "low", "Only therapies stopped before MSC are recorded.", _rows_evidence(co)
    return "no information", "Co-interventions are not reported.", []


@_rule("robins_measurement")
def _robins_meas(ctx: _Ctx):
    b, evb = ctx.fact("blinding")
    a, basis, eva = _ascertainment(ctx)
    if b in ("double_blind", "single_blind"):
        return "low", f"{b.replace('_', '-')} outcome assessment.", evb
    if b in ("open_label", "not_applicable"):
        if a == "validated_instrument_clinician":
            return "moderate", f"Open assessment with validated clinician instruments ({basis}).", evb + eva
        if a in ("patient_report", "mixed"):
            return "serious", f"Open assessment with patient-reported outcomes ({basis}).", evb + eva
    return "no information", "Outcome measurement not characterised (appraisal.blinding/ascertainment).", evb


@_rule("not_appraised")
def _not_appraised(ctx: _Ctx):
    if ctx.study.get("design") != "systematic_review":
        return ("not applicable", f"Design '{ctx.study.get('design')}': the sources read do not report the design, "
                "so no risk-of-bias tool can be chosen; the study is not appraised.", [])
    inc = ctx.study.get("includes") or []
    extra = f" Its included studies held here ({', '.join(inc)}) are appraised on their own." if inc else ""
    return ("not applicable", "Systematic review: study-level risk-of-bias tools do not apply; results are "
            f"recorded as published.{extra}", [])


# --------------------------------------------------------------------------------------------------
# Checklist
# --------------------------------------------------------------------------------------------------

def derive_checklist(
    study: dict,
    tables: dict[str, pd.DataFrame],
    tools: dict,
    min_followup_months: float = 6.0,
) -> pd.DataFrame:
    """The derived checklist of one study (no reviewer overrides, no overall rows)."""
    sid = str(study.get("id"))
    design = study.get("design")
    uses = tools["designs"].get(design)
    if uses is None:
        raise ValueError(f"{sid}: design {design!r} has no tools in tools.yaml (designs: {sorted(tools['designs'])})")
    settings = tools.get("settings", {})
    rows = []
    for use in uses:
        name = use["tool"]
        tool = tools["tools"][name]
        ctx = _Ctx(study, tables, settings, float(min_followup_months), name, tool["judgements"])
        for it in tool["items"]:
            if use.get("domains") and it["domain"] not in use["domains"]:
                continue
            if it.get("derivable", True) and it.get("rule"):
                j, why, ev = RULES[it["rule"]](ctx)
            else:
                j, why, ev = tool["missing"], ("Not derivable from the records; no reviewer judgement in "
                                               "resources/studies/" + sid + "/appraisal.yaml."), []
            if j not in tool["judgements"]:
                raise ValueError(f"rule {it['rule']} gave {j!r}, not in the {name} scale {tool['judgements']}")
            rows.append({
                "study": sid, "tool": name, "domain": it["domain"], "item": it["id"],
                "question": " ".join(str(it["question"]).split()), "judgement": j, "source": "derived",
                "rationale": why, "evidence": _merge_evidence(ev),
                "derived_judgement": "", "reviewer_judgement": "", "derived_rationale": "",
            })
    return _sort(pd.DataFrame(rows, columns=COLUMNS), tools)


def _sort(df: pd.DataFrame, tools: dict) -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    tord = _tool_order(tools)
    key = df.apply(lambda r: (r["study"], tord.get(r["tool"], 99), _item_order(tools, r["tool"]).get(r["item"], 99)),
                   axis=1)
    return df.assign(_k=key).sort_values("_k", kind="stable").drop(columns="_k").reset_index(drop=True)


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
        j = _s(j).lower() if not isinstance(j, bool) else ("yes" if j else "no")
        rationale = " ".join(_s(entry.get("rationale")).split())
        if not rationale:
            raise InputError(f"{path}: {tool} {item}: a reviewer judgement needs a rationale")
        ev = f"{path} ({tool} {item}, reviewer"
        ev += f"; source {entry['source']}" if entry.get("source") else ""
        ev += f': "{entry["quote"]}")' if entry.get("quote") else ")"
        mask = (out["study"] == sid) & (out["tool"] == tool) & (out["item"] == item)
        if item == OVERALL_ITEM:
            if tools is not None:
                allowed = _overall_scale(tools, tool)
                if j not in allowed:
                    raise InputError(f"{path}: {tool} overall {j!r} not in {allowed}")
            if not ((out["study"] == sid) & (out["tool"] == tool)).any():
                raise InputError(f"{path}: tool {tool!r} is not applied to {sid}")
            row = {c: "" for c in COLUMNS}
            row.update(study=sid, tool=tool, domain=OVERALL_ITEM, item=OVERALL_ITEM, question=OVERALL_QUESTION,
                       judgement=j, source="reviewer", rationale=rationale, evidence=ev)
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
        out.at[idx, "rationale"] = rationale
        out.at[idx, "evidence"] = ev + (f" | derived from: {derived_ev}" if derived_ev else "")
        out.at[idx, "derived_rationale"] = derived_why
        if j != derived:
            out.at[idx, "derived_judgement"] = derived
            out.at[idx, "reviewer_judgement"] = j
    return out if tools is None else _sort(out, tools)


def _overall_scale(tools: dict, tool: str) -> list[str]:
    if tool in ("murad", "jbi_case_series", "jbi_case_report") or tools["tools"][tool]["judgements"][0] == "yes":
        return ["low", "some concerns", "high"]
    if tool == "none":
        return ["not applicable"]
    return list(tools["tools"][tool]["judgements"])


def _overall_rule(tool: str, judgements: list[str], settings: dict) -> tuple[str, str]:
    js = list(judgements)
    if tool == "none":
        return "not applicable", "Not appraised (systematic review)."
    if tool == "rob2":
        if "high" in js:
            return "high", "At least one domain at high risk."
        if js and all(j == "low" for j in js):
            return "low", "All domains at low risk."
        return "some concerns", "No domain high, not all low (some concerns or no information)."
    if tool == "robins_i":
        for level in ("critical", "serious"):
            if level in js:
                return level, f"At least one domain at {level} risk."
        if js and all(j == "low" for j in js):
            return "low", "All domains at low risk."
        if "no information" in js:
            return "no information", "No domain serious or critical; information lacking in at least one."
        return "moderate", "Low or moderate in all domains."
    judged = [j for j in js if j != "not applicable"]
    if not judged:
        return "some concerns", "No item could be judged."
    share = sum(j == "yes" for j in judged) / len(judged)
    lo = float(settings.get("overall_yes_share_low", 0.70))
    mid = float(settings.get("overall_yes_share_concerns", 0.50))
    n_yes = sum(j == "yes" for j in judged)
    why = f"{n_yes} of {len(judged)} items judged yes ({share:.0%});"
    if share >= lo:
        return "low", f"{why} >= {lo:.0%}."
    if share >= mid:
        return "some concerns", f"{why} >= {mid:.0%} and < {lo:.0%}."
    return "high", f"{why} < {mid:.0%}."


def overall_judgements(checklist: pd.DataFrame, settings: Mapping | None = None) -> pd.DataFrame:
    """Overall judgement per study and tool: DataFrame(study, tool, overall, high_risk, source, rationale).

    A reviewer's ``overall`` row wins; otherwise the rule per tool in the module docstring. ``high_risk``
    is True for RoB 2 high, ROBINS-I serious or critical, Murad/JBI high.
    """
    settings = dict(settings or {})
    rows = []
    if checklist.empty:
        return pd.DataFrame(columns=["study", "tool", "overall", "high_risk", "source", "rationale"])
    for (sid, tool), g in checklist.groupby(["study", "tool"], sort=True):
        ov = g[g["item"] == OVERALL_ITEM]
        items = g[g["item"] != OVERALL_ITEM]
        if not ov.empty and (ov["source"] == "reviewer").any():
            r = ov[ov["source"] == "reviewer"].iloc[0]
            overall, source, why = r["judgement"], "reviewer", r["rationale"]
        else:
            overall, why = _overall_rule(tool, items["judgement"].tolist(), settings)
            source = "derived"
        high = overall in ("high", "serious", "critical")
        rows.append({"study": sid, "tool": tool, "overall": overall, "high_risk": bool(high),
                     "source": source, "rationale": why})
    return pd.DataFrame(rows, columns=["study", "tool", "overall", "high_risk", "source", "rationale"])


def build_checklist(
    studies: Mapping[str, dict],
    tables: Mapping[str, pd.DataFrame],
    tools: dict,
    overrides: Mapping[str, dict] | None = None,
    min_followup_months: float = 6.0,
) -> pd.DataFrame:
    """Checklist for the corpus: derived items, reviewer overrides, then one overall row per study and tool.

    Derived overall rows are computed by :func:`overall_judgements`; a reviewer's overall row is kept and,
    where it differs from the derived one, both are listed.
    """
    overrides = overrides or {}
    parts = []
    for sid in sorted(studies):
        study = dict(studies[sid])
        study.setdefault("id", sid)
        cl = derive_checklist(study, dict(tables), tools, min_followup_months)
        if overrides.get(sid):
            cl = apply_overrides(cl, {sid: overrides[sid]}, tools)
        parts.append(cl)
    cl = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    settings = tools.get("settings", {})
    derived = overall_judgements(cl[cl["item"] != OVERALL_ITEM], settings)
    add = []
    for _, r in derived.iterrows():
        mask = (cl["study"] == r["study"]) & (cl["tool"] == r["tool"]) & (cl["item"] == OVERALL_ITEM)
        if mask.any():
            idx = cl.index[mask][0]
            cl.at[idx, "derived_rationale"] = r["rationale"]
            if cl.at[idx, "judgement"] != r["overall"]:
                cl.at[idx, "derived_judgement"] = r["overall"]
                cl.at[idx, "reviewer_judgement"] = cl.at[idx, "judgement"]
            continue
        add.append({"study": r["study"], "tool": r["tool"], "domain": OVERALL_ITEM, "item": OVERALL_ITEM,
                    "question": OVERALL_QUESTION, "judgement": r["overall"], "source": "derived",
                    "rationale": r["rationale"], "evidence": "", "derived_judgement": "",
                    "reviewer_judgement": "", "derived_rationale": ""})
    if add:
        cl = pd.concat([cl, pd.DataFrame(add, columns=COLUMNS)], ignore_index=True)
    return _sort(cl[COLUMNS].fillna(""), tools)


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------

def _md_cell(x: Any) -> str:
    return _s(x).replace("|", "\\|").replace("\n", " ")


def checklist_markdown(checklist: pd.DataFrame, tools: dict | None = None) -> str:
    """The checklist as Markdown: one section per tool, one table row per study and item."""
    lines = ["# Risk-of-bias checklist", "",
             "Judgements derived from the study records by the rules in `workflow/evsynth/appraisal.py` "
             "(see `resources/appraisal/README.md`); `source = reviewer` rows come from "
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
            if _s(r.get("derived_judgement")):
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
    from evsynth.common.io import write_csv

    write_csv(checklist[COLUMNS], csv_path)
    if md_path:
        Path(md_path).parent.mkdir(parents=True, exist_ok=True)
        Path(md_path).write_text(checklist_markdown(checklist, tools), encoding="utf-8")


def load_overrides(studies_dir: str | Path, root: str | Path | None = None) -> dict[str, dict]:
    """study id -> parsed ``appraisal.yaml`` for every study folder that has one."""
    out = {}
    for p in sorted(Path(studies_dir).glob("*/appraisal.yaml")):
        doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        rel = p
        if root is not None:
            try:
                rel = p.resolve().relative_to(Path(root).resolve())
            except ValueError:
                pass
        doc["_file"] = str(rel)
        out[p.parent.name] = doc
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m evsynth.appraise.appraisal --studies resources/studies --tools resources/appraisal/tools.yaml
    --csv results/tables/bias_checklist.csv --md results/tables/bias_checklist.md [--plots DIR]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m evsynth.appraise.appraisal", description=__doc__.splitlines()[0])
    ap.add_argument("--studies", default="resources/studies")
    ap.add_argument("--tools", default="resources/appraisal/tools.yaml")
    ap.add_argument("--csv", default="results/tables/bias_checklist.csv")
    ap.add_argument("--md", default="results/tables/bias_checklist.md")
    ap.add_argument("--overall", default=None, help="optional CSV of overall judgements")
    ap.add_argument("--plots", default=None, help="folder for traffic-light and summary plots")
    ap.add_argument("--min-followup-months", type=float, default=6.0)
    ap.add_argument("--colourblind", action="store_true")
    a = ap.parse_args(argv)
    from evsynth.ingest.records import load_records

    rec = load_records(a.studies, root=Path.cwd())
    tools = load_tools(a.tools)
    cl = build_checklist(rec.studies, rec.tables, tools, load_overrides(a.studies, Path.cwd()),
                         a.min_followup_months)
    write_checklist(cl, a.csv, a.md, tools)
    if a.overall:
        overall_judgements(cl, tools.get("settings")).to_csv(a.overall, index=False, lineterminator="\n")
    if a.plots:
        from evsynth.appraise.plots import summary_bars, traffic_light

        for tool in sorted(set(cl["tool"]) - {"none"}):
            traffic_light(cl, tool, Path(a.plots) / f"bias_traffic_light_{tool}", a.colourblind)
            summary_bars(cl, tool, Path(a.plots) / f"bias_summary_{tool}", a.colourblind)
    print(f"{len(cl)} checklist rows for {cl['study'].nunique()} studies -> {a.csv}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
