"""plot_doses: dose per kg by study and route."""

from evsynth.common.io import step
from evsynth.steps import dose_plot_step

with step(snakemake.log[0]):
    dose_plot_step(snakemake.input, list(snakemake.output))
