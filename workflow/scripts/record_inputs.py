"""record_inputs: a digest of every input of the run (study folders, vocabulary, source texts, config parts)."""

from evsynth.common.io import step
from evsynth.report.run import run_record_inputs

with step(snakemake.log[0]):
    run_record_inputs(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)
