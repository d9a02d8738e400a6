"""combine_multiverse: the per-analysis multiverse shards gathered in one table."""

from evsynth.common.io import step
from evsynth.steps import combine_multiverse_step

with step(snakemake.log[0]):
    combine_multiverse_step(snakemake.input, snakemake.output)
