"""harmonize_outcomes: units, scales and time harmonized; missing means/SDs imputed and flagged."""

from pathlib import Path

from evsynth.common.io import load_saved_records, step, write_csv
from evsynth.steps import outcome_step

with step(snakemake.log[0]):
    records = load_saved_records(snakemake.input.records, snakemake.input.studies)
    out = outcome_step(
        records.tables["outcomes"],
        Path(snakemake.input.vocabulary[0]).parent,
        snakemake.params.summary_method,
        snakemake.params.prepost_correlation,
    )
    write_csv(out["outcomes"], snakemake.output.table)
    out["outcomes"].to_parquet(snakemake.output.parquet, index=False)
    write_csv(out["responders"], snakemake.output.responders)
    write_csv(out["ledger"], snakemake.output.ledger)
