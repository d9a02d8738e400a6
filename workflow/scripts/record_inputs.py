"""record_inputs: a digest of every input of the run (study folders, vocabulary, source texts, config parts)."""

from evsynth.common.io import step, write_csv
from evsynth.report.changes import input_manifest

with step(snakemake.log[0]):
    dirs = snakemake.params.dirs
    write_csv(input_manifest(dirs["studies"], dirs["vocabulary"], dirs["sources"], snakemake.params.config),
              snakemake.output[0])
