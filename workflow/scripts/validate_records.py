"""validate_records: read and check every study record; write typed intermediates and the ledger."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.ingest.run import run_validate_records

with step(snakemake.log[0]):
    run_validate_records(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
