"""tabulate_flow: the flow of records (read, validated, selected, excluded with reasons, pooled), table and diagram."""

from evsynth.answer.flow import run_tabulate_flow
from evsynth.common.io import step

with step(snakemake.log[0]):
    run_tabulate_flow(snakemake.input, snakemake.output)
