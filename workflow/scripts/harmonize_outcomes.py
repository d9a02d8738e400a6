"""harmonize_outcomes: units, scales and time harmonized; missing means/SDs imputed and flagged."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.harmonize.run import run_harmonize_outcomes

with step(snakemake.log[0]):
    run_harmonize_outcomes(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
