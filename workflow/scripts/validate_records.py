"""validate_records: read and check every study record; write typed intermediates and the ledger."""

from evsynth.common.io import save_records, step, write_csv
from evsynth.ingest.records import load_records, report_warnings

with step(snakemake.log[0]):
    dirs = snakemake.params.dirs
    records = load_records(dirs["studies"], dirs["vocabulary"], dirs["sources"], root=".", tools_path=dirs["tools"])
    report_warnings(records)
    save_records(records, snakemake.output.tables, snakemake.output.studies)
    write_csv(records.ledger, snakemake.output.ledger)
