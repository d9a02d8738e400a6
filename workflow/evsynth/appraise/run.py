"""The appraise rules (and a command line for the same): records -> bias checklist and overall judgements
(appraise_studies, which pooling waits for); the checklist -> robvis plots (plot_bias, drawn beside pooling)."""

from __future__ import annotations

from pathlib import Path

from evsynth.appraise.checklist import build_checklist
from evsynth.appraise.overall import overall_judgements
from evsynth.appraise.overrides import load_overrides
from evsynth.appraise.tools import in_question, load_tools
from evsynth.appraise.writing import write_checklist
from evsynth.common.io import load_saved_records, load_saved_studies, read_table, write_csv
from evsynth.common.timepoints import DEFAULT_RANGE_BOUND, RANGE_BOUNDS


def run_appraise_studies(input, output, params, wildcards=None) -> None:
    """Bias checklist (CSV + Markdown) and the overall judgement per study and tool.

    input: records (Parquet tables), studies (JSON), tools (tools.yaml), overrides (appraisal.yaml files);
    output: csv, md, overall; params: min_followup_months, followup_bound.
    ``bias_overall.csv`` applies the same tools.yaml thresholds as the checklist's overall rows.
    """
    records = load_saved_records(input.records, input.studies)
    tools = load_tools(input.tools)
    checklist = build_checklist(records.studies, records.tables, tools, load_overrides(input.overrides),
                                params.min_followup_months, params.followup_bound)
    write_checklist(checklist, output.csv, output.md, tools)
    write_csv(overall_judgements(checklist, tools["settings"]), output.overall)


def run_plot_bias(input, output, params, wildcards=None) -> None:
    """The robvis plots (a traffic light and summary bars per tool, PNG + SVG) of bias_checklist.csv.

    input: checklist (bias_checklist.csv), studies (JSON); output: the plot paths; params: colourblind,
    conditions (the plots show the studies of these conditions only; None: every study). A tool without a
    study of those conditions gets a placeholder saying so.
    """
    from evsynth.appraise.plots import summary_bars, traffic_light  # matplotlib: only in the job that draws
    from evsynth.common.figures import placeholder_figure

    checklist = read_table(input.checklist).astype({"study": str, "tool": str, "item": str})
    studies = load_saved_studies(input.studies)
    # the plots describe the studies of the question's conditions (the GVHD dosing references stay out
    # unless config summaries.conditions lists GVHD); the checklist and bias_overall.csv keep every study
    conditions = getattr(params, "conditions", None)
    asked = {s for s, meta in studies.items() if in_question(meta, conditions)}
    plotted = checklist.loc[checklist["study"].isin(asked)]
    for path in output:
        path = Path(path)
        if path.suffix != ".png":  # one call writes the PNG and the SVG beside it
            continue
        kind = "traffic_light" if path.stem.endswith("_traffic_light") else "summary"
        tool = path.stem[: -len(f"_{kind}")]
        if (plotted["tool"] == tool).any():
            draw = traffic_light if kind == "traffic_light" else summary_bars
            draw(plotted, tool, path.with_suffix(""), colourblind=params.colourblind)
        else:
            placeholder_figure(path, f"No study of the question's conditions is appraised with {tool}.")


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m evsynth.appraise.run --studies resources/studies --tools resources/appraisal/tools.yaml
    --csv results/tables/bias_checklist.csv --md results/tables/bias_checklist.md [--plots DIR]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m evsynth.appraise.run",
                                 description="The bias checklist of a folder of studies.")
    ap.add_argument("--studies", default="resources/studies")
    ap.add_argument("--tools", default="resources/appraisal/tools.yaml")
    ap.add_argument("--csv", default="results/tables/bias_checklist.csv")
    ap.add_argument("--md", default="results/tables/bias_checklist.md")
    ap.add_argument("--overall", default=None, help="optional CSV of overall judgements")
    ap.add_argument("--plots", default=None, help="folder for traffic-light and summary plots")
    ap.add_argument("--min-followup-months", type=float, default=6.0)
    ap.add_argument("--followup-bound", choices=RANGE_BOUNDS, default=DEFAULT_RANGE_BOUND)
    ap.add_argument("--colourblind", action="store_true")
    a = ap.parse_args(argv)
    from evsynth.ingest.records import load_records  # noqa: PLC0415

    rec = load_records(a.studies, root=Path.cwd())
    tools = load_tools(a.tools)
    overrides = load_overrides(Path(a.studies).glob("*/appraisal.yaml"), Path.cwd())
    cl = build_checklist(rec.studies, rec.tables, tools, overrides, a.min_followup_months, a.followup_bound)
    write_checklist(cl, a.csv, a.md, tools)
    if a.overall:
        write_csv(overall_judgements(cl, tools["settings"]), a.overall)
    if a.plots:
        from evsynth.appraise.plots import summary_bars, traffic_light  # noqa: PLC0415

        for tool in sorted(set(cl["tool"]) - {"none"}):
            traffic_light(cl, tool, Path(a.plots) / f"bias_traffic_light_{tool}", a.colourblind)
            summary_bars(cl, tool, Path(a.plots) / f"bias_summary_{tool}", a.colourblind)
    print(f"{len(cl)} checklist rows for {cl['study'].nunique()} studies -> {a.csv}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
