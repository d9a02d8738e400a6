"""pool_analysis: one declared meta-analysis: its studies, main fit, subgroups, sensitivity variants, forest plot."""

from evsynth.common.io import step
from evsynth.pool.run import run_pool_analysis

with step(snakemake.log[0]):
    run_pool_analysis(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
