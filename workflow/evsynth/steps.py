"""Composite steps the workflow rules call: each joins a few package functions into one stage.

Kept here so that a rule script stays a few lines (read, call one function, write) and the logic
stays importable and tested.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evsynth.describe.discrepancies import COLUMNS as DISCREPANCY_COLUMNS
from evsynth.harmonize.tables import cumulative_doses, harmonize_doses, harmonize_outcomes, implied_weight_conflicts
from evsynth.harmonize.imputation import impute_summary, load_thresholds, responders
from evsynth.harmonize.units import DoseParseError, load_units, parse_dose
from evsynth.common.vocabulary import load_vocabulary


def ledger_part(frame: pd.DataFrame, status: str, reason: pd.Series | str) -> pd.DataFrame:
    """Ledger rows (study, file, line, status, reason) for the input rows behind ``frame``."""
    part = frame[["study", "file", "line"]].copy()
    part["status"] = status
    part["reason"] = reason
    part = part.loc[part["line"].astype(str).str.fullmatch(r"\d+(\.0)?")]
    part["line"] = part["line"].astype(float).astype(int)
    return part


def dose_step(tables: dict[str, pd.DataFrame], selected: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Doses read from ``dose_text`` (doses.csv), per-group totals, and weight conflicts.

    ``selected``: the selected interventions (select_evidence); doses.csv marks them ``selected`` and
    carries their ``administration`` key, and the cumulative doses count only them (an administration
    reported by several sources counts once). Without it every row is selected.

    Rows a curator marked ``dose_readable: no`` (garbled in the source) are not parsed: their dose is
    absent and the rule says why, with the parser's reading of the problem. Any other unreadable dose
    stops the run with an error naming the row.
    """
    interventions = tables["interventions"].copy()
    garbled = interventions["dose_readable"].fillna("").astype(str).eq("no")
    texts = interventions.loc[garbled, "dose_text"]
    interventions.loc[garbled, "dose_text"] = ""
    doses = harmonize_doses(interventions, tables["participants"])
    if garbled.any():
        keyed = dict(zip(zip(interventions.loc[garbled, "file"], interventions.loc[garbled, "line"]), texts))
        for i in doses.index:
            key = (doses.at[i, "file"], doses.at[i, "line"])
            if key in keyed:
                doses.at[i, "dose_text"] = keyed[key]
                doses.at[i, "rule"] = "not read: marked dose_readable=no (garbled in source); " + _why_unreadable(keyed[key])
    if selected is not None:
        keys = {(str(f), str(ln).removesuffix(".0")): a for f, ln, a in
                zip(selected["file"], selected["line"], selected.get("administration", pd.Series("", index=selected.index)))}
        key = [(str(f), str(ln).removesuffix(".0")) for f, ln in zip(doses["file"], doses["line"])]
        doses["selected"] = [k in keys for k in key]
        doses["administration"] = [keys.get(k, "") for k in key]
    else:
        doses["selected"] = True
        doses["administration"] = ""
    conflicts = implied_weight_conflicts(doses)
    for col in DISCREPANCY_COLUMNS:
        if col not in conflicts.columns:
            conflicts[col] = ""
    return {
        "doses": doses,
        "cumulative": cumulative_doses(doses.loc[doses["selected"]]),
        "conflicts": conflicts[DISCREPANCY_COLUMNS],
        "ledger": ledger_part(doses, "converted", "dose read: " + doses["rule"].astype(str)),
    }


def _why_unreadable(text: str) -> str:
    try:
        parse_dose(text)
    except DoseParseError as exc:
        return f"parser: {exc}"
    return "parser could read it; review the dose_readable mark"


