"""build_evidence_page: results/index.html, the question, the one-screen answer and the evidence behind it."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.common.io import step
from evsynth.answer.run import run_build_evidence_page

with step(snakemake.log[0]):
    run_build_evidence_page(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
