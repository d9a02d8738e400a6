"""combine_pooled: every analysis' rows in one table (CSV, Markdown, workbook), and beside the published reviews."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.pool.run import run_combine_pooled

with step(snakemake.log[0]):
    run_combine_pooled(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
