"""describe_columns: the data dictionary, every column of every result table, from the tables' own headers."""

from evsynth.common.io import step
from evsynth.answer.run import run_describe_columns

with step(snakemake.log[0]):
    run_describe_columns(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
