"""The summary of findings: one row per outcome that matters and population, with GRADE certainty.

For each outcome in config ``summary_of_findings.outcomes`` (an analysis from ``analyses``) and each
population (the target population first, then those shown beside it), the row takes the analysis' pooled
fit for that population from ``pooled.csv``: the ``population=<p>`` subgroup row where the analysis has
one, the main row when every study in it is of that population, otherwise no pooled estimate (the row
says why). Beside it: the controlled contrast (MSC vs comparator) where randomized evidence exists, from
the analyses named in ``controlled`` and from any comparative row (MD, OR, RR, RD) of the same analysis
in ``pooled.csv``, with the comparator arm's own change or event rate read from the harmonized outcomes.
Certainty comes from :func:`evsynth.answer.grade.grade_table`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from evsynth.answer.grade import COMPARATIVE, DOMAINS, grade_table
from evsynth.common.measures import codes, measure

__all__ = ["SOF_COLUMNS", "SHOWN_COLUMNS", "summary_of_findings", "evidence_rows", "worst_judgement"]

#: Columns of ``summary_of_findings.csv``, in order, each described in the data dictionary.
SOF_COLUMNS = [
    "outcome", "population", "role", "analysis", "kind", "k", "studies", "patients", "events", "designs",
    "effect", "scale", "estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "i2", "effect_text",
    "controlled_contrast", "comparator_change", "start", *DOMAINS, "downgrades", "certainty", "statement",
    "overrides", "notes",
]
#: The columns the Markdown table and the evidence page show.
SHOWN_COLUMNS = ["outcome", "population", "k", "patients", "designs", "effect_text", "controlled_contrast",
                 "comparator_change", "certainty", "statement"]

STUDY_ROW_COLUMNS = ["analysis", "study", "group", "measure", "population", "design", "yi", "n", "events1",
                     "weight", "n1", "n2", "events2"]
_FILTERED = r"(conditions|design|population|systematic review|cell_source|route|donor|no usable)\b"
#: Effects shown as percentages (proportions and the risk difference), as ratios, and binary effects (registry).
PROPORTIONS = codes(binary=True, ratio=False)
RATIOS = codes(ratio=True)
BINARY = codes(binary=True)
_RANK = {"low": 0, "some concerns": 1, "moderate": 1, "no information": 1, "unclear": 1, "high": 2,
         "serious": 2, "critical": 3}
POPULATION_WORDS = {"pediatric": "children", "adult": "adults", "mixed": "mixed populations"}


def _num(x: float, proportion: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if proportion:
        return f"{100 * x:.1f}%"
    return f"{x:.3g}" if abs(x) >= 0.001 or x == 0 else f"{x:.2e}"


def _counts(effect: str, events: float, patients: float) -> str:
    """'0/3 patients; ' for a single-arm proportion (the raw count before any model), else ''."""
    if effect in PROPORTIONS and effect != "RD" and not math.isnan(events) and patients:
        return f"{events:.0f}/{patients:.0f} patients; "
    return ""


def effect_text(effect: str, est: float, lb: float, ub: float, pi_lb: float = np.nan, pi_ub: float = np.nan,
                unit: str | None = None, level: float = 95) -> str:
    """'12.3% (95% CI 4.7% to 28.5%); PI 3.5% to 34.8%' on the natural scale; '' when not estimated."""
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return ""
    prop = effect in PROPORTIONS
    name = {"OR": "OR ", "RR": "RR ", "MD": "MD ", "RD": "RD "}.get(effect, "")
    unit_text = f" {unit}" if unit and not prop else ""
    text = f"{name}{_num(est, prop)}{unit_text} ({level:g}% CI {_num(lb, prop)} to {_num(ub, prop)})"
    if not (isinstance(pi_lb, float) and math.isnan(pi_lb)) and (pi_lb != lb or pi_ub != ub):
        text += f"; PI {_num(pi_lb, prop)} to {_num(pi_ub, prop)}"
    return text


def worst_judgement(bias_overall: pd.DataFrame) -> pd.Series:
    """Per study, the worst overall judgement across the tools applied to it (index: study)."""
    applied = bias_overall.loc[~bias_overall["overall"].isin(["not applicable"])]
    rank = applied["overall"].map(lambda x: _RANK.get(str(x), 1))
    worst = applied.assign(_r=rank).sort_values(["study", "_r", "tool"]).groupby("study").tail(1)
    return worst.set_index("study")["overall"]


def _placebo_arms(interventions: pd.DataFrame) -> set[tuple[str, str]]:
    agents = interventions["agent"].astype(str)
    return set(zip(interventions.loc[agents.eq("placebo"), "study"], interventions.loc[agents.eq("placebo"), "group"]))


def comparator_change(rows: pd.DataFrame, effect: str, outcomes: pd.DataFrame, placebo: set,
                      participants: pd.DataFrame) -> str:
    """The comparator (placebo) arm's own change, or event rate, for the randomized studies in ``rows``
    (same measure and time as the MSC arm); '' when none."""
    texts = []
    for r in rows.loc[rows["design"].eq("rct")].to_dict("records"):
        arms = sorted(g for s, g in placebo if s == r["study"])
        for arm in arms:
            o = outcomes.loc[(outcomes["study"] == r["study"]) & (outcomes["group"] == arm)
                             & (outcomes["measure"] == r["measure"])]
            if effect in BINARY:
                ev = o.loc[o["stat"].eq("events")]
                if ev.empty:
                    continue
                t = ev.iloc[0]
                n = o.loc[o["stat"].eq("n"), "value_h"]
                n = float(n.iloc[0]) if len(n) else float(participants.loc[(participants["study"] == r["study"]) &
                                                                           (participants["group"] == arm), "n"].max())
                texts.append(f"{r['study']} {arm}: {t['value_h']:.0f}/{n:.0f} {r['measure']} at {t['timepoint']}")
            else:
                ch = o.loc[o["metric"].eq("change")]
                mean, sd = ch.loc[ch["stat"].eq("mean")], ch.loc[ch["stat"].eq("sd")]
                if mean.empty:
                    continue
                n = participants.loc[(participants["study"] == r["study"]) & (participants["group"] == arm), "n"].max()
                sd_text = f" (SD {sd['value_h'].iloc[0]:.3g})" if len(sd) else ""
                texts.append(f"{r['study']} {arm}: change {mean['value_h'].iloc[0]:.3g}{sd_text}, n = {n:.0f}, "
                             f"{r['measure']} at {mean['timepoint'].iloc[0]}")
    return "; ".join(dict.fromkeys(texts))


def _contrast(rows: pd.DataFrame, comparative: bool = False) -> pd.Series:
    """Rows comparing MSC with a comparator arm inside an analysis: ``role`` 'controlled contrast' in
    ``analysis_studies.csv``; every row of a comparative analysis (MD, OR, ...) counts as one too. Without a
    ``role`` column, a row whose comparator n is given."""
    if comparative:
        return pd.Series(True, index=rows.index)
    if "role" in rows:
        return rows["role"].eq("controlled contrast")
    return rows["n2"].notna() if "n2" in rows else pd.Series(False, index=rows.index)


def _designs(rows: pd.DataFrame) -> str:
    counts = rows.drop_duplicates("study")["design"].value_counts().sort_index()
    return ", ".join(f"{n} {d}" for d, n in counts.items())


def _contrast_text(row: pd.Series, rows: pd.DataFrame) -> str:
    effect = row["measure"]
    text = effect_text(effect, row["estimate_bt"], row["ci_lb_bt"], row["ci_ub_bt"], row["pi_lb_bt"], row["pi_ub_bt"])
    k = int(row["k"])
    what = f"{k} RCT" if set(rows["design"]) <= {"rct"} and len(rows) else f"{k} studies"
    return f"{text}; {what}, {row['n']:.0f} patients ({row['studies']})"


def evidence_rows(pooled: pd.DataFrame, studies_rows: pd.DataFrame, bias: pd.Series, studies: pd.DataFrame,
                  outcomes: pd.DataFrame, interventions: pd.DataFrame, participants: pd.DataFrame,
                  settings: dict, analyses: dict | None = None, excluded: pd.DataFrame | None = None
                  ) -> pd.DataFrame:
    """One row per configured outcome and population with what the GRADE rules read (see
    :func:`evsynth.answer.grade.grade_table`) and the descriptive columns of the summary of findings.

    ``analyses`` (config ``analyses``) limits the conditions counted for indirectness to those an
    analysis selects (a study of SLE, MCTD and JIA in an SLE analysis counts its SLE patients)."""
    analyses = analyses or {}
    # an analysis with no data writes a study table without columns: read it as empty
    studies_rows = studies_rows.reindex(columns=list(dict.fromkeys([*studies_rows.columns, *STUDY_ROW_COLUMNS])))
    target = settings.get("target_population", "pediatric")
    populations = [target] + [p for p in settings.get("beside", ["adult"]) if p != target]
    conditions = {s: str(c).split(";") for s, c in zip(studies["study"], studies["conditions"].fillna(""))}
    placebo = _placebo_arms(interventions)
    population_of = dict(zip(studies["study"], studies.get("population", pd.Series("", index=studies.index))))
    main = pooled.loc[pooled["variant"].eq("main")]
    out = []
    for spec in settings.get("outcomes", []):
        name, analysis = spec["outcome"], spec["analysis"]
        fits = main.loc[main["analysis"].eq(analysis)]
        if fits.empty:
            raise ValueError(f"summary_of_findings: outcome '{name}' names analysis '{analysis}', which is not "
                             f"in pooled.csv (analyses there: {sorted(pooled['analysis'].unique())})")
        effect = str(fits.iloc[0]["measure"]).upper()
        rows_all = studies_rows.loc[studies_rows["analysis"].eq(analysis)]
        # the controlled-contrast rows of a single-arm analysis are shown beside it, not counted in it
        if effect not in COMPARATIVE:
            rows_all = rows_all.loc[~_contrast(rows_all)]
        wanted = set(((analyses.get(analysis) or {}).get("records") or {}).get("conditions") or [])
        contrasts = [(a, main.loc[main["analysis"].eq(a) & main["subgroup"].eq("all")])
                     for a in spec.get("controlled", [])]
        contrasts += [(analysis, fits.loc[fits["subgroup"].eq("all") & fits["measure"].str.upper().isin(COMPARATIVE)
                                          & ~fits["measure"].str.upper().eq(effect)])]
        for pop in populations:
            rows = rows_all.loc[rows_all["population"].eq(pop)]
            sub = fits.loc[fits["subgroup"].eq(f"population={pop}") & fits["measure"].str.upper().eq(effect)]
            whole = fits.loc[fits["subgroup"].eq("all") & fits["measure"].str.upper().eq(effect)]
            notes = []
            if rows.empty:
                fit = None
                notes.append(f"no {pop} study in analysis {analysis}")
            elif len(sub):
                fit = sub.iloc[0]
            elif set(rows_all["population"]) == {pop}:
                fit = whole.iloc[0]
            else:
                fit = None
                notes.append(f"analysis {analysis} has no population subgroup; add subgroups: [population]")
            comparative = effect in COMPARATIVE
            null = (1.0 if effect in RATIOS else 0.0) if comparative else np.nan
            yi_nat = measure(effect).backtransform(rows["yi"].to_numpy(float)) if len(rows) else np.array([])
            binary = effect in BINARY
            events = (rows["events1"].fillna(0) + rows.get("events2", pd.Series(0, index=rows.index)).fillna(0)).sum() \
                if binary and len(rows) else np.nan
            patients = (fit["n"] if fit is not None else rows["n"].sum()) if len(rows) else 0
            if comparative and len(rows) and "n1" in rows:
                patients = float((rows["n1"].fillna(0) + rows["n2"].fillna(0)).sum()) or patients
            ctext, cchange = [], []
            for a, crow in contrasts:
                if crow.empty:
                    continue
                crows = studies_rows.loc[studies_rows["analysis"].eq(a)]
                crows = crows.loc[_contrast(crows, comparative=a != analysis)]
                if crows.empty or set(crows["population"]) != {pop}:
                    continue
                ctext.append(_contrast_text(crow.iloc[0], crows))
                cchange.append(comparator_change(crows, str(crow.iloc[0]["measure"]).upper(), outcomes, placebo,
                                                 participants))
            if not comparative and len(rows):
                cchange.append(comparator_change(rows, effect, outcomes, placebo, participants))
            if comparative and binary and len(rows):
                cchange.append("; ".join(f"{r['study']} comparator: {r['events2']:.0f}/{r['n2']:.0f}"
                                         for r in rows.dropna(subset=["events2", "n2"]).to_dict("records")))
            if fit is not None and not (isinstance(fit["message"], float)) and str(fit["message"]) not in ("", "nan"):
                notes.append(str(fit["message"]))
            if excluded is not None and len(excluded):
                ex = excluded.loc[excluded["analysis"].eq(analysis) & excluded["study"].map(population_of).eq(pop)
                                  & ~excluded["reason"].astype(str).str.match(_FILTERED)]
                notes += [f"{r['study']} not pooled: {r['reason']}" for r in ex.to_dict("records")]
            k = int(len(rows))
            weights = rows["weight"] if "weight" in rows else pd.Series(np.nan, index=rows.index)
            est = {c: (float(fit[f"{c}_bt"]) if fit is not None else np.nan)
                   for c in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")}
            out.append({
                "outcome": name, "population": pop, "role": "asked about" if pop == target else "beside",
                "analysis": analysis, "kind": spec.get("kind", "benefit"), "k": k,
                "studies": ";".join(sorted(set(rows["study"]))), "patients": float(patients),
                "events": float(events), "designs": ";".join(sorted(set(rows["design"]))), "effect": effect,
                "design_counts": _designs(rows) if k else "",
                "scale": measure(effect).words + (f" ({spec['unit']})" if spec.get("unit") else ""),
                **est, "i2": float(fit["i2"]) if fit is not None else np.nan,
                "effect_text": _counts(effect, events, patients) + effect_text(
                    effect, est["estimate"], est["ci_lb"], est["ci_ub"], est["pi_lb"], est["pi_ub"], spec.get("unit")),
                "controlled_contrast": "; ".join(dict.fromkeys(ctext)), "comparator_change": "; ".join(dict.fromkeys(x for c in cchange for x in c.split("; ") if x)),
                "notes": "; ".join(notes),
                # what the GRADE rules read
                "population_label": POPULATION_WORDS.get(pop, pop), "target": target,
                "comparative": comparative, "null": null, "log_scale": effect in RATIOS,
                "study_estimates": ";".join(f"{y:.6g}" for y in yi_nat),
                "bias_judgements": ";".join(str(bias.get(s, "not appraised")) for s in rows["study"]),
                "bias_weights": ";".join(f"{w:.6g}" for w in weights) if weights.notna().all() else "",
                "populations": ";".join(sorted(set(rows["population"]))),
                "conditions": ";".join(sorted({c for s in rows["study"] for c in conditions.get(s, [])
                                               if c and (not wanted or c in wanted)})),
                "surrogate": bool(spec.get("surrogate", False)), "benefit": spec.get("kind", "benefit") == "benefit",
                "total": float(events) if binary else float(patients),
                "ois_unit": "events" if binary else "patients",
                "ci_width_threshold": spec.get("ci_width", np.nan),
                "small_study_p": np.nan, "intervention": settings.get("intervention", "MSC therapy"),
            })
    return pd.DataFrame(out)


def summary_of_findings(pooled: pd.DataFrame, studies_rows: pd.DataFrame, bias_overall: pd.DataFrame,
                        studies: pd.DataFrame, outcomes: pd.DataFrame, interventions: pd.DataFrame,
                        participants: pd.DataFrame, settings: dict, overrides: list[dict] | None = None,
                        analyses: dict | None = None, excluded: pd.DataFrame | None = None) -> pd.DataFrame:
    """The summary-of-findings table (:data:`SOF_COLUMNS`), target population first for each outcome."""
    evidence = evidence_rows(pooled, studies_rows, worst_judgement(bias_overall), studies, outcomes,
                             interventions, participants, settings, analyses, excluded)
    if evidence.empty:
        return pd.DataFrame(columns=SOF_COLUMNS)
    graded = grade_table(evidence, settings.get("grade"), overrides)
    table = pd.concat([evidence.drop(columns=[c for c in graded.columns if c in evidence]), graded], axis=1)
    return table.assign(designs=table["design_counts"])[SOF_COLUMNS]
