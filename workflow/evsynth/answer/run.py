"""The answer rules: the summary of findings with GRADE certainty, the flow of records, the data dictionary
and the evidence page (results/index.html) that puts them in front of a reader.

Each ``run_<rule>`` imports the modules its rule uses, so a job pays only for its own (matplotlib, openpyxl
and the GRADE tables are not loaded by a job that does not use them)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from evsynth.common.io import CAVEAT, csv_header, load_saved_studies, read_table, write_csv, write_markdown


def run_summarize_findings(input, output, params, wildcards=None) -> None:
    """input: pooled, studies_rows, excluded, bias, studies, outcomes, interventions, participants, overrides (the
    reviewer's GRADE file, if any); output: csv, md, xlsx; params: settings (config summary_of_findings),
    analyses (the analyses' specs)."""
    from evsynth.answer.grade import DOMAINS, load_overrides
    from evsynth.answer.sof import SHOWN_COLUMNS, summary_of_findings
    from evsynth.report.workbook import write_workbook

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
    from evsynth.answer.flow import flow_diagram, flow_of_records

    studies = load_saved_studies(input.studies)
    evidence_path = getattr(input, "evidence", None)
    flow = flow_of_records(pd.read_csv(input.ledger), studies, pd.read_csv(input.excluded),
                           pd.read_csv(input.studies_rows), pd.read_csv(input.pooled),
                           pd.read_csv(evidence_path) if evidence_path else None)
    write_csv(flow, output.csv)
    write_markdown(flow, output.md, "Flow of records",
                   "From the study folders read to the studies each analysis pools, with every exclusion's reason.")
    flow_diagram(flow, [output.png, output.svg])


def describe_columns(tables, output) -> None:
    """The data dictionary: each result table's header (``tables``: their paths; read by :func:`csv_header`) and
    each column described (:func:`evsynth.answer.dictionary.data_dictionary`); the dictionary describes itself too.
    Written to output.dictionary (CSV) and output.dictionary_md."""
    from evsynth.answer.dictionary import DICTIONARY_COLUMNS, data_dictionary

    headers = {Path(p).name: csv_header(p) for p in tables}
    headers[Path(output.dictionary).name] = DICTIONARY_COLUMNS
    table = data_dictionary(headers)
    write_csv(table, output.dictionary)
    write_markdown(table, output.dictionary_md, "Data dictionary",
                   "Every column of every result table, built from the tables' own headers by rule "
                   "build_evidence_page (evsynth.answer.dictionary).")


def run_build_evidence_page(input, output, params, wildcards=None) -> None:
    """Read the result tables and figures, write the data dictionary (output.dictionary, dictionary_md; from
    input.tables, every result table: :func:`describe_columns`) and ``results/index.html`` (output.html), which
    shows it. One job: the dictionary reads every table, so it reruns whenever the page does.

    input: sof, harms (harms.csv), pooled, bias, bias_plots, discrepancies, studies, doses,
    doses_plot, tables, and optionally flow, flow_plot, curves (specification curves), funnels (the
    analyses' funnel folders, empty where k is below small_study_min_k); params: settings (config
    summary_of_findings), analyses (the analyses' specs)."""
    from evsynth.answer.page import answer_rows, figure, harms_seen, html_table, render_page
    from evsynth.answer.sof import POPULATION_WORDS
    from evsynth.appraise.tools import TOOL_LABELS
    from evsynth.report.forest_rows import scale_shown

    describe_columns(input.tables, output)
    page_dir = Path(output.html).parent
    settings = params.settings
    target = settings.get("target_population", "pediatric")
    sof = read_table(input.sof)
    harms = harms_seen(read_table(input.harms), target)  # harms.csv's rows of the target population
    harms_source = "results/tables/harms.csv"
    pooled = read_table(input.pooled)
    main = pooled.loc[pooled["variant"].eq("main")]
    forests, funnels, small_study = [], [], []
    for name, spec in params.analyses.items():
        png = Path(f"results/analyses/{name}/forest.png")
        rows = main.loc[main["analysis"].eq(name) & main["subgroup"].eq("all")]
        k = int(rows["k"].iloc[0]) if len(rows) else 0
        fit = rows.iloc[0] if len(rows) else {}
        model = str(fit.get("model") or "") if len(rows) else ""
        how = (f"Model: {model} ({fit.get('method')}, {fit.get('test')} test)." if model and k > 1
               else "One study: not pooled." if k == 1 else "")
        caption = f"Scale shown: {scale_shown(spec['effect'])}. k = {k}. {how}".strip()
        if png.exists():
            forests.append(figure(png, spec.get("title", name), caption, page_dir))
        funnel = Path(f"results/analyses/{name}/funnel/funnel.png")
        egger = pooled.loc[pooled["analysis"].eq(name) & pooled["variant"].eq("Egger's regression test"), "message"]
        if funnel.exists():
            funnels.append(figure(funnel, f"{spec.get('title', name)}: funnel plot",
                                  "Scale shown: the analysis scale (logit proportions, log ratios, mean changes) "
                                  "against each study's standard error. " + " ".join(egger.astype(str)), page_dir))
        elif len(egger):
            small_study.append({"title": spec.get("title", name), "reason": str(egger.iloc[0])})
    bias_figs = []
    for p in input.bias_plots:
        if str(p).endswith(".png"):
            tool, kind = re.match(r"(.+)_(traffic_light|summary)$", Path(p).stem).groups()
            bias_figs.append(figure(
                p, f"{TOOL_LABELS.get(tool, tool)}: {'traffic light' if kind == 'traffic_light' else 'summary bars'}",
                "Risk of bias in robvis colours; the studies of the question's conditions (the GVHD dosing references "
                "are left out)" + ("; each bar is 100% of the studies its item applies to." if kind == "summary"
                                   else "."), page_dir))
    other = [figure(input.doses_plot, "Dose per kg by study and route",
                    "Scale shown: cells per kg body weight, log axis; every study with a derivable dose is drawn, the "
                    "others are listed under the plot with the reason.", page_dir)]
    curves = [figure(p, f"{params.analyses.get(Path(p).stem.replace('_specification_curve', ''), {}).get('title', Path(p).stem)}"
                     ": specification curve",
                     "Every specification of the multiverse, identical results collapsed (the number above a column); "
                     "hollow: one study left, its own estimate. Scale shown: natural (proportions 0 to 1 without a "
                     "null line; changes and differences with the null at 0; ratios on a log axis, null at 1).",
                     page_dir) for p in getattr(input, "curves", []) if str(p).endswith(".png")]
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
        "dictionary": html_table(read_table(output.dictionary)),
    }
    html = render_page({
        "question": settings.get("question", ""), "target": POPULATION_WORDS.get(target, target),
        "answer": answer_rows(sof, target), "tables": tables, "harms_source": harms_source,
        "harms_seen": int((harms.get("seen", pd.Series(dtype=str)) == "seen").sum()),
        "forests": forests, "bias_figures": bias_figs, "other_figures": other, "flow_figure": flow_fig,
        "funnels": funnels, "small_study": small_study, "curves": curves,
    })
    Path(output.html).write_text(html, encoding="utf-8")
