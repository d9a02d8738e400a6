"""pool_analysis: one declared meta-analysis: its studies, main fit, subgroups, sensitivity variants, forest plot."""

from evsynth.common.io import step
from evsynth.steps import pool_step

with step(snakemake.log[0]):
    pool_step(snakemake.wildcards.analysis, snakemake.params.spec, snakemake.input, snakemake.output)
