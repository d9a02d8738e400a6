"""run_multiverse: one analysis' shard of the multiverse (every combination of the choices), fitted in batches; its curve."""

from evsynth.common.io import step
from evsynth.steps import multiverse_step

with step(snakemake.log[0]):
    multiverse_step(snakemake.params.multiverse, snakemake.input, snakemake.output)
