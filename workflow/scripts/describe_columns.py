"""describe_columns: the data dictionary, every column of every result table, from the tables' own headers."""

from evsynth.answer.dictionary import run_describe_columns
from evsynth.common.io import step

with step(snakemake.log[0]):
    run_describe_columns(list(snakemake.input), snakemake.output)
