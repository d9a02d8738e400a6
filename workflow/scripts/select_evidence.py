"""select_evidence: per study x group x quantity x timepoint, the record row the synthesis uses, and why."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.select.run import run_select_evidence

with step(snakemake.log[0]):
    run_select_evidence(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
