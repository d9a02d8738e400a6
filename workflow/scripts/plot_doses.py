"""plot_doses: dose per kg by study and route."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.report.run import run_plot_doses

with step(snakemake.log[0]):
    run_plot_doses(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
