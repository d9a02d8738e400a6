"""validate_records: read and check every study record; write typed intermediates and the ledger."""

from evsynth.io import save_records, step, write_csv
from evsynth.records import load_records

with step(snakemake.log[0]):
    p = snakemake.params
    records = load_records(
        p.studies_dir, p.vocabulary_dir, p.sources_dir if p.check_quotes else None, root="."
    )
    save_records(records, snakemake.output.tables, snakemake.output.studies)
    write_csv(records.ledger, snakemake.output.ledger)
