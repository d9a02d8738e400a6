"""tabulate_flow: the flow of records (read, validated, selected, excluded with reasons, pooled), table and diagram."""

from evsynth.common.io import step
from evsynth.answer.run import run_tabulate_flow

with step(snakemake.log[0]):
    run_tabulate_flow(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
