"""report_discrepancies: every place where two sources, or a derived and a reported fact, disagree."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.describe.run import run_report_discrepancies

with step(snakemake.log[0]):
    run_report_discrepancies(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
