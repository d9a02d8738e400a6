"""record_environment: the software versions, the config used and a digest of every input of the run."""

from evsynth.common.io import step
from evsynth.report.run import run_record_environment

with step(snakemake.log[0]):
    run_record_environment(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
