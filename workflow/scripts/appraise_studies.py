"""appraise_studies: the bias checklist, each study's overall judgement per tool, and the robvis plots."""

from evsynth.common.io import load_saved_records, step
from evsynth.steps import appraisal_step

with step(snakemake.log[0]):
    records = load_saved_records(snakemake.input.records, snakemake.input.studies)
    appraisal_step(
        records, snakemake.input.tools, snakemake.input.overrides, snakemake.params.min_followup_months,
        snakemake.params.colourblind, snakemake.output,
    )
