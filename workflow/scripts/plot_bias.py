"""plot_bias: the robvis plots (traffic light and summary bars per tool) of the bias checklist."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.appraise.run import run_plot_bias

with step(snakemake.log[0]):
    run_plot_bias(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
