"""record_environment: the versions of the software that computed the results, and the config used."""

from evsynth.common.io import step
from evsynth.report.run import run_record_environment

with step(snakemake.log[0]):
    run_record_environment(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
