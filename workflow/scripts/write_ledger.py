"""write_ledger: one row per input row with its status and the reasons it carries; quotes checked per study."""

import pandas as pd

from evsynth.common.io import step, write_csv
from evsynth.ingest.ledger import build_ledger, quote_checks

with step(snakemake.log[0]):
    parts = [pd.read_csv(path) for path in snakemake.input]
    ledger = build_ledger(parts)
    write_csv(ledger, snakemake.output.ledger)
    write_csv(quote_checks(ledger), snakemake.output.quote_checks)
