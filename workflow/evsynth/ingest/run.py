"""The ingest rule: every study folder read and validated into typed tables, with the ledger of its rows."""

from __future__ import annotations

from evsynth.common.io import save_records, write_csv
from evsynth.ingest.records import load_records, report_warnings


def run_validate_records(input, output, params, wildcards=None) -> None:
    """params.dirs: studies, vocabulary, sources (None: quotes not checked against sources), tools (tools.yaml,
    which reviewers' appraisal.yaml files are checked against); output: tables (one Parquet per record table),
    studies (JSON), ledger (the validation's part of ledger.csv). Warnings go to the log."""
    dirs = params.dirs
    records = load_records(dirs["studies"], dirs["vocabulary"], dirs["sources"], root=".", tools_path=dirs["tools"])
    report_warnings(records)
    save_records(records, output.tables, output.studies)
    write_csv(records.ledger, output.ledger)
