"""The pool rules: each declared analysis (pooled rows, study rows, exclusions, forest plot), the combined
tables, the comparison with published reviews, and the multiverse (one shard per analysis, then combined) with
its specification curves."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pandas as pd

from evsynth.common.io import CAVEAT, load_saved_records, write_csv, write_markdown
from evsynth.common.measures import measure
from evsynth.pool.analysis import run_analysis
from evsynth.pool.datasets import Corpus
from evsynth.pool.multiverse import combine_multiverse, multiverse
from evsynth.pool.influence import INFLUENCE_COLUMNS, influence_rows, influence_skipped
from evsynth.pool.log import analysis_log
from evsynth.pool.reviews import review_comparison
from evsynth.report.forest_rows import axis_label, forest_rows, overall_risk_of_bias

#: pooled.md shows these columns (pooled.csv has all).
POOLED_SHOWN = ["analysis", "subgroup", "variant", "k", "n", "estimate_bt", "ci_lb_bt", "ci_ub_bt", "pi_lb_bt",
                "pi_ub_bt", "tau2", "i2", "method", "test", "uncontrolled_only", "message"]


def load_corpus(input) -> Corpus:
    """The :class:`~evsynth.pool.datasets.Corpus` a pooling rule reads: records, harmonized outcomes and the
    studies at high risk of bias (bias_overall.csv, when given)."""
    records = load_saved_records(input.records, input.studies)
    outcomes = pd.read_parquet(input.outcomes)
    high = frozenset()
    if getattr(input, "bias", None):
        overall = pd.read_csv(input.bias)
        high = frozenset(overall.loc[overall["high_risk"].astype(bool), "study"])
    return Corpus(records.studies, records.tables, outcomes, high)


def run_pool_analysis(input, output, params, wildcards) -> None:
    """Fit one analysis (``wildcards.analysis``, ``params.spec``); log what was pooled and left out
    (:func:`evsynth.pool.log.analysis_log`); write its pooled rows, study rows, exclusions, case diagnostics with
    the Baujat plot (:func:`write_influence`), and the forest plot of the main fit (rows a reviewer can check:
    :mod:`evsynth.report.forest_rows`)."""
    # the plotting modules load matplotlib: imported by the jobs that draw, not by every job of this stage
    from evsynth.common.figures import placeholder_figure
    from evsynth.report.forest import forest_plot

    name, spec = wildcards.analysis, params.spec
    corpus = load_corpus(input)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run_analysis(name, spec, corpus)
    # the step's log (logs/pool_analysis/<name>.log): k, the studies left out and why, every warning
    print(analysis_log(name, spec, out, caught), end="", file=sys.stderr)
    write_csv(out["pooled"], output.pooled)
    write_csv(out["studies"], output.studies)
    write_csv(out["excluded"], output.excluded)
    draw_funnel(out["funnel"], output.funnel, spec, name)
    main = {**out["pooled"].iloc[0].to_dict(), "level": spec.get("level", 95)}
    data = out["studies"]
    if len(data):  # the forest plot shows the main analysis' studies, not the randomized contrast behind it
        data = data.loc[data["role"].eq("main")]
    write_influence(name, spec, data, output)
    if data.empty:  # say so in the plot's place rather than fail: the pooled row says why too
        placeholder_figure(output.forest[0], f"{spec.get('title', name)}: no study has data for this analysis.")
        return
    effect = spec["effect"].upper()
    overall = overall_risk_of_bias(pd.read_csv(input.bias)) if getattr(input, "bias", None) else {}
    o = corpus.outcomes_h
    measures = spec["outcome"].get("measures", [])
    unit = o.loc[o["measure"].isin(measures), "unit_h"].dropna().astype(str)
    direction = o.loc[o["measure"].isin(measures), "direction"].dropna().astype(str)
    # adverse events and deaths: fewer is better (the outcome's direction when it names measures)
    direction = direction.iloc[0] if len(direction) else ("lower_better" if "adverse_events" in spec["outcome"] else "")
    fi = forest_rows(data, main, effect, corpus.studies, overall, direction=direction, pooled_rows=out["pooled"],
                     subgroups=spec.get("subgroups", []))
    forest_plot(fi.rows, fi.pooled, list(output.forest), title=spec.get("title", name),
                effect_label=axis_label(effect, unit.iloc[0] if len(unit) else "", direction),
                transform=fi.transform, null_value=fi.null, columns=fi.columns, subgroups=fi.subgroups,
                favours=fi.favours, decimals=fi.decimals, caveat=CAVEAT + " * imputed or derived value.")


def draw_funnel(funnel: dict, folder: str, spec: dict, name: str) -> None:
    """The funnel plot (``folder``/funnel.png and .svg) where the analysis has the studies small-study tests
    need (``funnel`` filled by :func:`evsynth.pool.analysis.run_analysis`); with fewer the folder stays empty:
    nothing is drawn and pooled.csv says "not assessable" and why."""
    from evsynth.report.funnel import funnel_plot  # matplotlib: only in the job that draws

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not funnel:
        return
    funnel_plot(funnel["yi"], funnel["vi"], funnel["estimate"], [folder / "funnel.png", folder / "funnel.svg"],
                title=f"{spec.get('title', name)}: funnel plot",
                effect_label=f"{measure(spec['effect']).analysis_label} (analysis scale)",
                filled_yi=funnel["filled_yi"], filled_vi=funnel["filled_vi"], notes=funnel["notes"],
                level=funnel["level"])


def write_influence(name: str, spec: dict, data: pd.DataFrame, output) -> None:
    """The main fit's case diagnostics (:mod:`evsynth.pool.influence`) and its Baujat plot, or an empty
    table and a figure saying why there are none."""
    # the plotting modules load matplotlib: imported by the jobs that draw, not by every job of this stage
    from evsynth.common.figures import placeholder_figure
    from evsynth.report.baujat import baujat_plot

    why = influence_skipped(spec, data)
    table = pd.DataFrame(columns=INFLUENCE_COLUMNS) if why else influence_rows(name, spec, data)
    if not why and table.empty:
        why = "no case diagnostics: the main fit did not converge (see pooled.csv)"
    write_csv(table, output.influence)
    title = spec.get("title", name)
    if why:
        placeholder_figure(output.baujat[0], f"{title}: {why}.")
        return
    baujat_plot(table, list(output.baujat), title=title, caveat=CAVEAT)


def run_combine_pooled(input, output, params, wildcards=None) -> None:
    """Every analysis' tables in one (CSV, Markdown, an .xlsx workbook), and our main pooled rows beside the
    pooled results the reviews in the corpus published (output.reviews, :func:`evsynth.pool.reviews.review_comparison`;
    input.outcomes: the harmonized outcomes; params.analyses: the analyses' specs). One job, not two: the comparison
    reads only the combined table and inputs every analysis already depends on."""
    pooled = pd.concat([pd.read_csv(p) for p in input.pooled], ignore_index=True)
    studies = pd.concat([pd.read_csv(p) for p in input.studies], ignore_index=True)
    excluded = pd.concat([pd.read_csv(p) for p in input.excluded], ignore_index=True)
    influence = pd.concat([pd.read_csv(p) for p in input.influence], ignore_index=True)
    write_csv(influence[INFLUENCE_COLUMNS], output.influence)
    write_csv(pooled, output.csv)
    write_csv(studies, output.studies)
    write_csv(excluded, output.excluded)
    write_markdown(pooled[POOLED_SHOWN], output.md, "Pooled estimates (back-transformed scale)",
                   f"{CAVEAT} Full precision and the analysis scale are in pooled.csv.")
    from evsynth.report.workbook import write_workbook  # openpyxl: only in the job that writes the workbook

    write_workbook({"pooled": pooled, "studies": studies, "excluded": excluded}, output.xlsx, notes=CAVEAT)
    # the written table, read back: the comparison sees exactly what pooled.csv holds
    reviews = review_comparison(pd.read_csv(output.csv), params.analyses, pd.read_parquet(input.outcomes))
    write_csv(reviews, output.reviews)
    write_markdown(reviews, output.reviews_md, "Our pooled estimates beside published reviews",
                   "The reviews pool other and more studies; agreement or disagreement is context, not validation.")


def run_multiverse(input, output, params, wildcards=None) -> None:
    """The multiverse (params.multiverse: its grid and analyses) fitted in batches, and a specification curve
    per analysis (output.curves). A local run fits every analysis in one job and writes the table
    (output.csv, as :func:`run_combine_multiverse` would from shards); a shard (one analysis, the cluster
    profiles' ``shard_multiverse``) saves its rows typed (Parquet, output.table) for that rule to gather.

    The curves are drawn in other processes (:class:`evsynth.common.forks.DrawingProcesses`), on the CPUs this
    process may use (:func:`~evsynth.common.forks.usable_cpus`): the first starts with the job and imports
    matplotlib while the multiverse is fitted, then about a second of drawing is split between them. The rule
    declares one thread: declaring two would keep the job waiting until both of two cores are free, which starts
    it after the other jobs (measured on two cores: the cold run 1.5-3.5 s slower, the forced multiverse no
    faster). A run given fewer ``--cores`` than the machine has still draws on every CPU the process may use,
    for that second."""
    from functools import partial

    from evsynth.common.forks import DrawingProcesses, usable_cpus

    config = params.multiverse
    with DrawingProcesses(usable_cpus(), ["evsynth.report.specification_curve"]) as drawing:
        table = multiverse(load_corpus(input), config["analyses"], config["grid"])
        if hasattr(output, "csv"):
            write_csv(combine_multiverse([table]), output.csv)
        else:
            Path(output.table).parent.mkdir(parents=True, exist_ok=True)
            table.to_parquet(output.table, index=False)
        drawing.draw([partial(draw_specification_curve, name, spec, table.loc[table["analysis"] == name],
                              [p for p in output.curves if Path(p).name.startswith(f"{name}_specification_curve")])
                      for name, spec in config["analyses"].items()])


def draw_specification_curve(name: str, spec: dict, rows: pd.DataFrame, paths: list[str]) -> None:
    """One analysis' specification curve (paths: its PNG and SVG) from its spec (effect, title) and its rows of
    the multiverse table: estimates on the scale the effect is drawn on, the choices that vary as dot rows."""
    from evsynth.report.specification_curve import null_for, pooled_label, specification_curve  # matplotlib

    rows = rows.rename(columns={"method": "estimator"})
    transform, null = null_for(spec["effect"])
    if transform is None:  # differences and proportions drawn on their natural scale; ratios on the log
        rows = rows.assign(estimate=rows["estimate_bt"], ci_lb=rows["ci_lb_bt"], ci_ub=rows["ci_ub_bt"])
    choices = [c for c in ("estimator", "test", "correlation", "imputation", "inclusion")
               if rows[c].nunique(dropna=False) > 1]
    specification_curve(rows, paths, title=spec.get("title", name), effect_label=pooled_label(spec["effect"]),
                        choice_columns=choices, transform=transform, null_value=null)


def run_combine_multiverse(input, output, params=None, wildcards=None) -> None:
    """The multiverse table (output.csv) from its per-analysis shards (input: Parquet files), with the same
    rows and order as one run of all analyses (:func:`evsynth.pool.multiverse.combine_multiverse`)."""
    write_csv(combine_multiverse([pd.read_parquet(path) for path in input]), output.csv)
