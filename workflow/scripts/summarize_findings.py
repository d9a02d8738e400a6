"""summarize_findings: one row per outcome and population, with GRADE certainty (CSV, Markdown, workbook)."""

from evsynth.answer.sof import run_summarize_findings
from evsynth.common.io import step

with step(snakemake.log[0]):
    overrides = list(snakemake.input.overrides)
    run_summarize_findings(snakemake.input, snakemake.output, snakemake.params.settings,
                           overrides[0] if overrides else None, snakemake.params.analyses)
