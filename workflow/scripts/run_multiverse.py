"""run_multiverse: one analysis' shard of the multiverse (every combination of the choices), fitted in batches; its curve."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.pool.run import run_multiverse

with step(snakemake.log[0]):
    run_multiverse(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
