"""harmonize_doses: read every dose_text into cells and cells/kg; totals per group; weight conflicts."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.harmonize.run import run_harmonize_doses

with step(snakemake.log[0]):
    run_harmonize_doses(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
