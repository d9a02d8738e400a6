"""The select rule: per study x group x quantity x timepoint, the one record row the synthesis uses, and why."""

from __future__ import annotations

from evsynth.common.io import load_saved_records, save_records, write_csv
from evsynth.ingest.records import Records
from evsynth.select.evidence import load_pins, select_evidence


def run_select_evidence(input, output, params, wildcards=None) -> None:
    """input: records, studies (validated), pins (reviewers' selection.yaml files); output: evidence
    (evidence.csv), tables and studies (the selected records, Parquet and JSON); params: preference (source
    kinds in order), cumulative_measures."""
    records = load_saved_records(input.records, input.studies)
    pins = load_pins("", list(input.pins))
    evidence, selected = select_evidence(records.tables, records.studies, params.preference,
                                         params.cumulative_measures, pins)
    write_csv(evidence, output.evidence)
    save_records(Records(studies=records.studies, tables=selected), output.tables, output.studies)
