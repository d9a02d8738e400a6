"""summarize_evidence: descriptive summaries by population, condition, cell source, donor, route; pediatric cases."""

from evsynth.common.io import step
from evsynth.steps import summary_step

with step(snakemake.log[0]):
    summary_step(snakemake.input, snakemake.output, snakemake.params.conditions)
