"""pool_analysis: one declared meta-analysis: its studies, main fit, subgroups, sensitivity variants, forest plot."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.pool.run import run_pool_analysis

with step(snakemake.log[0]):
    run_pool_analysis(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
