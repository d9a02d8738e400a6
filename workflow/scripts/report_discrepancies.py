"""report_discrepancies: every place where two sources, or a derived and a reported fact, disagree."""

import pandas as pd

from evsynth.describe.discrepancies import find_discrepancies, range_conflicts, summary_dose_conflicts
from evsynth.common.io import load_saved_records, step, write_csv, write_markdown

with step(snakemake.log[0]):
    records = load_saved_records(snakemake.input.records, snakemake.input.studies)
    dose_conflicts = pd.read_csv(snakemake.input.dose_conflicts, dtype=str, keep_default_na=False)
    doses = pd.read_csv(snakemake.input.doses)
    per_kg = summary_dose_conflicts(doses, records.studies)
    ranges = range_conflicts(doses, records.studies)
    evidence = pd.read_csv(snakemake.input.evidence)
    table = find_discrepancies(records.tables, records.studies, extra=[dose_conflicts, per_kg, ranges],
                               evidence=evidence)
    write_csv(table, snakemake.output.csv)
    write_markdown(
        table, snakemake.output.md, "Discrepancies between sources",
        "Each row is one quantity recorded with two different values; both are kept. "
        "`record_a`/`record_b` point to the record rows (file:line).",
    )