def outcome_step(outcomes: pd.DataFrame, vocabulary_dir: str | Path, summary_method: str,
                 prepost_correlation: float) -> dict[str, pd.DataFrame]:
    """Harmonized outcomes with imputed summary statistics flagged, and responder flags."""
    vocabulary_dir = Path(vocabulary_dir)
    measures = load_vocabulary(vocabulary_dir).measures
    units = load_units(vocabulary_dir / "units.yaml")
    harmonized = harmonize_outcomes(outcomes, measures, units)
    completed = impute_summary(harmonized, method=summary_method, r=prepost_correlation)
    thresholds = load_thresholds(vocabulary_dir / "responders.yaml")
    completed["line"] = completed["line"].astype(str).str.replace(r"\.0$", "", regex=True)
    original = completed.loc[~completed["imputed"].astype(bool)]
    return {
        "outcomes": completed,
        "responders": responders(completed, thresholds),
        "ledger": ledger_part(original, "converted", "outcome harmonized: " + original["rule"].astype(str)),
    }


def appraisal_step(records, tools_path: str, override_paths: list[str], min_followup_months: float,
                   colourblind: bool, output) -> None:
    """Bias checklist (CSV + Markdown), overall judgement per study and tool, and the robvis plots."""
    import yaml

    from evsynth.appraise.appraisal import build_checklist, load_tools, overall_judgements, write_checklist
    from evsynth.appraise.plots import summary_bars, traffic_light

    tools = load_tools(tools_path)
    overrides = {}
    for path in sorted(override_paths):
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        doc["_file"] = str(path)
        overrides[Path(path).parent.name] = doc
    checklist = build_checklist(records.studies, records.tables, tools, overrides, min_followup_months)
    write_checklist(checklist, output.csv, output.md, tools)
    overall = overall_judgements(checklist)
    overall.to_csv(output.overall, index=False, lineterminator="\n")
    for path in output.plots:
        path = Path(path)
        if path.suffix != ".png":  # one call writes the PNG and the SVG beside it
            continue
        kind = "traffic_light" if path.stem.endswith("_traffic_light") else "summary"
        tool = path.stem[: -len(f"_{kind}")]
        if (checklist["tool"] == tool).any():
            draw = traffic_light if kind == "traffic_light" else summary_bars
            draw(checklist, tool, path.with_suffix(""), colourblind=colourblind)
        else:
            _placeholder_plot(path, f"No study in the corpus is appraised with {tool}.")


