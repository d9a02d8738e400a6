"""compare_runs: what changed since the run in config compare_to (estimates, certainty, discrepancies) and why."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.report.run import run_compare_runs

with step(snakemake.log[0]):
    run_compare_runs(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
