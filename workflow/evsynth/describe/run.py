"""The describe rules: per-patient and per-study tables rebuilt from the records, the discrepancies between
sources, the descriptive summaries, and every harm.

Each ``run_<rule>`` imports the modules its rule uses, so a job pays only for its own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evsynth.common.io import CAVEAT, load_saved_records, write_csv, write_markdown


def run_report_discrepancies(input, output, params=None, wildcards=None) -> None:
    """input: records, studies, dose_conflicts (implied weights, from harmonize_doses), doses, evidence
    (select_evidence's choices, beside the reports not used); output: csv, md."""
    from evsynth.describe.discrepancies import (
        TABLE_COLUMNS, checked, find_discrepancies, range_conflicts, summary_dose_conflicts,
    )

    records = load_saved_records(input.records, input.studies)
    dose_conflicts = pd.read_csv(input.dose_conflicts, dtype=str, keep_default_na=False)
    dose_conflicts = dose_conflicts.reindex(columns=TABLE_COLUMNS, fill_value="")
    doses = pd.read_csv(input.doses)
    per_kg = checked(summary_dose_conflicts(doses, records.studies), summary_dose_conflicts)
    ranges = checked(range_conflicts(doses, records.studies), range_conflicts)
    table = find_discrepancies(records.tables, records.studies, extra=[dose_conflicts, per_kg, ranges],
                               evidence=pd.read_csv(input.evidence))
    write_csv(table, output.csv)
    write_markdown(
        table, output.md, "Discrepancies between sources",
        "Each row is one quantity recorded with two different values; both are kept. "
        "`record_a`/`record_b` point to the record rows (file:line); `check` names the function that found it.",
    )


def run_tabulate_cases(input, output, params=None, wildcards=None) -> None:
    """input: records, studies, discrepancies, measures (measures.yaml); output: csv, md."""
    from evsynth.common.vocabulary import load_vocabulary
    from evsynth.describe.cases import case_table

    records = load_saved_records(input.records, input.studies)
    measures = load_vocabulary(Path(input.measures).parent).measures
    table = case_table(records.tables, records.studies, measures, pd.read_csv(input.discrepancies))
    write_csv(table, output.csv)
    write_markdown(
        table, output.md, "Pediatric cases: one row per patient",
        "Rebuilt from the records. Where the paper's text and its table disagree, each value is shown with "
        "its source key in brackets, and `discrepancies` names the quantities concerned. "
        "These are uncontrolled case reports: benefit is reported, not documented.",
    )


def run_tabulate_studies(input, output, params, wildcards=None) -> None:
    """input: records, studies, doses; output: csv, md; params: followup_bound."""
    from evsynth.describe.studies import study_table

    records = load_saved_records(input.records, input.studies)
    table = study_table(records.tables, records.studies, pd.read_csv(input.doses), params.followup_bound)
    write_csv(table, output.csv)
    write_markdown(table.drop(columns=["citation"]), output.md, "Studies in the corpus")


def run_summarize_evidence(input, output, params, wildcards=None) -> None:
    """Descriptive summaries and the per-patient pediatric table (CSV, Markdown, workbook).

    input: records, studies, outcomes (harmonized Parquet), doses, cumulative, responders; output: summaries,
    summaries_md, cases, cases_md, xlsx; params: conditions (the studies summarized), followup_bound."""
    from evsynth.describe.summaries import descriptive_summaries, pediatric_case_outcomes
    from evsynth.report.workbook import write_workbook

    records = load_saved_records(input.records, input.studies)
    outcomes = pd.read_parquet(input.outcomes)
    doses, cumulative = pd.read_csv(input.doses), pd.read_csv(input.cumulative)
    cases = pediatric_case_outcomes(records.tables, records.studies, outcomes, doses, cumulative,
                                    pd.read_csv(input.responders), params.followup_bound)
    summaries = descriptive_summaries(records.tables, records.studies, outcomes, doses, cumulative,
                                      conditions=params.conditions, followup_bound=params.followup_bound)
    write_csv(summaries, output.summaries)
    write_csv(cases, output.cases)
    write_markdown(summaries, output.summaries_md, "Descriptive summaries", CAVEAT)
    write_markdown(cases, output.cases_md, "Pediatric cases: each outcome before and after",
                   CAVEAT + " Benefit in these cases was reported, not documented.")
    write_workbook({"summaries": summaries, "pediatric_cases": cases}, output.xlsx, notes=CAVEAT)


def run_tabulate_harms(input, output, params=None, wildcards=None) -> None:
    """input: records, studies, evidence (evidence.csv: which report each count comes from); output: csv
    (harms.csv), md, xlsx."""
    from evsynth.describe.harms import harms_table
    from evsynth.report.workbook import write_workbook

    records = load_saved_records(input.records, input.studies)
    table = harms_table(records.tables, records.studies, pd.read_csv(input.evidence))
    write_csv(table, output.csv)
    shown = table.drop(columns=["quote", "file", "design"])
    write_markdown(shown, output.md, "Harms: every adverse event and death, pediatric studies first",
                   "Seriousness as the source states it: `unknown` where it does not (counted apart from `yes`, "
                   "never dropped). A row with 0 patients is a reported absence. " + CAVEAT)
    write_workbook({"harms": table}, output.xlsx, notes="Every adverse event and death of every study, "
                   "pediatric studies first; seriousness yes / no / unknown as reported. " + CAVEAT)