def _placeholder_plot(png: Path, text: str) -> None:
    """A small PNG+SVG pair saying why there is nothing to draw (deterministic bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "evsynth"
    fig, ax = plt.subplots(figsize=(5, 1))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9)
    fig.savefig(png, dpi=150, metadata={"Software": None})
    fig.savefig(png.with_suffix(".svg"), metadata={"Date": None})
    plt.close(fig)


CAVEAT = "These numbers describe the reported evidence; they do not show efficacy."


def load_corpus(inputs):
    """The :class:`~evsynth.pool.analysis.Corpus` a pooling rule reads (records, harmonized outcomes, bias)."""
    from evsynth.pool.analysis import Corpus
    from evsynth.common.io import load_saved_records

    records = load_saved_records(inputs.records, inputs.studies)
    outcomes = pd.read_parquet(inputs.outcomes)
    high = frozenset()
    if getattr(inputs, "bias", None):
        overall = pd.read_csv(inputs.bias)
        high = frozenset(overall.loc[overall["high_risk"].astype(bool), "study"])
    return Corpus(records.studies, records.tables, outcomes, high)


def pool_step(name: str, spec: dict, inputs, output) -> None:
    """Fit one analysis and write its pooled rows, its study rows, its exclusions and its forest plot."""
    from evsynth.pool.analysis import run_analysis
    from evsynth.common.io import write_csv
    from evsynth.report.forest_rows import axis_label, forest_rows
    from evsynth.report.plots import forest_plot

    corpus = load_corpus(inputs)
    out = run_analysis(name, spec, corpus)
    write_csv(out["pooled"], output.pooled)
    write_csv(out["studies"], output.studies)
    write_csv(out["excluded"], output.excluded)
    main = out["pooled"].iloc[0].to_dict()
    data = out["studies"]
    if len(data):  # the forest plot shows the main analysis' studies, not the randomized contrast behind it
        data = data.loc[data["role"].eq("main")]
    if data.empty:  # say so in the plot's place rather than fail: the pooled row says why too
        _placeholder_plot(Path(output.forest[0]), f"{spec.get('title', name)}: no study has data for this analysis.")
        return
    effect = spec["effect"].upper()
    overall = {}
    if getattr(inputs, "bias", None):
        bias = pd.read_csv(inputs.bias)
        bias = bias.loc[~bias["overall"].eq("not applicable")]
        tools = {"murad": "Murad", "jbi_case_series": "JBI", "jbi_case_report": "JBI", "rob2": "RoB 2",
                 "robins_i": "ROBINS-I"}
        bias = bias.assign(text=bias["overall"] + " (" + bias["tool"].map(tools).fillna(bias["tool"]) + ")")
        overall = bias.groupby("study")["text"].agg(lambda s: ", ".join(dict.fromkeys(s))).to_dict()
    o = corpus.outcomes_h
    measures = spec["outcome"].get("measures", [])
    unit = o.loc[o["measure"].isin(measures), "unit_h"].dropna().astype(str)
    direction = o.loc[o["measure"].isin(measures), "direction"].dropna().astype(str)
    rows, pooled, transform, null = forest_rows(data, main, effect, corpus.studies, overall)
    forest_plot(rows, pooled, list(output.forest), title=spec.get("title", name),
                effect_label=axis_label(effect, unit.iloc[0] if len(unit) else "",
                                        direction.iloc[0] if len(direction) else ""),
                transform=transform, null_value=null,
                caveat=CAVEAT + " * imputed or derived value. RoB: the study's overall risk of bias "
                                "(bias_overall.csv).")


def combine_step(inputs, output) -> None:
    """Concatenate the analyses' tables; write CSV, Markdown and an .xlsx workbook."""
    from evsynth.common.io import write_csv, write_markdown
    from evsynth.report.workbook import write_workbook

    pooled = pd.concat([pd.read_csv(p) for p in inputs.pooled], ignore_index=True)
    studies = pd.concat([pd.read_csv(p) for p in inputs.studies], ignore_index=True)
    excluded = pd.concat([pd.read_csv(p) for p in inputs.excluded], ignore_index=True)
    write_csv(pooled, output.csv)
    write_csv(studies, output.studies)
    write_csv(excluded, output.excluded)
    shown = pooled[["analysis", "subgroup", "variant", "k", "n", "estimate_bt", "ci_lb_bt", "ci_ub_bt", "pi_lb_bt",
                    "pi_ub_bt", "tau2", "i2", "method", "test", "uncontrolled_only", "message"]]
    write_markdown(shown, output.md, "Pooled estimates (back-transformed scale)",
                   f"{CAVEAT} Full precision and the analysis scale are in pooled.csv.")
    write_workbook({"pooled": pooled, "studies": studies, "excluded": excluded}, output.xlsx, notes=CAVEAT)


def compare_step(analyses: dict, inputs, output) -> None:
    """Our main pooled row beside each review's published pooled result for the same measure."""
    from evsynth.pool.analysis import review_comparison
    from evsynth.common.io import write_csv, write_markdown

    pooled = pd.read_csv(inputs.pooled)
    outcomes = pd.read_parquet(inputs.outcomes)
    table = review_comparison(pooled, analyses, outcomes)
    write_csv(table, output.csv)
    write_markdown(table, output.md, "Our pooled estimates beside published reviews",
                   "The reviews pool other and more studies; agreement or disagreement is context, not validation.")


