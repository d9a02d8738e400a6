"""tabulate_flow: the flow of records (read, validated, selected, excluded with reasons, pooled), table and diagram."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.answer.run import run_tabulate_flow

with step(snakemake.log[0]):
    run_tabulate_flow(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
