"""write_ledger: one row per input row with its status and the reasons it carries."""

import pandas as pd

from evsynth.common.io import step, write_csv
from evsynth.ingest.ledger import build_ledger

with step(snakemake.log[0]):
    parts = [pd.read_csv(path) for path in snakemake.input]
    write_csv(build_ledger(parts), snakemake.output[0])
