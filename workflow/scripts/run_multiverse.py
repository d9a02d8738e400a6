"""run_multiverse: every combination of the analyst's choices, fitted in batches; specification curves."""

from evsynth.common.io import step
from evsynth.steps import multiverse_step

with step(snakemake.log[0]):
    multiverse_step(snakemake.params.multiverse, snakemake.input, snakemake.output)
