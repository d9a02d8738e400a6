"""tabulate_studies: one row per study (design, population, n, cells, route, dose range, follow-up)."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.describe.run import run_tabulate_studies

with step(snakemake.log[0]):
    run_tabulate_studies(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
