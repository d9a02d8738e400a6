"""tabulate_harms: every adverse event and death of every study, seriousness yes/no/unknown, children first."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.describe.run import run_tabulate_harms

with step(snakemake.log[0]):
    run_tabulate_harms(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
