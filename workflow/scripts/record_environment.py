"""record_environment: the versions of the software that computed the results, and the config used."""

from evsynth.common.io import step
from evsynth.steps import environment_step

with step(snakemake.log[0]):
    environment_step(snakemake.params.config, snakemake.output.software, snakemake.output.config)
