"""combine_pooled: every analysis' rows in one table (CSV, Markdown, workbook)."""

from evsynth.common.io import step
from evsynth.steps import combine_step

with step(snakemake.log[0]):
    combine_step(snakemake.input, snakemake.output)
