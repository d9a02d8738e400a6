"""harmonize_doses: read every dose_text into cells and cells/kg; totals per group; weight conflicts."""

from evsynth.common.io import load_saved_records, step, write_csv
from evsynth.steps import dose_step

with step(snakemake.log[0]):
    records = load_saved_records(snakemake.input.records, snakemake.input.studies)
    selected = load_saved_records(snakemake.input.selected, snakemake.input.studies)
    out = dose_step(records.tables, selected.tables["interventions"])
    for name in ("doses", "cumulative", "conflicts", "ledger"):
        write_csv(out[name], snakemake.output[name])
