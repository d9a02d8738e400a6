"""tabulate_studies: one row per study (design, population, n, cells, route, dose range, follow-up)."""

import pandas as pd

from evsynth.common.io import load_saved_records, step, write_csv, write_markdown
from evsynth.describe.studies import study_table

with step(snakemake.log[0]):
    records = load_saved_records(snakemake.input.records, snakemake.input.studies)
    table = study_table(records.tables, records.studies, pd.read_csv(snakemake.input.doses))
    write_csv(table, snakemake.output.csv)
    write_markdown(table.drop(columns=["citation"]), snakemake.output.md, "Studies in the corpus")
