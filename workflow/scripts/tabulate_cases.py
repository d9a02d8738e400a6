"""tabulate_cases: the per-patient Summary Table rebuilt from the records, discrepancies flagged."""

from pathlib import Path

import pandas as pd

from evsynth.describe.cases import case_table
from evsynth.common.io import load_saved_records, step, write_csv, write_markdown
from evsynth.common.vocabulary import load_vocabulary

with step(snakemake.log[0]):
    records = load_saved_records(snakemake.input.records, snakemake.input.studies)
    measures = load_vocabulary(Path(snakemake.input.measures).parent).measures
    table = case_table(records.tables, records.studies, measures, pd.read_csv(snakemake.input.discrepancies))
    write_csv(table, snakemake.output.csv)
    write_markdown(
        table, snakemake.output.md, "Pediatric cases: one row per patient",
        "Rebuilt from the records. Where the paper's text and its table disagree, each value is shown with "
        "its source key in brackets, and `discrepancies` names the quantities concerned. "
        "These are uncontrolled case reports: benefit is reported, not documented.",
    )
