"""appraise_studies: the bias checklist and each study's overall judgement per tool."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.appraise.run import run_appraise_studies

with step(snakemake.log[0]):
    run_appraise_studies(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
