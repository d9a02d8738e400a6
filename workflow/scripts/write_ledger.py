"""write_ledger: one row per input row with its status and the reasons it carries; quotes checked per study."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.report.run import run_write_ledger

with step(snakemake.log[0]):
    run_write_ledger(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
