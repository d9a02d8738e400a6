"""harmonize_doses: read every dose_text into cells and cells/kg; totals per group; weight conflicts."""

from evsynth.common.io import step
from evsynth.harmonize.run import run_harmonize_doses

with step(snakemake.log[0]):
    run_harmonize_doses(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