def multiverse_step(config: dict, inputs, output) -> None:
    """One shard of the multiverse (the analyses in ``config``, usually one) fitted in batches, saved typed
    (Parquet) for :func:`combine_multiverse_step`, and a specification curve per analysis."""
    from evsynth.pool.analysis import multiverse
    from evsynth.report.plots import specification_curve

    corpus = load_corpus(inputs)
    table = multiverse(corpus, config["analyses"], config["grid"])
    Path(output.table).parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(output.table, index=False)
    for name, spec in config["analyses"].items():
        rows = table.loc[table["analysis"] == name].rename(columns={"method": "estimator"})
        rows = rows.assign(estimate=rows["estimate_bt"], ci_lb=rows["ci_lb_bt"], ci_ub=rows["ci_ub_bt"])
        paths = [p for p in output.curves if Path(p).name.startswith(f"{name}_specification_curve")]
        choices = [c for c in ("estimator", "test", "correlation", "imputation", "inclusion")
                   if rows[c].nunique(dropna=False) > 1]
        if not rows["converged"].any():
            for path in paths:
                if path.endswith(".png"):
                    _placeholder_plot(Path(path), f"{spec.get('title', name)}: no specification could be fitted.")
            continue
        specification_curve(rows, paths, title=spec.get("title", name), effect_label="Pooled estimate",
                             choice_columns=choices)


def combine_multiverse_step(inputs, output) -> None:
    """The multiverse table from its per-analysis shards (same rows and order as one run of all analyses)."""
    from evsynth.common.io import write_csv
    from evsynth.pool.analysis import combine_multiverse

    write_csv(combine_multiverse([pd.read_parquet(path) for path in inputs]), output.csv)


def summary_step(inputs, output, conditions=None) -> None:
    """Descriptive summaries (studies of ``conditions`` only) and the per-patient pediatric table."""
    from evsynth.common.io import load_saved_records, write_csv, write_markdown
    from evsynth.describe.summaries import descriptive_summaries, pediatric_case_outcomes
    from evsynth.report.workbook import write_workbook

    records = load_saved_records(inputs.records, inputs.studies)
    outcomes = pd.read_parquet(inputs.outcomes)
    doses, cumulative = pd.read_csv(inputs.doses), pd.read_csv(inputs.cumulative)
    responders_ = pd.read_csv(inputs.responders)
    cases = pediatric_case_outcomes(records.tables, records.studies, outcomes, doses, cumulative, responders_)
    summaries = descriptive_summaries(records.tables, records.studies, outcomes, doses, cumulative,
                                      conditions=conditions)
    write_csv(summaries, output.summaries)
    write_csv(cases, output.cases)
    write_markdown(summaries, output.summaries_md, "Descriptive summaries", CAVEAT)
    write_markdown(cases, output.cases_md, "Pediatric cases: each outcome before and after",
                   CAVEAT + " Benefit in these cases was reported, not documented.")
    write_workbook({"summaries": summaries, "pediatric_cases": cases}, output.xlsx, notes=CAVEAT)


def dose_plot_step(inputs, paths: list[str]) -> None:
    """Dose per kg by study and route (population from study.yaml)."""
    import json

    from evsynth.report.plots import dose_plot

    doses = pd.read_csv(inputs.doses)
    studies = json.loads(Path(inputs.studies).read_text(encoding="utf-8"))
    doses["population"] = doses["study"].map(lambda s: studies[s].get("population", "unspecified"))
    doses = doses.loc[~doses["summary"].astype(bool) & ~doses["rule"].astype(str).eq("not a cell product")]
    dose_plot(doses, paths)


PACKAGES = ["evsynth", "snakemake", "pandas", "numpy", "scipy", "statsmodels", "matplotlib", "pyarrow",
            "openpyxl", "PyYAML", "jsonschema"]


def environment_step(config: dict, software_path: str, config_path: str) -> None:
    """Write the software versions and the config of the run."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import yaml

    rows = [{"package": "python", "version": platform.python_version()}]
    for name in PACKAGES:
        try:
            rows.append({"package": name, "version": version(name)})
        except PackageNotFoundError:
            rows.append({"package": name, "version": "not installed"})
    pd.DataFrame(rows).to_csv(software_path, index=False, lineterminator="\n")
    Path(config_path).write_text(yaml.safe_dump(dict(config), sort_keys=True, allow_unicode=True), encoding="utf-8")
