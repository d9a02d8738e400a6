"""appraise_studies: the bias checklist, each study's overall judgement per tool, and the robvis plots."""

from evsynth.common.io import step
from evsynth.appraise.run import run_appraise_studies

with step(snakemake.log[0]):
    run_appraise_studies(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
