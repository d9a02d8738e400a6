"""The answer rules: the summary of findings with GRADE certainty, the flow of records, the data dictionary
and the evidence page (results/index.html) that puts them in front of a reader."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from evsynth.answer.dictionary import DICTIONARY_COLUMNS, data_dictionary
from evsynth.answer.flow import flow_diagram, flow_of_records
from evsynth.answer.grade import DOMAINS, load_overrides
from evsynth.answer.page import SCALE_WORDS, answer_rows, figure, harms_seen, html_table, render_page
from evsynth.answer.sof import POPULATION_WORDS, SHOWN_COLUMNS, summary_of_findings
from evsynth.common.io import CAVEAT, read_table, write_csv, write_markdown
from evsynth.report.workbook import write_workbook


def run_summarize_findings(input, output, params, wildcards=None) -> None:
    """input: pooled, studies_rows, excluded, bias, studies, outcomes, interventions, participants, overrides (the
    reviewer's GRADE file, if any); output: csv, md, xlsx; params: settings (config summary_of_findings),
    analyses (the analyses' specs)."""
    overrides = list(input.overrides)
    settings = params.settings
    table = summary_of_findings(
        pd.read_csv(input.pooled), pd.read_csv(input.studies_rows), pd.read_csv(input.bias),
        pd.read_csv(input.studies), pd.read_csv(input.outcomes), pd.read_parquet(input.interventions),
        pd.read_parquet(input.participants), settings, load_overrides(overrides[0] if overrides else None),
        params.analyses, pd.read_csv(input.excluded))
    write_csv(table, output.csv)
    target = settings.get("target_population", "pediatric")
    write_markdown(table[SHOWN_COLUMNS + ["start", *DOMAINS, "overrides"]], output.md,
                   "Summary of findings",
                   f"{CAVEAT} Target population: {target}; adult evidence beside it. Certainty by GRADE "
                   "(one column per domain, with the reason); reviewer overrides are named in `overrides`.")
    write_workbook({"summary_of_findings": table}, output.xlsx, notes=CAVEAT)


def run_tabulate_flow(input, output, params=None, wildcards=None) -> None:
    """input: ledger, studies (JSON), excluded, studies_rows, pooled, evidence (optional); output: csv, md,
    png, svg (the flow table and its diagram)."""
    studies = json.loads(Path(input.studies).read_text(encoding="utf-8"))
    evidence_path = getattr(input, "evidence", None)
    flow = flow_of_records(pd.read_csv(input.ledger), studies, pd.read_csv(input.excluded),
                           pd.read_csv(input.studies_rows), pd.read_csv(input.pooled),
                           pd.read_csv(evidence_path) if evidence_path else None)
    write_csv(flow, output.csv)
    write_markdown(flow, output.md, "Flow of records",
                   "From the study folders read to the studies each analysis pools, with every exclusion's reason.")
    flow_diagram(flow, [output.png, output.svg])


def run_describe_columns(input, output, params=None, wildcards=None) -> None:
    """input: every result table (CSV); output: csv, md. Each table's header is read and each column
    described (:func:`evsynth.answer.dictionary.data_dictionary`); the dictionary describes itself too."""
    headers = {Path(p).name: list(pd.read_csv(p, nrows=0).columns) for p in input}
    headers[Path(output.csv).name] = DICTIONARY_COLUMNS
    table = data_dictionary(headers)
    write_csv(table, output.csv)
    write_markdown(table, output.md, "Data dictionary",
                   "Every column of every result table, built from the tables' own headers by rule "
                   "describe_columns (evsynth.answer.dictionary).")


def run_build_evidence_page(input, output, params, wildcards=None) -> None:
    """Read the result tables and figures, write ``results/index.html`` (output.html).

    input: sof, harms (harms.csv), pooled, bias, bias_plots, discrepancies, studies, doses,
    doses_plot, and optionally flow, flow_plot, dictionary; params: settings (config
    summary_of_findings), analyses (the analyses' specs)."""
    page_dir = Path(output.html).parent
    settings = params.settings
    target = settings.get("target_population", "pediatric")
    sof = read_table(input.sof)
    harms = harms_seen(read_table(input.harms), target)  # harms.csv's rows of the target population
    harms_source = "results/tables/harms.csv"
    pooled = read_table(input.pooled)
    main = pooled.loc[pooled["variant"].eq("main")]
    forests = []
    for name, spec in params.analyses.items():
        png = Path(f"results/analyses/{name}/forest.png")
        rows = main.loc[main["analysis"].eq(name) & main["subgroup"].eq("all")]
        k = int(rows["k"].iloc[0]) if len(rows) else 0
        caption = (f"Scale shown: {SCALE_WORDS.get(spec['effect'].upper(), spec['effect'])}. k = {k}. "
                   f"Method {spec.get('method')}, test {spec.get('test')}.")
        if png.exists():
            forests.append(figure(png, spec.get("title", name), caption, page_dir))
    bias_figs = [figure(p, Path(p).stem.replace("_", " "), "Risk of bias (robvis colours).", page_dir)
                 for p in input.bias_plots if str(p).endswith(".png")]
    other = [figure(input.doses_plot, "Dose per kg by study and route", "Cells per kg per administration.",
                    page_dir)]
    if getattr(input, "flow_plot", None):
        flow_fig = figure(input.flow_plot, "Flow of records", "From records read to studies pooled.", page_dir)
    else:
        flow_fig = None
    tables = {
        "sof": html_table(sof),
        "harms": html_table(harms),
        "pooled": html_table(main, ["analysis", "subgroup", "k", "n", "estimate_bt", "ci_lb_bt", "ci_ub_bt",
                                    "pi_lb_bt", "pi_ub_bt", "i2", "method", "test", "studies", "message"]),
        "bias": html_table(read_table(input.bias)),
        "discrepancies": html_table(read_table(input.discrepancies)),
        "studies": html_table(read_table(input.studies), ["study", "design", "population", "conditions", "year",
                                                            "n", "cell_source", "donor", "route",
                                                            "dose_per_kg_min", "dose_per_kg_max", "followup_months",
                                                            "citation"]),
        "doses": html_table(read_table(input.doses)),
        "flow": html_table(read_table(input.flow)) if getattr(input, "flow", None) else None,
        "dictionary": html_table(read_table(input.dictionary)) if getattr(input, "dictionary", None) else None,
    }
    html = render_page({
        "question": settings.get("question", ""), "target": POPULATION_WORDS.get(target, target),
        "answer": answer_rows(sof, target), "tables": tables, "harms_source": harms_source,
        "harms_seen": int((harms.get("seen", pd.Series(dtype=str)) == "seen").sum()),
        "forests": forests, "bias_figures": bias_figs, "other_figures": other, "flow_figure": flow_fig,
    })
    Path(output.html).write_text(html, encoding="utf-8")
