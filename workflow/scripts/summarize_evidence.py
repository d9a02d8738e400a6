"""summarize_evidence: descriptive summaries by population, condition, cell source, donor, route; pediatric cases."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.describe.run import run_summarize_evidence

with step(snakemake.log[0]):
    run_summarize_evidence(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
