"""compare_runs: what changed since the run in config compare_to (estimates, certainty, discrepancies) and why."""

from pathlib import Path

import pandas as pd

from evsynth.common.io import step
from evsynth.report.changes import compare_runs, write_changes

with step(snakemake.log[0]):
    current = {Path(path).name: path for key, path in snakemake.input.items() if key != "manifest"}
    manifest = pd.read_csv(snakemake.input.manifest, dtype=str)
    table = compare_runs(snakemake.params.previous, current, manifest)
    write_changes(table, snakemake.output.csv, snakemake.output.md, snakemake.params.previous)
