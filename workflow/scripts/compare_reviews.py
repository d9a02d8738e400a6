"""compare_reviews: our pooled estimates beside the published reviews' where they cover the same outcome."""

from evsynth.common.io import step
from evsynth.steps import compare_step

with step(snakemake.log[0]):
    compare_step(snakemake.params.analyses, snakemake.input, snakemake.output)
