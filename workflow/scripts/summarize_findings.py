"""summarize_findings: one row per outcome and population, with GRADE certainty (CSV, Markdown, workbook)."""

from evsynth.common.warm import hand_over

hand_over(snakemake, __file__)  # a local run: the run's warm worker runs this job (evsynth.common.warm)

from evsynth.answer.run import run_summarize_findings
from evsynth.common.io import step

with step(snakemake.log[0]):
    run_summarize_findings(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
