"""validate_records: read and check every study record; write typed intermediates and the ledger."""

from evsynth.common.io import step
from evsynth.ingest.run import run_validate_records

with step(snakemake.log[0]):
    run_validate_records(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
