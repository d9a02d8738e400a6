"""compare_reviews: our pooled estimates beside the published reviews' where they cover the same outcome."""

from evsynth.common.io import step
from evsynth.pool.run import run_compare_reviews

with step(snakemake.log[0]):
    run_compare_reviews(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
