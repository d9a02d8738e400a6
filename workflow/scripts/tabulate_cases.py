"""tabulate_cases: the per-patient Summary Table rebuilt from the records, discrepancies flagged."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.describe.run import run_tabulate_cases

with step(snakemake.log[0]):
    run_tabulate_cases(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
