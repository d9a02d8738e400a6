"""record_environment: the software versions, the config used and a digest of every input of the run."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.report.run import run_record_environment

with step(snakemake.log[0]):
    run_record_environment(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
