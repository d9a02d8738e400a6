"""run_multiverse: one analysis' shard of the multiverse (every combination of the choices), fitted in batches; its curve."""

from evsynth.common.io import step
from evsynth.pool.run import run_multiverse

with step(snakemake.log[0]):
    run_multiverse(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
